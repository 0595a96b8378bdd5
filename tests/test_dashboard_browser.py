"""The dashboard in a real browser: headless Chromium (Debian's, under its chromedriver) driven by selenium.

What runs for real: `hposweep dashboard` as a subprocess on 127.0.0.1; Chromium loading its pages and
plotly.js from it; a second Python process writing the study through the Study API (as a worker does)
while the page is open, and running a real child process that the stop button ends. Skipped, with the
reason, only when the browser cannot be started here.

Set HPOSWEEP_DASHBOARD_SCREENSHOT=path to keep the study page's screenshot (README's picture is made by
scripts/screenshot_dashboard.py, from a real sweep, with the same code).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_dashboard import ROOT, Server, env, make_study, needs_extra

from hposweep.study.api import Study

pytestmark = [needs_extra, pytest.mark.slow]

_spec = importlib.util.spec_from_file_location("screenshot_dashboard", ROOT / "scripts" / "screenshot_dashboard.py")
assert _spec is not None and _spec.loader is not None
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

#: a trial that finishes must show within this many seconds, without a reload
LIVE_WITHIN = 2.0

WRITER = r"""
import json, os, signal, subprocess, sys, time
from hposweep.study.api import Study

path, mode = sys.argv[1], sys.argv[2]
study = Study.load(path, recover=False)
t = study.ask(info={"worker": "writer:1", "slot": 7})
log = os.path.join(path[:-5] + ".logs", f"trial-{t.number:04d}.log")
study.update_info(t, log=log, cwd=os.getcwd(), argv=[sys.executable, "-c", "..."])
print(json.dumps({"asked": t.number}), flush=True)
if mode == "finish":
    sys.stdin.readline()
    study.report(t, 0, 0.5)
    study.tell(t, 0.0123)
    print(json.dumps({"told": time.time()}), flush=True)
    sys.stdin.readline()
    sys.exit(0)
# mode "stop": a real trial process in its own process group, ended the way a runner ends a pruned one
with open(log, "w") as fh:
    child = subprocess.Popen([sys.executable, "-u", "-c",
                              "import time\nfor i in range(10**6):\n print(f'epoch={i} loss={1/(i+1):.4f}')\n"
                              " time.sleep(0.1)"], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
print(json.dumps({"child": child.pid}), flush=True)
while True:
    time.sleep(0.2)
    study.refresh()
    if study.trials[t.number].info.get("stop_requested"):
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(10)
        study.tell(t, state="pruned", info={"reason": "stopped on request (dashboard)", "exit_code": child.returncode})
        print(json.dumps({"stopped": time.time()}), flush=True)
        break
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    try:
        drv = shots.start_browser(1400, 1000)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    make_study(folder / "sweep.json", n=14)
    make_study(folder / "other.json", n=8)
    return folder


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[Server]:
    srv = Server(str(folder), "--allow-write")
    yield srv
    srv.stop()


def server_folder(server: Server) -> Path:
    return Path(server.args[0])


def sid_of(server: Server, name: str) -> str:
    """The id the dashboard gives the study ``name`` in the server's folder (stable: a hash of its path)."""
    from hposweep.dashboard.catalog import study_id

    return study_id(str(server_folder(server) / name))


def writer(path: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode], env=env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def read(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the writer process ended early"
    return dict(json.loads(line))


def text_of(driver: Any, css: str) -> str:
    shots.wait_for(driver, css)
    return live_text(driver, css)


def live_text(driver: Any, css: str) -> str:
    """The element's text read inside the page in one step: the dashboard re-renders live parts (log tail,
    state, table) while a test reads them, so a selenium element handle can go stale between find and read."""
    return str(driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css))


def live_attrs(driver: Any, css: str, attr: str) -> list[str]:
    """One attribute of every element matching ``css``, read inside the page in one step (see live_text)."""
    return list(driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]));",
        css, attr))


def click(driver: Any, css: str, tries: int = 20) -> None:
    """Click the element matching ``css``, finding it again if a live re-render replaced it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(tries):
        try:
            shots.wait_for(driver, css)[0].click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError(f"{css!r} kept being replaced; could not click it")


def test_pages_load_and_every_figure_draws(driver: Any, server: Server, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(server.base + "/")
    shots.wait_for(driver, "tr[data-study]", 2)
    names = driver.execute_script(
        "return Array.from(document.querySelectorAll('tr[data-study] a')).map(a => a.innerText)")
    assert set(names) == {"sweep.json", "other.json"}

    sid = sid_of(server, "sweep.json")
    out = os.environ.get("HPOSWEEP_DASHBOARD_SCREENSHOT") or str(tmp_path / "study.png")
    shots.screenshot(driver, f"{server.base}/study/{sid}", out, figures=8)
    assert Path(out).stat().st_size > 20_000
    for sec in ("history", "importance", "slices", "parallel", "contours", "intermediate", "timeline"):
        shots.wait_for(driver, f"#sec-{sec} {shots.DRAWN}")
    assert len(shots.wait_for(driver, "#trials-table tbody tr", 14)) == 14
    # filters: by state, by text, by a range of a column
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "filter-state")).select_by_value("pruned")
    assert live_attrs(driver, "#trials-table tbody tr", "data-number") == ["3"]
    Select(driver.find_element(By.ID, "filter-state")).select_by_value("")
    driver.find_element(By.ID, "filter-text").send_keys("exit code 1")
    assert live_attrs(driver, "#trials-table tbody tr", "data-state") == ["failed"]
    driver.find_element(By.ID, "filter-text").clear()
    driver.find_element(By.ID, "filter-text").send_keys(" ")  # an input event with an empty-ish filter
    driver.find_element(By.ID, "filter-text").clear()
    Select(driver.find_element(By.ID, "filter-col")).select_by_visible_text("loss")
    driver.find_element(By.ID, "filter-max").send_keys("1.5")
    study = Study.load(server_folder(server) / "sweep.json", readonly=True)
    expected = sorted(str(t.number) for t in study.trials if t.value is not None and t.value <= 1.5)
    shown = sorted(live_attrs(driver, "#trials-table tbody tr", "data-number"))
    assert shown == expected and 0 < len(expected) < 14

    driver.get(f"{server.base}/study/{sid}/trial/0")
    assert text_of(driver, "#log-tail").splitlines()[-1].startswith("epoch=3 loss=")
    assert "HPOSWEEP_TRIAL=0" in text_of(driver, "#repro-shell")
    shots.wait_for(driver, f"#curves {shots.DRAWN}", 2)  # loss and acc

    other = sid_of(server, "other.json")
    driver.get(f"{server.base}/compare?ids={sid},{other}")
    shots.wait_for(driver, f"#compare-fig{shots.DRAWN[len('div.js-plotly-plot'):]}")
    names = driver.execute_script("return document.getElementById('compare-fig').data.map(t => t.name)")
    assert {"sweep.json", "other.json"} <= set(names)


def test_a_trial_that_finishes_appears_without_a_reload(driver: Any, server: Server) -> None:
    path = server_folder(server) / "sweep.json"
    driver.get(f"{server.base}/study/{sid_of(server, 'sweep.json')}")
    shots.wait_for(driver, "#trials-table tbody tr", 14)
    shots.wait_for(driver, f"#sec-history {shots.DRAWN}")
    driver.execute_script("window.__same_page = true")
    proc = writer(path, "finish")
    try:
        n = read(proc)["asked"]
        shots.wait_for(driver, f'#trials-table tr[data-number="{n}"][data-state="running"]', timeout=5)
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        told = read(proc)["told"]
        shots.wait_for(driver, f'#trials-table tr[data-number="{n}"][data-state="complete"]', timeout=5)
        seen = time.time()
        assert seen - told < LIVE_WITHIN, f"shown {seen - told:.2f}s after it finished"
        assert driver.execute_script("return window.__same_page") is True  # no reload happened
        # the history redraws too: the new point is in its data
        end = time.monotonic() + 5
        while time.monotonic() < end:
            xs = driver.execute_script(
                "var d = document.querySelector('#sec-history .js-plotly-plot'); "
                "return d && d.data ? [].concat.apply([], d.data.map(t => t.x)) : []")
            if n in xs:
                break
            time.sleep(0.1)
        assert n in xs
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(10)


def test_stop_button_stops_a_running_trial(driver: Any, server: Server) -> None:
    path = server_folder(server) / "other.json"
    proc = writer(path, "stop")
    child = 0
    try:
        n = read(proc)["asked"]
        child = read(proc)["child"]
        driver.get(f"{server.base}/study/{sid_of(server, 'other.json')}/trial/{n}")
        assert text_of(driver, "#trial-state") == "running"
        first = len(text_of(driver, "#log-tail").splitlines())
        driver.execute_script("window.__pre = document.getElementById('log-tail')")
        end = time.monotonic() + 5
        while len(live_text(driver, "#log-tail").splitlines()) <= first and time.monotonic() < end:
            time.sleep(0.1)
        assert len(live_text(driver, "#log-tail").splitlines()) > first  # the log tail is live
        # ... and updated in place: a reader scrolled up in it keeps their place
        assert driver.execute_script("return document.getElementById('log-tail') === window.__pre") is True
        click(driver, "#stop-trial")
        driver.switch_to.alert.accept()
        end = time.monotonic() + 8
        while live_text(driver, "#trial-state") != "pruned" and time.monotonic() < end:
            time.sleep(0.1)
        assert live_text(driver, "#trial-state") == "pruned"
        assert "stop requested at" in live_text(driver, "#stop-note")
        proc.wait(10)
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child:  # a failed assertion must not leave the trial process printing for ever
            try:
                os.killpg(child, 9)
            except ProcessLookupError:
                pass


def test_token_is_enforced_in_the_browser(driver: Any, folder: Path) -> None:
    srv = Server(str(folder), host="0.0.0.0")
    try:
        driver.delete_all_cookies()
        driver.get(srv.base + "/")
        assert "a token is needed" in driver.find_element("tag name", "body").text
        driver.get(f"{srv.base}/?token={srv.token}")  # the link printed at start: a cookie, then a clean URL
        shots.wait_for(driver, "tr[data-study]", 2)
        assert "token" not in driver.current_url
        driver.get(f"{srv.base}/study/{sid_of(srv, 'sweep.json')}")
        shots.wait_for(driver, f"#sec-history {shots.DRAWN}")
    finally:
        srv.stop()
        driver.delete_all_cookies()


def test_read_only_page_offers_no_writes(driver: Any, folder: Path) -> None:
    srv = Server(str(folder))
    try:
        driver.get(f"{srv.base}/study/{sid_of(srv, 'sweep.json')}")
        shots.wait_for(driver, "#trials-table tbody tr")
        assert driver.find_elements("id", "enqueue") == []
        status = driver.execute_async_script(
            "var done = arguments[0]; fetch(location.pathname.replace('/study/', '/api/study/') + '/enqueue', "
            "{method: 'POST', headers: {'content-type': 'application/json', 'x-hposweep-csrf': "
            "document.querySelector('meta[name=hposweep-csrf]').content}, body: '{\"params\": {\"x\": 1}}'})"
            ".then(r => done(r.status))")
        assert status == 403
    finally:
        srv.stop()


def test_infeasible_trials_are_drawn_apart_and_every_metric_has_its_history(driver: Any, tmp_path: Path) -> None:
    from test_figures17 import constrained_study

    _, bad = constrained_study(tmp_path / "constrained.json")
    srv = Server(str(tmp_path))
    try:
        from hposweep.dashboard.catalog import study_id

        driver.get(f"{srv.base}/study/{study_id(str(tmp_path / 'constrained.json'))}")
        for sec in ("history", "slices", "contours", "metrics"):
            shots.wait_for(driver, f"#sec-{sec} {shots.DRAWN}")
        drawn = driver.execute_script(
            "var d = document.querySelector('#sec-history .js-plotly-plot');"
            "var t = d.data.filter(t => t.name === 'infeasible')[0];"
            "var legend = Array.from(d.querySelectorAll('.legendtext')).map(e => e.textContent);"
            "var points = d.querySelectorAll('.scatterlayer .trace')[d.data.indexOf(t)].querySelectorAll('path.point');"
            "return {numbers: t.customdata, symbol: t.marker.symbol, legend: legend, points: points.length}")
        assert drawn["numbers"] == bad and drawn["symbol"] == "x"
        assert "infeasible" in drawn["legend"] and drawn["points"] == len(bad)  # drawn, not only in the data
        titles = driver.execute_script(
            "return Array.from(document.querySelectorAll('#sec-metrics .js-plotly-plot'))"
            ".map(d => d.layout.title.text)")
        assert sorted(titles) == ["History of acc", "History of mem"]
    finally:
        srv.stop()


def test_a_retried_failed_trial_reads_retried_as_with_a_link(driver: Any, tmp_path: Path) -> None:
    from test_retry_outputs import retried_study

    retried_study(tmp_path / "r.json")
    srv = Server(str(tmp_path))
    try:
        driver.get(f"{srv.base}/study/{sid_of(srv, 'r.json')}")
        shots.wait_for(driver, '#trials-table tr[data-number="1"]')
        assert live_text(driver, '#trials-table tr[data-number="1"] td:nth-child(2)') == "failed (retried as #4)"
        assert live_attrs(driver, '#trials-table tr[data-number="1"] td:nth-child(2) a', "href")[0].endswith(
            "/trial/4")
        assert live_attrs(driver, '#trials-table tr[data-number="1"]', "data-state") == ["failed"]  # filters see it
        driver.get(f"{srv.base}/study/{sid_of(srv, 'r.json')}/trial/1")
        shots.wait_for(driver, "#retried-as a")
        assert live_text(driver, "#retried-as").strip() == "retried as #4"
    finally:
        srv.stop()
