"""Trackers run beside the sweep: a slow tracker never holds up the runner's loop, its calls keep their order,
and what it logs is the trial as it was when the call was made."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from hposweep.core.trial import Trial, TrialState
from hposweep.integrations.tracking import BackgroundTracker, SafeTracker, Tracker


class Slow(Tracker):
    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[tuple[str, Any]] = []
        self.threads: set[str] = set()

    def _note(self, hook: str, what: Any) -> None:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        self.calls.append((hook, what))

    def on_sweep_start(self, study: Any) -> None:
        self.calls.append(("sweep_start", threading.current_thread() is threading.main_thread()))

    def on_trial_start(self, trial: Trial) -> None:
        self._note("start", trial.number)

    def on_report(self, trial: Trial, step: int, metrics: Mapping[str, float]) -> None:
        self._note("report", (trial.number, step, dict(metrics)))

    def on_trial_end(self, trial: Trial, log_path: str | None) -> None:
        self._note("end", (trial.number, trial.state.value, trial.values))

    def on_sweep_end(self, study: Any) -> None:
        self.calls.append(("sweep_end", None))


def test_slow_calls_do_not_block_and_keep_their_order() -> None:
    inner = Slow(0.3)
    bg = BackgroundTracker(SafeTracker(inner))
    bg.on_sweep_start(object())
    t0 = time.monotonic()
    trial = Trial(0, {"x": 1.0}, started_at=time.time())
    bg.on_trial_start(trial)
    bg.on_report(trial, 1, {"loss": 0.5})
    trial.state, trial.values = TrialState.COMPLETE, [0.25]
    bg.on_trial_end(trial, None)
    trial.values = [99.0]  # the runner goes on with its own object: the tracker logs what was told
    assert time.monotonic() - t0 < 0.2  # three calls of 0.3 s each returned at once
    bg.on_sweep_end(object())
    assert inner.calls == [("sweep_start", True), ("start", 0), ("report", (0, 1, {"loss": 0.5})),
                           ("end", (0, "complete", [0.25])), ("sweep_end", None)]
    assert inner.threads == {"hposweep-slow"}


def test_a_tracker_that_cannot_keep_up_drops_steps_with_one_warning() -> None:
    inner = Slow(0.05)
    warnings: list[str] = []
    bg = BackgroundTracker(SafeTracker(inner), warnings.append, max_pending=3)
    trial = Trial(0, {"x": 1.0})
    bg.on_trial_start(trial)
    for step in range(50):
        bg.on_report(trial, step, {"loss": 1.0 / (step + 1)})
    bg.on_trial_end(trial, None)
    bg.on_sweep_end(object())
    reports = [c for c in inner.calls if c[0] == "report"]
    assert 0 < len(reports) < 50 and bg.dropped == 50 - len(reports)
    assert len(warnings) == 1 and "dropped" in warnings[0]
    assert inner.calls[-2][0] == "end"  # the trial's end is never dropped


def test_a_tracker_stuck_past_the_drain_limit_ends_the_sweep_with_a_warning() -> None:
    inner = Slow(2.0)
    warnings: list[str] = []
    bg = BackgroundTracker(SafeTracker(inner), warnings.append, drain_timeout=0.2)
    bg.on_trial_start(Trial(0, {}))
    t0 = time.monotonic()
    bg.on_sweep_end(object())
    assert time.monotonic() - t0 < 1.5
    assert warnings and "did not take" in warnings[0] and ("sweep_end", None) not in inner.calls
