"""``--on-trial-end`` / ``on_trial_end:`` and ``Study(callbacks=[...])`` (issue 16 part 10). Real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hposweep import Study
from hposweep.core.space import SearchSpace
from hposweep.core.trial import Trial

TRAIN = """
    import os, sys
    n = int(os.environ["HPOSWEEP_TRIAL"])
    print(f"loss={0.5 + n}")
    sys.exit(1 if n == 1 else 0)
"""


def sweep(tmp_path: Path, *extra: str, space_extra: str = "", trials: int = 2) -> subprocess.CompletedProcess:
    # sampler: random -- the hooks do not depend on it; the default (gp) costs ~0.8 s of scipy imports
    (tmp_path / "space.yaml").write_text("metric: loss\nsampler: random\n" + space_extra +
                                         "parameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    return subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", str(trials),
                           "--no-progress", "--seed", "0", "-c", "st.json", *extra, "--", sys.executable, "train.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)


HOOK = """
    import json, os, sys
    row = json.load(sys.stdin)
    with open("hook.jsonl", "a") as f:
        f.write(json.dumps({"argv": sys.argv[1:], "row": row, "pgid": os.getpgid(0), "sid": os.getsid(0)}) + "\\n")
"""


def test_on_trial_end_gets_each_trials_row_on_stdin_and_quoted_placeholders(tmp_path: Path) -> None:
    (tmp_path / "hook.py").write_text(textwrap.dedent(HOOK))
    r = sweep(tmp_path, "--max-failures", "0", "--on-trial-end",
              f"{sys.executable} hook.py {{trial}} {{state}} {{value}} 'a b'")
    assert r.returncode == 0, r.stderr
    calls = [json.loads(line) for line in (tmp_path / "hook.jsonl").read_text().splitlines()]
    assert [c["argv"] for c in calls] == [["0", "complete", "0.5", "a b"], ["1", "failed", "", "a b"]]
    assert [c["row"]["number"] for c in calls] == [0, 1] and calls[0]["row"]["state"] == "complete"
    assert all(c["sid"] == c["pgid"] != os.getsid(0) for c in calls)  # its own session, not a trial's group
    assert Study.load(tmp_path / "st.json", readonly=True).settings["on_trial_end"].startswith(sys.executable)


def test_a_failing_or_hanging_hook_is_a_warning_never_a_failed_trial(tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = sweep(tmp_path, "--on-trial-end", "sleep 30", "--on-trial-end-timeout", "1", trials=1)
    assert r.returncode == 0, r.stderr
    assert "the --on-trial-end command failed (it ran past its 1s limit and was killed)" in r.stderr
    assert time.monotonic() - t0 < 25
    (t,) = Study.load(tmp_path / "st.json", readonly=True).trials
    assert t.state.value == "complete"


def test_on_trial_end_in_the_space_file_runs_and_its_failure_is_a_warning(tmp_path: Path) -> None:
    r = sweep(tmp_path, space_extra="on_trial_end: 'echo {state} $(echo pwned) >> out.txt; exit 3'\n", trials=1)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.txt").read_text() == "complete pwned\n"  # the user's own $(...) runs; values are words
    assert "failed (exit code 3)" in r.stderr


def test_study_callbacks_are_called_after_each_tell() -> None:
    seen: list[tuple[int, str]] = []

    def note(study: Study, trial: Trial) -> None:
        assert study.trials[trial.number].state is trial.state
        seen.append((trial.number, trial.state.value))

    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}}), sampler="random",
                  seed=0, callbacks=[note])
    study.tell(study.ask(), 0.5)
    study.tell(study.ask(), state="failed")
    assert seen == [(0, "complete"), (1, "failed")]


def test_a_slow_hook_does_not_hold_up_other_trials_and_every_hook_runs_before_exit(tmp_path: Path) -> None:
    # each hook takes 2 s; run inline, they would hold the loop 2 s per trial, so trials 2 and 3 would
    # start at least 2 s after trials 0 and 1 ended
    (tmp_path / "hook.py").write_text("import sys, time\ntime.sleep(2)\n"
                                      "open(f'hook-{sys.argv[1]}.done', 'w').write(sys.stdin.read())\n")
    (tmp_path / "space.yaml").write_text("metric: loss\nsampler: random\n"  # the default gp costs ~0.8 s of imports
                                         "parameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    (tmp_path / "quick.py").write_text("import time\ntime.sleep(0.3)\nprint('loss=1')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "4",
                        "--jobs", "2", "--no-progress", "--seed", "0", "-c", "st.json",
                        "--on-trial-end", f"{sys.executable} hook.py {{trial}}", "--", sys.executable, "quick.py"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    trials = Study.load(tmp_path / "st.json", readonly=True).trials
    assert [t.state.value for t in trials] == ["complete"] * 4
    starts = sorted(float(t.started_at or 0.0) for t in trials)
    first_end = min(float(t.finished_at or 0.0) for t in trials)
    assert starts[-1] - first_end < 1.5, "the last trial waited for a hook"
    for t in trials:  # every hook ran to its end before `hposweep run` exited, with its own row
        assert json.loads((tmp_path / f"hook-{t.number}.done").read_text())["number"] == t.number
    assert "failed" not in r.stderr


def test_hook_queue_keeps_order_with_one_worker_and_reports_failures(tmp_path: Path) -> None:
    from hposweep.core.trial import TrialState
    from hposweep.execution.hooks import HookQueue

    q = HookQueue("echo {trial} >> order.txt; test {trial} != 2", cwd=str(tmp_path), timeout=10, workers=1)
    for n in range(5):
        q.submit(Trial(number=n, state=TrialState.COMPLETE, params={}, values=[float(n)]), {"number": n})
    q.close()
    assert (tmp_path / "order.txt").read_text().split() == ["0", "1", "2", "3", "4"]
    assert q.warnings() == ["warning: trial 2: the --on-trial-end command failed (exit code 1); the sweep goes on"]
