"""Experiment trackers (MLflow, W&B): the hooks a sweep calls, the settings that choose them, and the
rule that a tracker never fails a sweep.

The runner holds one :class:`Tracker` (a :class:`TrackerGroup` of the configured ones, each behind a
:class:`SafeTracker`) and calls, in this order:

* ``on_sweep_start(study)`` once the study is loaded or created, before the first trial;
* ``on_trial_start(trial)`` after the trial's process started (``trial.info`` has argv and log);
* ``on_report(trial, step, metrics)`` for each step's metrics, as they are parsed;
* ``on_trial_end(trial, log_path)`` after ``study.tell`` (the trial holds its final state);
* ``on_sweep_end(study)`` when the sweep stops, however it stops.

Settings (YAML ``tracking:`` or ``run --track``): ``mlflow``, ``wandb``, a mapping
``{mlflow: {experiment: .., tracking_uri: ..}}`` / ``{wandb: {project: .., entity: .., mode: ..}}``,
or a list of these. :func:`parse_tracking` reads and checks them; :func:`hposweep.integrations.trackers.make_tracker`
builds the tracker from them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hposweep.core.trial import Trial
from hposweep.spacefile.tracking import TRACKERS, TrackerConfig, parse_tracking


class Tracker:
    """The hooks; each does nothing here. Subclasses override what they need."""

    name = "tracker"

    def on_sweep_start(self, study: Any) -> None:
        pass

    def on_trial_start(self, trial: Trial) -> None:
        pass

    def on_report(self, trial: Trial, step: int, metrics: Mapping[str, float]) -> None:
        pass

    def on_trial_end(self, trial: Trial, log_path: str | None) -> None:
        pass

    def on_sweep_end(self, study: Any) -> None:
        pass


def history_by_step(study: Any, trial: Trial) -> list[tuple[int, dict[str, float]]]:
    """Every metric the study kept for ``trial`` (the objective's reports and each other metric's bounded
    history), merged into ``(step, {metric: value})`` in step order: what ``export`` replays into a tracker.

    Trackers count steps in integers (MLflow's ``step``, W&B's ``_step``), so a fractional step (epoch 1.5)
    is logged at its integer part; the later point of a step wins, as a redrawn progress line does.
    """
    by_step: dict[int, dict[str, float]] = {}
    for name, points in study.metric_history(trial).items():
        for step, value in points:
            by_step.setdefault(int(step), {})[name] = float(value)
    return sorted(by_step.items())


def stderr_warning(message: str) -> None:
    sys.stderr.write(f"[hposweep] warning: {message}\n")
    sys.stderr.flush()


class SafeTracker(Tracker):
    """A tracker whose failures never reach the sweep.

    The first exception (a server down, a package missing, a bad token) prints one warning and turns
    the tracker off for the rest of the sweep: a tracker that failed once would most likely fail (and
    time out) on every trial, slowing the sweep for nothing. ``hposweep export`` fills in later.
    """

    def __init__(self, inner: Tracker, warn: Callable[[str], None] = stderr_warning) -> None:
        self.inner = inner
        self.name = inner.name
        self.warn = warn
        self.failed: str | None = None

    def _call(self, hook: str, *args: Any) -> None:
        if self.failed is not None:
            return
        try:
            getattr(self.inner, hook)(*args)
        except Exception as exc:  # noqa: BLE001 - any failure of a tracker is its own, never the sweep's
            text = str(exc).strip().splitlines()
            self.failed = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
            hint = getattr(exc, "hint", None)
            self.warn(f"{self.name} tracking is off for this sweep ({hook} failed: {self.failed}); "
                      f"the sweep goes on" + (f"; {hint}" if hint else "")
                      + f"; fill it in later with `hposweep export {self.name} STUDY`")

    def on_sweep_start(self, study: Any) -> None:
        self._call("on_sweep_start", study)

    def on_trial_start(self, trial: Trial) -> None:
        self._call("on_trial_start", trial)

    def on_report(self, trial: Trial, step: int, metrics: Mapping[str, float]) -> None:
        self._call("on_report", trial, step, metrics)

    def on_trial_end(self, trial: Trial, log_path: str | None) -> None:
        self._call("on_trial_end", trial, log_path)

    def on_sweep_end(self, study: Any) -> None:
        self._call("on_sweep_end", study)


def snapshot(trial: Trial) -> Trial:
    """A copy of ``trial`` as it is now, for a tracker thread: the runner goes on updating the original."""
    import dataclasses

    return dataclasses.replace(trial, params=dict(trial.params), values=list(trial.values) if trial.values else None,
                               intermediate=dict(trial.intermediate), user_attrs=dict(trial.user_attrs),
                               info=dict(trial.info))


class BackgroundTracker(Tracker):
    """A tracker whose per-trial calls run on a thread of their own, in order, so a slow or unreachable
    server never holds up the runner's loop (reading trials' output, enforcing timeouts, starting trials).

    Why not inline: MLflow's client retries a dead server with back-off (seconds per call, bounded by
    :func:`hposweep.integrations.mlflow` settings), and a W&B run takes a second or more to start; on the
    loop, each of those was time in which no trial's output was read. ``on_sweep_start`` stays on the
    caller's thread (it may write the parent run's id into the study, which is not thread-safe);
    ``on_sweep_end`` waits for the queued calls, at most ``drain_timeout`` seconds, then ends the sweep's
    run. Per-step reports beyond ``max_pending`` queued calls are dropped (counted, said once): the
    trial's end still logs its final values, and ``hposweep export`` replays every step later.
    """

    def __init__(self, inner: Tracker, warn: Callable[[str], None] = stderr_warning, *,
                 max_pending: int = 10_000, drain_timeout: float = 120.0) -> None:
        from hposweep.core.background import Background

        self.inner = inner
        self.name = inner.name
        self.warn = warn
        self.drain_timeout = drain_timeout
        self.max_pending = max_pending
        self.dropped = 0
        self._runner = Background(f"hposweep-{self.name}")  # one thread: the calls keep their order

    def _put(self, hook: str, *args: Any) -> None:
        self._runner.submit(getattr(self.inner, hook), *args)

    def on_sweep_start(self, study: Any) -> None:
        self.inner.on_sweep_start(study)

    def on_trial_start(self, trial: Trial) -> None:
        self._put("on_trial_start", snapshot(trial))

    def on_report(self, trial: Trial, step: int, metrics: Mapping[str, float]) -> None:
        if self._runner.pending() >= self.max_pending:
            self.dropped += 1
            if self.dropped == 1:
                self.warn(f"{self.name} is slower than the trials report: per-step metrics are being dropped "
                          f"(final values are still logged; `hposweep export {self.name} STUDY` replays every step)")
            return
        self._put("on_report", trial, step, dict(metrics))

    def on_trial_end(self, trial: Trial, log_path: str | None) -> None:
        self._put("on_trial_end", snapshot(trial), log_path)

    def on_sweep_end(self, study: Any) -> None:
        if not self._runner.close(self.drain_timeout):
            self.warn(f"{self.name} did not take {self._runner.pending()} queued calls within "
                      f"{self.drain_timeout:g}s; the sweep ends without them (fill in later with "
                      f"`hposweep export {self.name} STUDY`)")
            return  # its client is busy on the other thread: ending the run now would race it
        self.inner.on_sweep_end(study)


class TrackerGroup(Tracker):
    """Several trackers called in turn (each one safe on its own)."""

    name = "trackers"

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.trackers = list(trackers)

    def on_sweep_start(self, study: Any) -> None:
        for t in self.trackers:
            t.on_sweep_start(study)

    def on_trial_start(self, trial: Trial) -> None:
        for t in self.trackers:
            t.on_trial_start(trial)

    def on_report(self, trial: Trial, step: int, metrics: Mapping[str, float]) -> None:
        for t in self.trackers:
            t.on_report(trial, step, metrics)

    def on_trial_end(self, trial: Trial, log_path: str | None) -> None:
        for t in self.trackers:
            t.on_trial_end(trial, log_path)

    def on_sweep_end(self, study: Any) -> None:
        for t in self.trackers:
            t.on_sweep_end(study)


__all__ = ["TRACKERS", "SafeTracker", "Tracker", "TrackerConfig", "TrackerGroup", "history_by_step", "parse_tracking",
           "stderr_warning"]
