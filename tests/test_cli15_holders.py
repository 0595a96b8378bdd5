"""Issue 15 item 2 and issue 14 item 3, the CLI side: a study that a live process runs is not replaced
(``run --force``) or continued (``resume``) behind its back, a take-over stops the old worker before it
writes, and the trials of a killed sweep read as stale, not as running. Real ``python -m hposweep``
processes throughout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

# Sleeps SLEEP seconds (the parent's environment), then reports; its pid goes to pids/ for the clean-up.
SLOW = textwrap.dedent(
    """
    import json, os, sys, time
    os.makedirs('pids', exist_ok=True)
    open(os.path.join('pids', str(os.getpid())), 'w').close()
    print('started', flush=True)
    time.sleep(float(os.environ.get('SLEEP', '0')))
    print(json.dumps({'loss': 1.0}), flush=True)
    """
)
FAST = "import json\nprint(json.dumps({'loss': 0.5}))\n"
# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"


@pytest.fixture
def proj(tmp_path: Path):
    (tmp_path / "slow.py").write_text(SLOW)
    (tmp_path / "fast.py").write_text(FAST)
    (tmp_path / "space.yaml").write_text(SPACE)
    procs: list[subprocess.Popen] = []
    yield tmp_path, procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    for f in (tmp_path / "pids").glob("*") if (tmp_path / "pids").exists() else []:
        try:
            os.kill(int(f.name), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def env(**extra: str) -> dict[str, str]:
    full = dict(os.environ)
    full.pop("CI", None)
    full.update(extra)
    return full


def hp(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(HPOSWEEP + list(args), cwd=cwd, env=env(**extra), capture_output=True, text=True,
                          timeout=120)


def start(cwd: Path, procs: list, *args: str, **extra: str) -> subprocess.Popen:
    p = subprocess.Popen(HPOSWEEP + list(args), cwd=cwd, env=env(**extra), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p


def wait_running(cwd: Path, timeout: float = 60) -> None:
    """Until the slow trial has started (its pid file exists)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (cwd / "pids").exists() and any((cwd / "pids").iterdir()):
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise AssertionError("the slow trial never started")


def study_bytes(cwd: Path, name: str = "s.json") -> bytes:
    journal = cwd / (name + ".journal")
    return (cwd / name).read_bytes() + (journal.read_bytes() if journal.exists() else b"")


def test_run_force_refuses_a_live_worker_and_takeover_stops_it(proj) -> None:
    cwd, procs = proj
    assert hp(cwd, "create", "-s", "space.yaml", "-n", "3", "-c", "s.json", "--", "python", "slow.py").returncode == 0
    worker = start(cwd, procs, "worker", "s.json", "--no-progress", SLEEP="60")
    wait_running(cwd)

    refused = hp(cwd, "run", "-s", "space.yaml", "-n", "2", "-c", "s.json", "--force", "--no-progress",
                 "--", "python", "fast.py")
    assert refused.returncode == 2, refused.stderr
    assert f"host {socket.gethostname()}" in refused.stderr or f"host {os.uname().nodename}" in refused.stderr
    assert f"pid {worker.pid}" in refused.stderr and "last heartbeat" in refused.stderr
    assert "--takeover" in refused.stderr
    assert not list(cwd.glob("s.json.bak-*")), "a refused --force moved nothing"

    took = hp(cwd, "run", "-s", "space.yaml", "-n", "2", "-c", "s.json", "--force", "--takeover", "--no-progress",
              "--", "python", "fast.py")
    assert took.returncode == 0, took.stderr
    assert "took over s.json" in took.stderr
    worker.wait(timeout=30)
    assert worker.returncode == 2, worker.stderr.read()  # it has exited: it can write nothing more
    new = study_bytes(cwd)
    assert b"slow.py" not in new, "the new study holds nothing of the old command"
    trials = json.loads(hp(cwd, "trials", "s.json", "--format", "json").stdout)
    assert [t["state"] for t in trials] == ["complete", "complete"]


def test_resume_refuses_a_study_a_live_worker_runs(proj) -> None:
    cwd, procs = proj
    assert hp(cwd, "create", "-s", "space.yaml", "-n", "2", "-c", "s.json", "--", "python", "slow.py").returncode == 0
    worker = start(cwd, procs, "worker", "s.json", "--no-progress", SLEEP="60")
    wait_running(cwd)
    refused = hp(cwd, "resume", "s.json", "--no-progress")
    assert refused.returncode == 2, refused.stderr
    assert f"pid {worker.pid}" in refused.stderr and "last heartbeat" in refused.stderr
    assert "hposweep worker s.json" in refused.stderr and "--takeover" in refused.stderr
    assert worker.poll() is None and b'"state":"interrupted"' not in study_bytes(cwd)

    took = hp(cwd, "resume", "s.json", "--takeover", "--no-progress", SLEEP="0")
    assert took.returncode == 0, took.stderr
    worker.wait(timeout=30)
    assert worker.returncode == 2
    trials = json.loads(hp(cwd, "trials", "s.json", "--format", "json").stdout)
    assert trials[0]["state"] == "interrupted" and [t["state"] for t in trials[1:]] == ["complete", "complete"]


def test_a_killed_sweep_reads_stale_and_resumes_at_once(proj) -> None:
    cwd, procs = proj
    runner = start(cwd, procs, "run", "-s", "space.yaml", "-n", "2", "-c", "s.json", "--no-progress",
                   "--", "python", "slow.py", SLEEP="60")
    wait_running(cwd)
    runner.send_signal(signal.SIGKILL)
    runner.wait()

    table = hp(cwd, "trials", "s.json")
    assert "running (stale, last heartbeat" in table.stdout, table.stdout
    show = hp(cwd, "show", "s.json", "0")
    assert "running (stale, last heartbeat" in show.stdout, show.stdout
    # Its process on this host is gone: resume does not wait for the lease to expire.
    resumed = hp(cwd, "resume", "s.json", "--no-progress", SLEEP="0")
    assert resumed.returncode == 0, resumed.stderr


def test_stale_trial_of_another_host_says_how_long_ago(proj, tmp_path: Path) -> None:
    cwd, _ = proj
    from hposweep.study.storage import encode_snapshot, read_checkpoint

    assert hp(cwd, "run", "-s", "space.yaml", "-n", "1", "-c", "s.json", "--no-progress",
              "--", "python", "fast.py").returncode == 0
    state = read_checkpoint(str(cwd / "s.json")).state
    t = state["trials"][0]
    t["state"] = "running"
    t["values"] = None
    t["finished_at"] = None
    t["info"].update(worker="elsewhere:4242", heartbeat=time.time() - 245)
    (cwd / "s.json").write_bytes(encode_snapshot(state))

    table = hp(cwd, "trials", "s.json")
    assert "running (stale, last heartbeat 4 min ago)" in table.stdout, table.stdout
    # A fresh heartbeat from another host: alive, so resume refuses and says who.
    t["info"]["heartbeat"] = time.time()
    (cwd / "s.json").write_bytes(encode_snapshot(state))
    assert "stale" not in hp(cwd, "trials", "s.json").stdout
    refused = hp(cwd, "resume", "s.json")
    assert refused.returncode == 2 and "host elsewhere, pid 4242" in refused.stderr, refused.stderr
