#!/usr/bin/env python3
"""Headless Chromium for the dashboard: start it, wait for a page's figures, take a screenshot.

Used by tests/test_dashboard_browser.py (which drives the pages through it), and on its own to refresh
README's picture: it runs a small real sweep in a temporary folder, serves it with `hposweep dashboard`
and writes the study page to docs/dashboard.png:

    python scripts/screenshot_dashboard.py [-o docs/dashboard.png]

Needs selenium and Debian's chromium + chromium-driver (apt-get install -y chromium chromium-driver).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("HPOSWEEP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("HPOSWEEP_CHROMEDRIVER") or shutil.which("chromedriver")
#: a plotly figure that has drawn: its div holds plotly's SVG
DRAWN = "div.js-plotly-plot svg.main-svg"


def start_browser(width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium under chromedriver; raises RuntimeError saying why when it cannot start."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise RuntimeError(f"selenium is not installed ({exc}); pip install selenium") from None
    if not CHROMIUM or not CHROMEDRIVER:
        raise RuntimeError("no chromium/chromedriver on PATH (apt-get install -y chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--force-device-scale-factor=1", "--hide-scrollbars"):
        opts.add_argument(arg)
    try:
        return webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    except Exception as exc:  # selenium raises many kinds; all mean "no browser here"
        raise RuntimeError(f"headless chromium did not start: {type(exc).__name__}: {exc}".splitlines()[0]) from None


def wait_for(driver: Any, css: str, count: int = 1, timeout: float = 20.0) -> list[Any]:
    """At least ``count`` elements matching ``css`` (polled every 50 ms), or TimeoutError."""
    from selenium.webdriver.common.by import By

    end = time.monotonic() + timeout
    while True:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        if len(found) >= count:
            return list(found)
        if time.monotonic() > end:
            raise TimeoutError(f"{css!r}: {len(found)} of {count} after {timeout:g}s")
        time.sleep(0.05)


def screenshot(driver: Any, url: str, out: str, *, figures: int = 4) -> None:
    """Open ``url``, wait until ``figures`` figures drew, and save the viewport as a PNG at ``out``."""
    driver.get(url)
    wait_for(driver, DRAWN, figures)
    time.sleep(0.5)  # let plotly finish its transitions
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    driver.save_screenshot(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TRAIN = """\
import sys, time
a = dict(x.lstrip("-").split("=", 1) for x in sys.argv[1:])
lr, width, opt = float(a["lr"]), int(a["width"]), a["optimizer"]
loss = 1.0
for epoch in range(8):
    loss = (abs(__import__("math").log10(lr) + 2.5) * 0.3 + 40.0 / width
            + (0.15 if opt == "sgd" else 0.0)) * (1 + 2.0 / (epoch + 1))
    print(f"epoch={epoch} val_loss={loss:.5f} val_acc={1 / (1 + loss):.4f}", flush=True)
    time.sleep(0.01)
"""
SPACE = """\
parameters:
  lr: {type: float, low: 0.00001, high: 0.1, log: true}
  width: {type: int, low: 16, high: 256}
  optimizer: {type: categorical, choices: [adam, sgd]}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default=os.path.join(ROOT, "docs", "dashboard.png"))
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "train.py"), "w") as fh:
            fh.write(TRAIN)
        with open(os.path.join(tmp, "space.yaml"), "w") as fh:
            fh.write(SPACE)
        subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "30", "-j", "3",
                        "--metric", "val_loss", "--pruner", "median", "--checkpoint", "sweep.json", "--no-progress",
                        "-q",
                        "--", sys.executable, "train.py"], cwd=tmp, env=env, check=False, capture_output=True)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "hposweep", "dashboard", tmp, "--port", str(port)], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/api/studies", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            import json

            sid = json.loads(urllib.request.urlopen(base + "/api/studies").read())["studies"][0]["id"]
            driver = start_browser(1400, 1800)
            try:
                screenshot(driver, f"{base}/study/{sid}", args.output)
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait(10)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
