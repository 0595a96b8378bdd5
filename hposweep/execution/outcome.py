"""What a finished trial's process and output say (:func:`trial_outcome`), and the stops decided by
results rather than by the user or the clock.

* ``metric.target`` (W&B) / ``metric: {..., target: 0.1}``: once a complete trial's first objective
  reaches the target, no new trial starts; running ones finish (as W&B's agents do).
* An objective that no trial prints: a trial that exits 0 having printed other metrics but never the
  objective shows a configuration mistake (a misspelt ``--metric``), which every following trial
  would repeat after a full training run. While no trial of the study has ever reported it, the
  sweep stops after that first trial, exit 2, with what the output did contain.

Pure decisions over the study and the trackers; the runner acts on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from hposweep.core.trial import Trial, TrialState
from hposweep.execution.executors.local import LaunchError
from hposweep.execution.metrics import MetricTracker
from hposweep.execution.processes import signal_name

if TYPE_CHECKING:
    from hposweep.execution.executors.local import TrialProcess
    from hposweep.execution.executors.ray.driver import RayTrialProcess
    from hposweep.study.api import Study


class Outcome(NamedTuple):
    """``values`` (None: none to record), ``reason`` (None: the trial completed)."""

    values: list[float] | None
    reason: str | None
    launch_error: LaunchError | None = None
    #: exited 0 and printed metrics, but never an objective (see the module docstring)
    objective_never_printed: bool = False


def trial_outcome(proc: TrialProcess | RayTrialProcess, tracker: MetricTracker, objective: str,
                  timeout: float | None, regex: bool) -> Outcome:
    """A trial that ended on its own (not pruned nor stopped): complete, or failed and why."""
    # ``best`` over values that were all NaN has none: the last value (NaN) then fails the trial with that reason
    values = tracker.final_values(objective) or tracker.final_values("last")
    rc = proc.returncode
    if proc.timed_out:
        return Outcome(values, f"timed out after {timeout:g}s")
    err = proc.launch_error()
    if err is not None:
        return Outcome(None, str(err), err)
    if rc is not None and rc != 0:
        why = f"killed by {signal_name(-rc)}" if rc < 0 else f"exit code {rc}"
        return Outcome(values, f"command failed ({why})")
    missing = tracker.missing()
    if missing:
        return Outcome(None, tracker.missing_reason(missing, regex=regex), objective_never_printed=bool(tracker.seen()))
    assert values is not None
    bad = [v for v in values if v != v or v in (float("inf"), float("-inf"))]
    if bad:
        return Outcome(values, f"objective value is {bad[0]}")
    return Outcome(values, None)


def target_reached(trial: Trial, goal: float, direction: str) -> str | None:
    """``"target 0.1 reached by trial 7"`` when the complete ``trial``'s first value reaches ``goal``."""
    if trial.state is not TrialState.COMPLETE or not trial.values:
        return None
    value = trial.values[0]
    reached = value >= goal if direction == "maximize" else value <= goal
    return f"target {goal:g} reached by trial {trial.number}" if reached else None


def objective_ever_reported(study: Study, primary: str, missing: Sequence[str], exclude: int,
                            running: Sequence[MetricTracker]) -> bool:
    """Whether any trial other than ``exclude`` (finished, or running here) reported one of ``missing``."""
    if study.trials_in(TrialState.COMPLETE):
        return True
    if primary in missing and any(t.intermediate for t in study.trials if t.number != exclude):
        return True
    return any(set(missing) - set(tracker.missing()) for tracker in running)


def misconfigured_messages(trial: Trial, tracker: MetricTracker, missing: Sequence[str]) -> tuple[str, str]:
    """The sweep's result message and the live note for a stop on an objective that is never printed."""
    reason = str(trial.info.get("reason") or tracker.missing_reason(list(missing)))
    names = "', '".join(missing)
    result = f"configuration error: trial {trial.number} ran to the end, but {reason}"
    note = (f"stopping: no trial of this study reports '{names}', so every trial would fail the same way; "
            "fix --metric (or the space file's `metric:`) and run again")
    return result, note
