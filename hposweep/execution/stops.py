"""Why a sweep stops early, and how its running trials are stopped: signals, the time budget, the metric
target, an objective no trial prints, a checkpoint or log that cannot be written, a dashboard's stop request.

A mixin of :class:`~hposweep.execution.runner.Runner` (the loop stays in runner.py): each rule sets
``stop_reason`` once and asks the running trials' groups to stop; the loop then starts nothing new and
returns when they have ended. Also :class:`RunningTrial`, the runner's record of a trial it runs.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, CheckpointError
from hposweep.execution.metrics import MetricTracker
from hposweep.execution.options import RunResult
from hposweep.execution.outcome import misconfigured_messages, objective_ever_reported, target_reached
from hposweep.study.summary import no_feasible_line

if TYPE_CHECKING:
    from hposweep.execution.executors.local import TrialProcess
    from hposweep.execution.executors.ray.driver import RayTrialProcess
    from hposweep.execution.options import RunOptions
    from hposweep.execution.progress import Progress
    from hposweep.study.api import Study

#: what a trial stopped from the dashboard is recorded with (pruned, with its last value)
STOP_REQUESTED_REASON = "stopped on request (dashboard)"


@dataclass
class RunningTrial:
    trial: Trial
    proc: TrialProcess | RayTrialProcess
    tracker: MetricTracker
    slot: int
    pruned_at: int | float | None = None
    interrupted: bool = False
    internal_error: str | None = None
    #: exited 0, printed metrics, never the objective: the sweep's configuration, not this trial, is wrong
    objective_never_printed: bool = False
    #: someone asked (through the study, e.g. the dashboard) for this trial to stop: it ends pruned
    stop_requested: bool = False


class StopRules:
    """The runner's stop decisions (see the module docstring). Attributes are the runner's."""

    study: Study
    opts: RunOptions
    display: Progress
    running: dict[int, RunningTrial]
    stop_reason: str | None
    #: the RunResult message of a "target" or "config" stop
    _stop_message: str | None
    #: a checkpoint or log that cannot be written, or a study replaced under us: the sweep ends with it (exit 2)
    fatal: CheckpointError | None
    _launch_error: Any
    started: int
    _budget_used0: float
    _t0: float
    _last_meta_save: float

    # --- signals -------------------------------------------------------------------------
    def request_stop(self, hard: bool = False, *, signum: int = signal.SIGINT) -> None:
        """First Ctrl-C/SIGTERM: stop gracefully (even if a time budget was already ending the
        sweep); the next one: SIGKILL the running trials now."""
        if self.stop_reason != "interrupt" and not hard:
            self.stop_reason = "interrupt"
            if signum == signal.SIGTERM:
                again, how = "send SIGTERM again to kill them now", "stopping (SIGTERM)"
            else:
                again, how = "Ctrl-C again to kill them now", "stopping"
            self.display.message(f"{how}: no new trials; running trials get SIGTERM "
                                 f"and {self.opts.grace:g}s to exit ({again})")
            for r in self.running.values():
                r.interrupted = True
                r.proc.begin_terminate(self.opts.grace, reason="interrupted")
        else:
            for r in self.running.values():
                r.interrupted = True
                r.proc.begin_terminate(0.0, reason="killed")

    def install_signals(self) -> dict[int, Any]:
        old: dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            self.request_stop(signum=signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread (tests driving the runner)
                pass
        return old

    # --- budget --------------------------------------------------------------------------
    def budget_used(self) -> float:
        return self._budget_used0 + (time.monotonic() - self._t0)

    def budget_left(self) -> float | None:
        if self.opts.time_budget is None:
            return None
        return self.opts.time_budget - self.budget_used()

    def save_budget(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_meta_save > 30:
            self._last_meta_save = now
            try:
                self.study.update_meta(time_used=round(self.budget_used(), 3))
            except CheckpointError as exc:
                self.stop_on_storage(exc)

    def stop_all_for_budget(self) -> None:
        for r in self.running.values():
            r.interrupted = True
            r.proc.begin_terminate(self.opts.grace, reason="time budget")

    # --- files that cannot be written ------------------------------------------------------
    def stop_on_storage(self, exc: CheckpointError) -> None:
        """A checkpoint, log or params file cannot be written (or the study was replaced): start nothing new,
        stop the running trials (recorded interrupted where the checkpoint still takes it), end with exit 2."""
        if self.fatal is not None:
            return
        self.fatal = exc
        self.stop_reason = "storage"
        self.display.message(f"{exc.message}: no new trials; stopping the running trials")
        for r in self.running.values():
            r.interrupted = True
            r.proc.begin_terminate(self.opts.grace, reason="storage")

    def check_log_errors(self) -> None:
        for r in list(self.running.values()):
            err = getattr(r.proc, "log_error", None)
            if err is not None:
                self.stop_on_storage(err)
                return

    # --- a stop asked for through the study (the dashboard's "stop trial") -------------------
    def check_stop_requests(self) -> None:
        """After ``study.refresh()``: stop each of our trials whose info has ``stop_requested``, as a prune would."""
        for number, r in self.running.items():
            if r.stop_requested or r.pruned_at is not None or r.interrupted:
                continue
            try:
                fresh = self.study.trials[number]
            except IndexError:
                continue
            if not fresh.info.get("stop_requested"):
                continue
            r.stop_requested = True
            why = fresh.info.get("stop_reason") or "stop requested"
            self.display.message(f"trial {number}: {why}: stopping it")
            r.proc.begin_terminate(self.opts.prune_grace, reason="stop requested")

    def sweep_result(self) -> RunResult:
        """What the sweep did, once it ended: an exit code and a message (or the fatal error, raised)."""
        n_complete = len(self.study.trials_in(TrialState.COMPLETE))
        if self.fatal is not None:
            raise self.fatal
        if self._launch_error is not None:
            raise self._launch_error
        if self.stop_reason == "interrupt":
            return RunResult(EXIT_INTERRUPTED, "interrupted", self.started, "interrupt")
        if self.stop_reason == "config":
            assert self._stop_message is not None
            return RunResult(EXIT_USAGE, self._stop_message, self.started, "config", config_error=n_complete == 0)
        if self.stop_reason == "target":
            assert self._stop_message is not None
            return RunResult(EXIT_OK, self._stop_message, self.started, "target")
        if self.stop_reason == "failures":
            return RunResult(
                EXIT_FAILED,
                f"stopped after {self.opts.max_failures} failed trials in a row (--max-failures)",
                self.started, "failures",
            )
        code = EXIT_OK if n_complete else EXIT_FAILED
        msg = "sweep finished" if code == EXIT_OK else "no trial completed"
        # ``best`` exits 1 on a study whose complete trials all violate a constraint; a script chaining
        # ``run && best`` should learn it from ``run``
        infeasible = no_feasible_line(self.study) if n_complete else None
        if infeasible is not None:
            code, msg = EXIT_FAILED, f"sweep finished with {infeasible}"
        if self.stop_reason == "time_budget":
            msg = "time budget ended the sweep" + ("" if n_complete else "; no trial completed")
            if infeasible is not None:
                msg += f"; {infeasible}"
        return RunResult(code, msg, self.started, self.stop_reason)

    # --- stops decided by results: the target reached, an objective no trial prints (see outcome.py) -------
    def check_target(self, trial: Trial) -> bool:
        if self.opts.metric_target is None or self.stop_reason is not None:
            return False
        message = target_reached(trial, self.opts.metric_target, self.study.directions[0])
        if message is None:
            return False
        self.stop_reason, self._stop_message = "target", message
        more = "; the running trials finish" if set(self.running) - {trial.number} else ""
        value = trial.values[0] if trial.values else float("nan")
        self.display.message(f"{message} ({self.opts.metrics[0]}={value:g}): no new trials{more}")
        return True

    def stop_if_misconfigured(self, r: RunningTrial) -> None:
        missing = r.tracker.missing()
        others = [o.tracker for o in self.running.values() if o is not r]
        if self.stop_reason is not None or not missing or objective_ever_reported(
                self.study, self.opts.metrics[0], missing, r.trial.number, others):
            return
        self.stop_reason = "config"
        self._stop_message, note = misconfigured_messages(r.trial, r.tracker, missing)
        self.display.message(note)
        for other in self.running.values():
            if other is not r:
                other.interrupted = True
                other.proc.begin_terminate(self.opts.grace, reason="configuration error")


__all__ = ["STOP_REQUESTED_REASON", "RunningTrial", "StopRules"]
