"""``--retries N`` (issue 16 part 2): a trial that fails on its own runs again as attempts of the same trial number.
Real ``hposweep run`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hposweep import Study
from hposweep.core.trial import TrialState

# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"
# fails (exit 3) the first two times it runs for a trial; a counter file per trial number
FLAKY = """
    import os, sys
    n = os.environ["HPOSWEEP_TRIAL"]
    path = f"runs-{n}"
    k = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(k))
    print(f"attempt {k}")
    if k <= 2:
        sys.exit(3)
    print("loss=0.25")
"""


def sweep(tmp_path: Path, code: str, *extra: str, trials: int = 1) -> subprocess.CompletedProcess:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    return subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", str(trials),
                           "--no-progress", "--seed", "0", "-c", "st.json", *extra, "--", sys.executable, "train.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)


def test_a_flaky_trial_succeeds_on_its_third_attempt_as_the_same_trial(tmp_path: Path) -> None:
    r = sweep(tmp_path, FLAKY, "--retries", "2", trials=2)
    assert r.returncode == 0, r.stderr
    study = Study.load(tmp_path / "st.json", readonly=True)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    t = study.trials[0]
    assert t.value == 0.25 and "reason" not in t.info
    assert [(a["attempt"], a["state"], a["exit_code"]) for a in t.info["attempts"]] == [
        (1, "failed", 3), (2, "failed", 3), (3, "complete", 0)]
    assert t.info["attempts"][0]["reason"] == "command failed (exit code 3)"
    assert (tmp_path / t.info["attempts"][0]["log"]).read_text() == "attempt 1\n"
    assert (tmp_path / t.info["log"]).read_text().startswith("attempt 3")
    assert "running it again (attempt 2 of 3, --retries)" in r.stderr
    assert study.settings["retries"] == 2


def test_retries_run_out_and_the_trial_ends_as_its_last_attempt(tmp_path: Path) -> None:
    r = sweep(tmp_path, FLAKY, "--retries", "1", "--max-failures", "0")
    assert r.returncode == 1, r.stderr
    (t,) = Study.load(tmp_path / "st.json", readonly=True).trials
    assert t.state is TrialState.FAILED and t.info["reason"] == "command failed (exit code 3)"
    assert [a["attempt"] for a in t.info["attempts"]] == [1, 2]


def test_a_missing_objective_is_not_retried(tmp_path: Path) -> None:
    r = sweep(tmp_path, "print('acc=0.5')\nopen('ran', 'a').write('x')\n", "--retries", "3")
    assert r.returncode == 2, r.stderr
    assert (tmp_path / "ran").read_text() == "x"


def test_resume_command_replaces_the_command_for_the_trials_still_to_run(tmp_path: Path) -> None:
    r = sweep(tmp_path, "print('loss=1')\n", trials=1)
    assert r.returncode == 0, r.stderr
    (tmp_path / "new.py").write_text("print('loss=0.5')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    r = subprocess.run([sys.executable, "-m", "hposweep", "resume", "st.json", "--trials", "2", "--no-progress",
                        "--", sys.executable, "new.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=90)
    assert r.returncode == 0, r.stderr
    assert f"command: {sys.executable} new.py from trial 1 on" in r.stderr
    study = Study.load(tmp_path / "st.json", readonly=True)
    assert [t.value for t in study.trials] == [1.0, 0.5]
    assert study.trials[0].info["argv"][1] == "train.py" and study.trials[1].info["argv"][1] == "new.py"
    assert study.settings["command"][1] == "new.py"
    (change,) = study.meta["command_changes"]
    assert change["from"][1] == "train.py" and change["to"][1] == "new.py" and change["from_trial"] == 1
    shown = subprocess.run([sys.executable, "-m", "hposweep", "show", "st.json", "1"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert "new.py" in shown.stdout, shown.stdout + shown.stderr
