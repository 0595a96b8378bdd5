"""The dashboard without a browser: its rules as functions, and a real server process answering HTTP.

Every server here is `python -m hposweep dashboard` started as a subprocess on 127.0.0.1 and a free port;
requests are plain urllib ones, as curl or another site's page would send them. The browser checks are in
tests/test_dashboard_browser.py (and import the helpers below).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hposweep.core.space import SearchSpace
from hposweep.core.trial import Trial, TrialState
from hposweep.study.api import Study

ROOT = Path(__file__).resolve().parent.parent
HAS_EXTRA = all(__import__("importlib").util.find_spec(m) for m in ("starlette", "uvicorn", "plotly"))
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason='needs the extra: pip install "hposweep[dashboard]"')

SPACE = {"x": {"type": "float", "low": -5.0, "high": 5.0}, "opt": {"type": "categorical", "choices": ["a", "b"]}}


# --- helpers shared with the browser tests ----------------------------------------------------------------
def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`hposweep dashboard ARGS` on a free port, until stopped; ``stderr`` holds what it printed at start."""

    def __init__(self, *args: str, host: str = "127.0.0.1") -> None:
        self.args = args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "hposweep", "dashboard", *args, "--port", str(self.port),
                                      "--host", host], env=env(), stderr=subprocess.PIPE, text=True)
        self.stderr = ""
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.readline()  # the start line comes before uvicorn binds
        if "token" in self.stderr:
            self.stderr += self.proc.stderr.readline()
        end = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"the dashboard did not start: {self.stderr}") from None
                time.sleep(0.05)

    @property
    def token(self) -> str | None:
        m = re.search(r"token: (\S+)", self.stderr)
        return m.group(1) if m else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def request(url: str, *, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
            ) -> tuple[int, str, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "content-type" not in {k.lower() for k in (headers or {})}:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def make_study(path: Path, n: int = 12) -> Study:
    """A study written through the API: complete, pruned and failed trials, curves, a log in its logs folder."""
    study = Study(SearchSpace.from_dict(SPACE), "minimize", sampler="random", seed=1,
                  settings={"metrics": ["loss"], "trials": 20})
    study.save(path)
    logs = path.with_suffix(".logs")
    logs.mkdir()
    for k in range(n):
        t = study.ask(info={"worker": "host:1", "slot": k % 2})
        log = logs / f"trial-{t.number:04d}.log"
        lines = [f"epoch={s} loss={1.0 / (s + 1) + abs(t.params['x']):.4f} acc={s / 4:.2f}" for s in range(4)]
        log.write_text("\n".join(lines) + "\n")
        study.update_info(t, argv=["python", "train.py", f"--x={t.params['x']}"], cwd=str(path.parent),
                          log=str(log))
        for s in range(4):
            study.report(t, s, 1.0 / (s + 1) + abs(t.params["x"]))
        if k == 3:
            study.tell(t, state="pruned")
        elif k == 5:
            study.tell(t, state="failed", info={"reason": "command failed (exit code 1)"})
        else:
            study.tell(t, abs(t.params["x"]) + 0.25)
    return study


def study_id(base: str) -> str:
    status, body, _ = request(base + "/api/studies")
    assert status == 200, body
    return str(json.loads(body)["studies"][0]["id"])


def csrf_of(page_html: str) -> str:
    m = re.search(r'name="hposweep-csrf" content="([^"]+)"', page_html)
    assert m, "the page carries no CSRF token"
    return m.group(1)


# --- the rules, as functions --------------------------------------------------------------------------------
def test_loopback_and_host_parsing() -> None:
    from hposweep.dashboard import security

    assert security.is_loopback("127.0.0.1") and security.is_loopback("::1") and security.is_loopback("localhost")
    assert not security.is_loopback("0.0.0.0") and not security.is_loopback("10.1.2.3")
    assert security.host_name("127.0.0.1:8080") == "127.0.0.1"
    assert security.host_name("[::1]:80") == "::1"
    assert security.host_name("evil.example:80") == "evil.example"
    assert security.same_secret("abc", "abc") and not security.same_secret("abd", "abc")
    assert not security.same_secret(None, "abc") and not security.same_secret("", "abc")
    assert security.origin_ok({"host": "127.0.0.1:9"}, "http")
    assert security.origin_ok({"host": "127.0.0.1:9", "origin": "http://127.0.0.1:9"}, "http")
    assert not security.origin_ok({"host": "127.0.0.1:9", "origin": "http://evil.example"}, "http")


def test_token_sources_in_order() -> None:
    from hposweep.dashboard.security import token_from

    assert token_from({"authorization": "Bearer h"}, {"token": "q"}, {"hposweep_token": "c"}) == "h"
    assert token_from({"x-hposweep-token": "x"}, {}, {}) == "x"
    assert token_from({}, {"token": "q"}, {"hposweep_token": "c"}) == "q"
    assert token_from({}, {}, {"hposweep_token": "c"}) == "c"
    assert token_from({}, {}, {}) is None


def test_log_is_read_only_from_inside_the_studys_logs_folder(tmp_path: Path) -> None:
    from hposweep.dashboard.views import log_tail, safe_trial_file

    path = tmp_path / "sweep.json"
    study = make_study(path, n=1)
    t = study.trials[0]
    assert safe_trial_file(str(path), t) == os.path.realpath(t.info["log"])
    assert log_tail(str(path), t)[-1].startswith("epoch=3 ")  # type: ignore[index]
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    logs = tmp_path / "sweep.logs"
    (logs / "link.log").symlink_to(secret)
    for bad in (str(secret), str(logs / ".." / "secret.txt"), str(logs / "link.log"), "/etc/passwd", str(logs), ""):
        fake = Trial(number=0, params={}, info={"log": bad})
        assert safe_trial_file(str(path), fake) is None, bad
        assert log_tail(str(path), fake) is None


def test_catalog_reloads_only_when_the_files_change(tmp_path: Path) -> None:
    from hposweep.dashboard.catalog import Catalog

    path = tmp_path / "a.json"
    study = make_study(path, n=2)
    (tmp_path / "notes.json").write_text('{"not": "a study"}')
    cat = Catalog([str(tmp_path)])
    [entry] = cat.entries()
    first = entry.current()
    assert first is not None and len(first.trials) == 2
    assert entry.current() is first  # nothing changed: no new load
    version = entry.version()
    t = study.ask()
    study.tell(t, 0.5)
    assert entry.version() != version
    again = entry.current()
    assert again is not first and again is not None and len(again.trials) == 3
    assert cat.get(entry.id) is entry and cat.get("nope") is None


def test_eta_from_the_pace_of_finished_trials() -> None:
    from hposweep.dashboard.views import eta_seconds

    study = Study(SearchSpace.from_dict(SPACE), "minimize", sampler="random", seed=0, settings={"trials": 10})
    now = 1000.0
    for k in range(4):
        t = study.ask()
        study.tell(t, 1.0)
        study.trials[k].started_at, study.trials[k].finished_at = now - 100 + 10 * k, now - 90 + 10 * k
    assert eta_seconds(study, now) is None  # nothing running: a stopped sweep has no ETA
    running = study.ask()
    running.started_at = now - 4.0
    # 4 finished + 1 running of 10: the running one needs ~6 s more, then 5 trials one at a time of 10 s
    assert eta_seconds(study, now) == pytest.approx(6.0 + 50.0)


def test_timeline_has_one_row_per_worker_slot(tmp_path: Path) -> None:
    from hposweep.dashboard.figures import timeline_figure

    study = make_study(tmp_path / "s.json", n=4)
    fig = timeline_figure(study)
    assert fig is not None
    assert fig["layout"]["yaxis"]["categoryarray"] == ["host:1 slot 0", "host:1 slot 1"]
    bars = {n for tr in fig["data"] for n in tr["text"]}
    assert bars == {"0", "1", "2", "3"}


def test_missing_extra_is_a_clear_usage_error() -> None:
    code = ("import importlib.util as u, sys; real = u.find_spec; "
            "u.find_spec = lambda n, *a: None if n == 'uvicorn' else real(n, *a); "
            "sys.argv = ['hposweep', 'dashboard']; from hposweep.cli.app import main; main()")
    r = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert 'pip install "hposweep[dashboard]"' in r.stderr and "uvicorn" in r.stderr


# --- a real server ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dash")
    make_study(folder / "sweep.json")
    return folder


@pytest.fixture(scope="module")
def readonly(study_dir: Path) -> Iterator[Server]:
    server = Server(str(study_dir))
    yield server
    server.stop()


@needs_extra
def test_api_serves_the_study_in_the_row_schema(readonly: Server, study_dir: Path) -> None:
    from hposweep.study.rows import trial_columns

    sid = study_id(readonly.base)
    status, body, _ = request(f"{readonly.base}/api/study/{sid}/trials")
    assert status == 200
    data = json.loads(body)
    study = Study.load(study_dir / "sweep.json", readonly=True)
    assert data["columns"] == [c for c in trial_columns(study) if c not in ("started_at", "finished_at")]
    assert [r[1] for r in data["rows"]][:6] == ["complete", "complete", "complete", "pruned", "complete", "failed"]
    assert data["summary"]["counts"] == {"running": 0, "complete": 10, "pruned": 1, "failed": 1, "interrupted": 0}
    assert data["summary"]["best"]["trial"] == study.best_trial.number  # type: ignore[union-attr]

    status, body, _ = request(f"{readonly.base}/api/study/{sid}/figures")
    ids = [s["id"] for s in json.loads(body)["sections"]]
    assert ids[:2] == ["overview", "history"] and {"importance", "slices", "parallel", "contours", "intermediate",
                                                   "timeline"} <= set(ids)

    status, body, _ = request(f"{readonly.base}/api/study/{sid}/trial/0")
    trial = json.loads(body)
    assert trial["log"][-1].startswith("epoch=3 loss=")
    assert sorted(f["layout"]["title"]["text"] for f in trial["curves"]) == ["acc", "loss"]
    assert trial["reproduce"]["command"].startswith("python train.py --x=")
    assert trial["reproduce"]["env"]["HPOSWEEP_TRIAL"] == "0"


@needs_extra
def test_best_params_download_as_args_yaml_json(readonly: Server, study_dir: Path) -> None:
    sid = study_id(readonly.base)
    best = Study.load(study_dir / "sweep.json", readonly=True).best_trial
    assert best is not None
    status, body, headers = request(f"{readonly.base}/api/study/{sid}/params?trial=best&format=json")
    assert status == 200 and json.loads(body) == best.params
    assert headers["content-disposition"] == f'attachment; filename="trial-{best.number}-params.json"'
    _, body, _ = request(f"{readonly.base}/api/study/{sid}/params?trial=best&format=args")
    assert body == f"--x={best.params['x']!r} --opt={best.params['opt']}\n"
    _, body, _ = request(f"{readonly.base}/api/study/{sid}/params?trial=best&format=yaml")
    import yaml

    assert yaml.safe_load(body) == best.params


@needs_extra
def test_plotly_is_served_from_the_package(readonly: Server) -> None:
    import plotly

    status, body, _ = request(readonly.base + "/static/plotly.min.js")
    expected = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert status == 200 and body == expected.read_text(encoding="utf-8")
    status, page, _ = request(readonly.base + "/")
    assert status == 200 and not re.search(r"""(src|href)=["']https?://""", page)  # nothing from the network


@needs_extra
def test_read_only_refuses_every_write(readonly: Server, study_dir: Path) -> None:
    sid = study_id(readonly.base)
    _, page, _ = request(f"{readonly.base}/study/{sid}")
    csrf = csrf_of(page)
    for url, body in ((f"/api/study/{sid}/enqueue", {"params": {"x": 1.0}}),
                      (f"/api/study/{sid}/trial/0/note", {"text": "hi"}),
                      (f"/api/study/{sid}/trial/0/stop", {})):
        status, text, _ = request(readonly.base + url, method="POST", body=body, headers={"x-hposweep-csrf": csrf})
        assert status == 403 and "--allow-write" in text
        assert request(readonly.base + url)[0] == 405  # and never by GET
    study = Study.load(study_dir / "sweep.json", readonly=True)
    assert study.queue == [] and "notes" not in study.trials[0].info


@needs_extra
def test_loopback_server_refuses_foreign_host_headers(readonly: Server) -> None:
    assert request(readonly.base + "/api/studies", headers={"Host": "evil.example"})[0] == 403
    assert request(readonly.base + "/api/studies", headers={"Host": f"localhost:{readonly.port}"})[0] == 200


@needs_extra
def test_token_is_required_on_every_request_off_loopback(study_dir: Path) -> None:
    server = Server(str(study_dir), host="0.0.0.0")
    try:
        token = server.token
        assert token and len(token) >= 24 and f"?token={token}" in server.stderr
        for path in ("/", "/api/studies", "/static/dashboard.js", "/static/plotly.min.js", "/compare"):
            assert request(server.base + path)[0] == 401, path
            assert request(server.base + path, headers={"X-Hposweep-Token": "wrong"})[0] == 401, path
        assert request(server.base + "/api/studies", headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert request(server.base + f"/api/studies?token={token}")[0] == 200
        assert request(server.base + "/api/studies", headers={"Cookie": f"hposweep_token={token}"})[0] == 200
    finally:
        server.stop()


@needs_extra
def test_writes_go_through_the_journal_with_csrf(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    study = make_study(path, n=2)
    running = study.ask(info={"worker": "elsewhere:1"})
    server = Server(str(path), "--allow-write")
    try:
        sid = study_id(server.base)
        _, page, _ = request(f"{server.base}/study/{sid}")
        csrf = csrf_of(page)
        url = f"{server.base}/api/study/{sid}/enqueue"
        assert request(url, method="POST", body={"params": {"x": 1.5}})[0] == 403  # no CSRF header
        assert request(url, method="POST", body={"params": {"x": 1.5}}, headers={"x-hposweep-csrf": "guess"})[0] == 403
        foreign = {"x-hposweep-csrf": csrf, "Origin": "http://evil.example"}
        assert request(url, method="POST", body={"params": {"x": 1.5}}, headers=foreign)[0] == 403
        form = {"x-hposweep-csrf": csrf, "content-type": "text/plain"}
        assert request(url, method="POST", body={"params": {"x": 1.5}}, headers=form)[0] == 415
        ok = {"x-hposweep-csrf": csrf}
        status, text, _ = request(url, method="POST", body={"params": {"x": 9.5}}, headers=ok)
        assert status == 400 and "outside the space" in text
        assert request(url, method="POST", body={"params": {"x": 1.5}}, headers=ok)[0] == 200
        assert request(f"{server.base}/api/study/{sid}/trial/1/note", method="POST", body={"text": "looks odd"},
                       headers=ok)[0] == 200
        status, text, _ = request(f"{server.base}/api/study/{sid}/trial/0/stop", method="POST", body={}, headers=ok)
        assert status == 400 and "only a running trial" in text
        before = time.time()
        status, text, _ = request(f"{server.base}/api/study/{sid}/trial/{running.number}/stop", method="POST",
                                  body={}, headers=ok)
        assert status == 200
        after = Study.load(path, readonly=True)
        assert after.queue == [{"params": {"x": 1.5}, "source": "dashboard"}]
        assert [n["text"] for n in after.trials[1].info["notes"]] == ["looks odd"]
        t = after.trials[running.number]
        assert t.state is TrialState.RUNNING  # the dashboard records the request; the trial's runner acts on it
        assert t.info["stop_requested"] >= before
        assert t.info["stop_reason"] == "stop requested from the dashboard"
        study.refresh()  # the worker that owns the trial sees the request at its next sync
        assert study.trials[running.number].info["stop_requested"] == t.info["stop_requested"]
    finally:
        server.stop()
