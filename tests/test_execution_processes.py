"""Processes that leave the trial's group are stopped with it; leftovers of a SIGKILLed hposweep are stopped by resume.

Real processes, real signals (issue 15 items 10 and 11). Linux only: the subreaper and ``/proc`` are.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hposweep import Study
from hposweep.execution.executors.local import TrialProcess

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
LIMIT = 60


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for_file(path: Path, timeout: float = 20.0) -> str:
    end = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)
    time.sleep(0.1)
    return path.read_text()


ESCAPERS = """
    import os, subprocess, sys, time
    out = sys.argv[1]
    s = subprocess.Popen(["sleep", "1000"], start_new_session=True)          # setsid
    if os.fork() == 0:                                                       # double fork
        os.setsid()
        if os.fork() == 0:
            open(out + ".gc", "w").write(str(os.getpid()))
            time.sleep(1000)
        os._exit(0)
    while not os.path.exists(out + ".gc"):
        time.sleep(0.01)
    time.sleep(0.1)
    with open(out, "w") as fh:
        fh.write(f"{s.pid} {open(out + '.gc').read()}")
    time.sleep(1000)
"""


def test_terminate_stops_descendants_that_left_the_group(tmp_path: Path) -> None:
    out = tmp_path / "pids"
    proc = TrialProcess(grace=1.0)
    proc.start([sys.executable, "-c", textwrap.dedent(ESCAPERS), str(out)], log_path=tmp_path / "t.log")
    pids = [int(p) for p in wait_for_file(out).split()]
    time.sleep(0.6)  # one scan while they run
    assert len(pids) == 2 and all(alive(p) for p in pids)
    proc.terminate(1.0)
    assert proc.done
    end = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)]


def test_resume_stops_the_groups_a_killed_hposweep_left(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text("metric: loss\nsampler: random\n"  # the default gp costs ~0.8 s of imports
                                         "parameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    (tmp_path / "train.py").write_text(textwrap.dedent("""
        import os, subprocess, sys, time
        child = subprocess.Popen(["sleep", "1000"])
        if not os.path.exists("pids"):
            open("pids", "w").write(f"{os.getpid()} {child.pid}")
            time.sleep(1000)
        child.kill()
        print("loss=0.5")
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    run = subprocess.Popen([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "1",
                            "--no-progress", "--", sys.executable, "train.py"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    leader, child = map(int, wait_for_file(tmp_path / "pids").split())
    run.send_signal(signal.SIGKILL)
    run.wait(LIMIT)
    assert alive(leader) and alive(child)  # the trial's group outlived hposweep
    study = Study.load(tmp_path / "hposweep-study.json", readonly=True)
    record = study.trials[0].info["process"]
    assert record["pid"] == leader and record["pgid"] == leader and record["host"] == os.uname().nodename
    assert isinstance(record["start_time"], int)
    r = subprocess.run([sys.executable, "-m", "hposweep", "resume", "hposweep-study.json", "--no-progress"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=LIMIT)
    assert r.returncode == 0, r.stderr
    assert "trial 0: stopping 2 leftover processes of its previous run" in r.stderr
    assert not alive(leader) and not alive(child)
    study = Study.load(tmp_path / "hposweep-study.json", readonly=True)
    assert [t.state.value for t in study.trials] == ["interrupted", "complete"]
