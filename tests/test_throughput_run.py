"""Issue 15 items 5 and 14: a trial printing a metric line per step, through `hposweep run`, and fractional steps.

* the journal grows by one event per polling round, never by one line per printed line;
* the trial's final value and every step's value are recorded exactly;
* a pruner sees the same curve at each step it decides on as with one report per step;
* ``report(step=1.5)`` keeps 1.5 through the journal, a reload and the pruners (it used to become 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hposweep.core.space import SearchSpace
from hposweep.core.trial import TrialState
from hposweep.pruners import make_pruner
from hposweep.study.api import Study

HPOSWEEP = [sys.executable, "-m", "hposweep"]

#: prints LINES lines, a new step each; waits until hposweep has read them; then counts the journal's lines
TRIAL = textwrap.dedent(
    """
    import os, sys, time
    n, style = int(os.environ["LINES"]), os.environ["STYLE"]
    w = sys.stdout.write
    for i in range(n):
        if style == "redraws":
            w("\\r%3d%%|####      | %d/%d [00:01<00:02, acc=0.%03d]" % (i * 100 // n, i, n, i % 1000))
        elif style == "json":
            w('{"step": %d, "loss": %r}\\n' % (i, 1.0 / (i + 1)))
        elif style == "fractional":
            w("epoch=%s loss=%r\\n" % (i / 2, 1.0 / (i + 1)))
        else:
            w("step=%d loss=%r\\n" % (i, 1.0 / (i + 1)))
    if style == "redraws":
        w("\\nloss=0.25\\n")
    sys.stdout.flush()
    time.sleep(1.0)  # hposweep reads the pipe meanwhile
    with open(os.environ["HPOSWEEP_STUDY"] + ".journal", "rb") as fh:
        lines = fh.read().count(b"\\n")
    with open(os.path.join(os.environ["HPOSWEEP_CWD"], "journal_lines"), "w") as fh:
        fh.write(str(lines))
    """
)


def run(tmp_path: Path, style: str, lines: int) -> tuple[dict, int]:
    (tmp_path / "trial.py").write_text(TRIAL)
    (tmp_path / "space.yaml").write_text("metric: loss\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    env.update(STYLE=style, LINES=str(lines))
    proc = subprocess.run([*HPOSWEEP, "run", "--space", "space.yaml", "--trials", "1", "--no-progress",
                           "--checkpoint", "study.json", "--", sys.executable, "trial.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    study = Study.load(tmp_path / "study.json", readonly=True)
    (trial,) = study.trials
    return {"trial": trial, "study": study}, int((tmp_path / "journal_lines").read_text())


@pytest.mark.parametrize("style", ["plain", "json"])
def test_a_line_per_step_writes_a_journal_event_per_round_not_per_line(tmp_path: Path, style: str) -> None:
    # 1,500 steps stay below the compaction threshold (2,000 events): one event per step would all be there.
    got, journal_lines = run(tmp_path, style, 1500)
    trial = got["trial"]
    assert trial.state is TrialState.COMPLETE
    assert journal_lines < 60  # the trial's asks, infos and a few rounds' events; it was 1,500 and more
    assert len(trial.intermediate) == 1500
    assert trial.intermediate[0] == 1.0 and trial.intermediate[1499] == 1.0 / 1500
    assert trial.values == [1.0 / 1500]  # the final value, exact


def test_progress_bar_redraws_keep_their_metric_bounded_and_the_final_value_exact(tmp_path: Path) -> None:
    got, journal_lines = run(tmp_path, "redraws", 20000)
    trial, study = got["trial"], got["study"]
    assert trial.state is TrialState.COMPLETE and trial.values == [0.25]
    assert journal_lines < 60
    assert trial.user_attrs["acc"] == 0.999  # the last redraw's (19999 % 1000)
    acc = study.metric_history(trial)["acc"]
    assert 1000 < len(acc) <= 3000  # the bounded history (first and last 1,000 points, a thinning between)
    assert acc[-1] == (19999, 0.999) and acc[0] == (0, 0.0)


def test_fractional_epochs_printed_by_a_trial_are_kept(tmp_path: Path) -> None:
    got, _ = run(tmp_path, "fractional", 10)
    trial = got["trial"]
    assert list(trial.intermediate) == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]
    assert trial.intermediate[1.5] == 0.25


# --- the Study API --------------------------------------------------------------------------------------
def new_study(tmp_path: Path, pruner: str | None = None) -> Study:
    import hposweep.spacefile  # noqa: F401 - registers the readers SearchSpace.from_dict uses

    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    study = Study(space, sampler="random", pruner=make_pruner(pruner) if pruner else None, seed=0)
    study.save(tmp_path / "s.json")
    return study


def test_report_of_step_1_5_reloads_as_1_5(tmp_path: Path) -> None:
    study = new_study(tmp_path)
    study.report(study.ask(), 1.5, 0.3)
    study.close()
    assert Study.load(tmp_path / "s.json", readonly=True).trials[0].intermediate == {1.5: 0.3}  # it was {1: 0.3}


def test_report_keeps_fractional_steps_through_a_reload_and_a_compaction(tmp_path: Path) -> None:
    study = new_study(tmp_path)
    trial = study.ask()
    study.report(trial, 1.5, 0.3)
    study.report(trial, 2.0, 0.2)  # a whole float is the int step
    study.report_points(trial, [(2.25, 0.1), (3, 0.05)])
    study.close()
    again = Study.load(tmp_path / "s.json", readonly=True)
    assert again.trials[0].intermediate == {1.5: 0.3, 2: 0.2, 2.25: 0.1, 3: 0.05}
    assert [type(s) for s in again.trials[0].intermediate] == [float, int, float, int]
    again = Study.load(tmp_path / "s.json", recover=False)
    again.tell(again.trials[0], 0.05)
    again.close()
    final = Study.load(tmp_path / "s.json")  # from the compacted snapshot too
    assert final.trials[0].intermediate == {1.5: 0.3, 2: 0.2, 2.25: 0.1, 3: 0.05}


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), True, "3"])
def test_report_refuses_a_step_that_is_not_a_finite_number_at_least_0(tmp_path: Path, bad: object) -> None:
    study = new_study(tmp_path)
    trial = study.ask()
    with pytest.raises(ValueError, match="step"):
        study.report(trial, bad, 0.3)  # type: ignore[arg-type]
    assert trial.intermediate == {}


def test_an_old_checkpoint_with_int_steps_loads_unchanged() -> None:
    """Both stored forms of intermediate values, and the old one-step journal event, read as int steps."""
    from hposweep.core.trial import Trial
    from hposweep.study.reducer import StudyState

    for raw in ({"0": 0.9, "1": 0.7, "2": 0.5}, {"steps": [0, 1, 2], "values": [0.9, 0.7, 0.5]}):
        t = Trial.from_json({"number": 0, "params": {"x": 0.1}, "intermediate": raw})
        assert t.intermediate == {0: 0.9, 1: 0.7, 2: 0.5}
        assert all(type(s) is int for s in t.intermediate)
    state = StudyState()
    state.apply({"op": "trial", "trial": {"number": 0, "params": {}, "state": "running"}})
    state.apply({"op": "report", "number": 0, "step": 3, "value": 0.4})
    state.apply({"op": "reports", "number": 0, "steps": [4, 5.0, 5.5], "values": [0.3, "nan", 0.2]})
    curve = state.trials[0].intermediate
    assert list(curve) == [3, 4, 5, 5.5] and [type(s) for s in curve] == [int, int, int, float]
    assert curve[3] == 0.4 and curve[5] != curve[5]


@pytest.mark.parametrize("pruner", ["median", "percentile", "asha", "hyperband"])
def test_a_round_of_points_is_pruned_at_the_same_step_as_one_report_at_a_time(tmp_path: Path, pruner: str) -> None:
    """The runner records a round as one event; the pruner must decide exactly as with a report per step."""
    curves = [[1.0 / (s + 1) + 0.01 * k for s in range(30)] for k in range(6)]
    bad = [2.0 - 0.001 * s for s in range(30)]

    def study_with_history(where: Path) -> Study:
        where.mkdir()
        s = new_study(where, pruner)
        for curve in curves:
            t = s.ask()
            s.report_points(t, list(enumerate(curve)))
            s.tell(t, curve[-1])
        return s

    one = study_with_history(tmp_path / "one")
    t = one.ask()
    pruned_one = None
    for step, value in enumerate(bad):
        one.report(t, step, value)
        if one.should_prune(t):
            pruned_one = step
            break
    many = study_with_history(tmp_path / "many")
    u = many.ask()
    recorded, pruned_many = many.report_points(u, list(enumerate(bad)), until_pruned=True)
    assert pruned_many == pruned_one is not None
    assert recorded == pruned_one + 1
    assert u.intermediate == t.intermediate  # nothing after the pruning step was recorded
    many.close()
    assert Study.load(tmp_path / "many" / "s.json").trials[-1].intermediate == t.intermediate


def test_pruners_judge_fractional_steps(tmp_path: Path) -> None:
    study = new_study(tmp_path, "median")
    for k in range(6):
        t = study.ask()
        study.report_points(t, [(s / 2, 1.0 / (s + 1) + 0.01 * k) for s in range(20)])
        study.tell(t, 0.05)
    t = study.ask()
    recorded, pruned_at = study.report_points(t, [(s / 2, 5.0) for s in range(20)], until_pruned=True)
    assert pruned_at is not None and isinstance(pruned_at, (int, float)) and recorded < 20
