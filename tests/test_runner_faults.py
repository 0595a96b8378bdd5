"""A trial's log or params file, or the checkpoint, that cannot be written ends the sweep with exit 2 and what and
where: never a traceback, never "internal error while finishing the trial" (issue 15 item 3).

Real ``hposweep run`` processes; a full disk is a small tmpfs mounted on the study's logs folder (root only).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hposweep import Study
from hposweep.core.space import SearchSpace
from hposweep.core.trial import TrialState

HPOSWEEP = [sys.executable, "-m", "hposweep"]
# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"


def start(tmp_path: Path, code: str, *extra: str, trials: int = 2) -> subprocess.Popen[str]:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    return subprocess.Popen(HPOSWEEP + ["run", "--space", "space.yaml", "--trials", str(trials), "--no-progress",
                                        "--seed", "0", "-c", "st.json", "--grace", "2", *extra, "--",
                                        sys.executable, "train.py"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def full_logs(tmp_path: Path) -> Iterator[Path]:
    """The study's trial folders on a 64 KiB tmpfs (each trial's log and params file are made there)."""
    logs = tmp_path / "st.trials"
    logs.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(logs)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield logs
    finally:
        subprocess.run(["umount", "-l", str(logs)], capture_output=True)


def assert_clean_exit_2(p: subprocess.Popen[str], *needles: str) -> str:
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_full_disk_under_the_trial_log_is_exit_2_and_the_trial_is_not_left_running(
        tmp_path: Path, full_logs: Path) -> None:
    p = start(tmp_path, """
        import os, time
        if os.environ["HPOSWEEP_TRIAL"] == "1":
            for i in range(400):
                print("x" * 1000, flush=True)
            time.sleep(30)
        print("loss=0.5")
    """, trials=3)
    assert_clean_exit_2(p, "cannot write st.trials/000001/hposweep.log: no space left")
    study = Study.load(tmp_path / "st.json", readonly=True)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.INTERRUPTED]
    assert study.queue  # its params come first on resume


def test_a_full_disk_for_the_params_file_is_exit_2_and_the_trial_is_queued_again(
        tmp_path: Path, full_logs: Path) -> None:
    subprocess.run(["dd", "if=/dev/zero", f"of={full_logs}/filler", "bs=4k", "count=64"], capture_output=True)
    p = start(tmp_path, "print('loss=1')\n")
    err = assert_clean_exit_2(p, "cannot write st.trials/000000/hposweep.params.json: no space left")
    # a full disk is not a configuration mistake: the study stays (its hint says the trials are safe), so
    # `resume` runs the queued trial once there is room, instead of a new sweep starting from nothing
    assert "removed st.json" not in err
    study = Study.load(tmp_path / "st.json", readonly=True)
    assert study.queue and not study.trials_in(TrialState.COMPLETE)


def test_a_study_replaced_while_a_trial_runs_stops_the_sweep_with_its_own_message(tmp_path: Path) -> None:
    p = start(tmp_path, """
        import time
        time.sleep(3)
        print("loss=0.5")
    """)
    path = tmp_path / "st.json"
    deadline = time.monotonic() + 30
    while not (path.exists() and Study.load(path, readonly=True).running_trials):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.1)
    for f in tmp_path.glob("st.json*"):
        f.unlink()
    other = Study(SearchSpace.from_dict({"y": {"type": "float", "low": 0.0, "high": 1.0}}))
    other.save(path)
    err = assert_clean_exit_2(p, "another study")
    assert "could not record" not in err
    again = Study.load(path, readonly=True)
    assert again.study_id == other.study_id and not again.trials  # nothing of the old sweep written into it
