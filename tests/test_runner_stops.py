"""Stops from outside the sweep: a stop request recorded in the study (the dashboard's "stop trial"), SIGTERM and
Ctrl-C to hposweep. Real ``hposweep run`` processes and real trial process groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hposweep import Study
from hposweep.core.trial import TrialState

HPOSWEEP = [sys.executable, "-m", "hposweep"]
# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"
SLOW = """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open("child-%s.pid" % os.environ["HPOSWEEP_TRIAL"], "w").write(str(child.pid))
    print("loss=0.7 step=1", flush=True)
    print("loss=0.4 step=2", flush=True)
    time.sleep(120)
    print("loss=0.1")
"""


def start(tmp_path: Path, code: str, *extra: str, trials: int = 1) -> subprocess.Popen[str]:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    return subprocess.Popen(HPOSWEEP + ["run", "--space", "space.yaml", "--trials", str(trials), "--no-progress",
                                        "--seed", "0", "-c", "st.json", "--lease", "4", *extra, "--",
                                        sys.executable, "train.py"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, p: subprocess.Popen[str], limit: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not cond():
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_stop_requested_through_the_study_prunes_the_running_trial_within_seconds(tmp_path: Path) -> None:
    p = start(tmp_path, SLOW, "--prune-grace", "2", trials=1)
    path = tmp_path / "st.json"
    wait_for(lambda: path.exists() and any(t.intermediate and len(t.intermediate) == 2
                                           for t in Study.load(path, readonly=True).trials), p)
    child = int((tmp_path / "child-0.pid").read_text())
    assert alive(child)
    study = Study.load(path, recover=False)  # another process, the Study API: what the dashboard's "stop" records
    with study.batch():
        study.update_info(0, stop_requested=time.time(), stop_reason="stop requested from the dashboard")
    study.close()
    t0 = time.monotonic()
    _, err = p.communicate(timeout=30)
    assert time.monotonic() - t0 < 8, err
    assert not alive(child), "the trial's process group outlived the stop"
    (t,) = Study.load(path, readonly=True).trials
    assert t.state is TrialState.PRUNED, err
    assert t.value == 0.4 and t.info["reason"] == "stopped on request (dashboard)"
    assert "stop requested from the dashboard: stopping it" in err
    assert not Study.load(path, readonly=True).queue  # not re-queued


def test_sigterm_says_sigterm_and_ctrl_c_says_ctrl_c(tmp_path: Path) -> None:
    for sig, want, unwanted in [(signal.SIGTERM, "stopping (SIGTERM): no new trials; running trials get SIGTERM and "
                                 "3s to exit (send SIGTERM again to kill them now)", "Ctrl-C"),
                                (signal.SIGINT, "(Ctrl-C again to kill them now)", "send SIGTERM again")]:
        folder = tmp_path / sig.name
        folder.mkdir()
        p = start(folder, SLOW, "--grace", "3")
        wait_for(lambda: (folder / "child-0.pid").exists(), p)  # noqa: B023
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 130, err
        assert want in err and unwanted not in err, err
