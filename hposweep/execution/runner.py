"""The sweep loop: ask the study, launch the trial's process, stream its metrics back, tell.

The runner is the only place that knows about both sides: the :class:`~hposweep.study.Study`
(sampler, pruner, checkpoint) and the :mod:`~hposweep.execution.executors` (processes, pipes, signals). One
loop drives up to ``jobs`` trials at once with :func:`~hposweep.execution.executors.local.poll_many`; no threads.

Stopping is cooperative: the first Ctrl-C/SIGTERM sets :attr:`Runner.stop_reason`; the loop then
starts nothing new, asks every running trial's group to stop (SIGTERM, grace, SIGKILL), records
them ``interrupted`` (their params are queued first for ``resume``) and returns. A second Ctrl-C
SIGKILLs the groups at once; the checkpoint is still written, because every event already was.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import CheckpointError, HposweepError, StudyError
from hposweep.execution.argv import build_argv, build_shell_command, flag_styles, trial_env, write_params_file
from hposweep.execution.environment import trial_base_env
from hposweep.execution.executors import make_trial_process
from hposweep.execution.executors.local import LaunchError, TrialProcess, poll_many
from hposweep.execution.hooks import SweepHooks
from hposweep.execution.leftovers import stop_leftovers
from hposweep.execution.metric_points import RoundPoints
from hposweep.execution.metrics import MetricReport, MetricTracker
from hposweep.execution.options import (
    RunOptions,
    RunResult,
    dumps_json,
    git_commit,
    parse_gpus,
    pruning_steps_saved,
    summary_json,
)
from hposweep.execution.outcome import trial_outcome
from hposweep.execution.processes import process_record
from hposweep.execution.progress import Progress
from hposweep.execution.retries import attempt_entry, keep_attempt_log, retryable
from hposweep.execution.stops import STOP_REQUESTED_REASON, RunningTrial, StopRules
from hposweep.execution.trialdirs import command_tokens, trial_paths
from hposweep.study.api import Study
from hposweep.study.discovery import logs_dir_for
from hposweep.study.repeats import trial_seed
from hposweep.study.storage import StudyReplacedError, write_error


class Runner(StopRules):
    def __init__(self, study: Study, options: RunOptions, display: Progress, *, target: int) -> None:
        self.study = study
        self.opts = options
        self.display = display
        self.target = target
        self.stop_reason: str | None = None
        self.running: dict[int, RunningTrial] = {}
        self.cwd = options.cwd or os.getcwd()
        self.logs_dir = options.logs_dir or logs_dir_for(study.path)
        self._git = git_commit(self.cwd)
        self._fail_streak = 0
        self._launch_error: LaunchError | None = None
        self._budget_used0 = float(study.meta.get("time_used", 0.0))
        self._t0 = time.monotonic()
        self._last_meta_save = time.monotonic()
        self.started = 0
        self._last_housekeeping = 0.0
        self._announced: set[tuple[str, str]] = set()  # (objective, prefixed name) already said
        self._stop_message: str | None = None  # the RunResult message of a "target" or "config" stop
        self.fatal: CheckpointError | None = None
        #: failed trials to run again (--retries): same number, same params, before any new trial
        self.retry_queue: list[Trial] = []
        self.hooks = SweepHooks(options, cwd=self.cwd, warn=display.message)
        if options.executor == "ray":
            from hposweep.execution.executors import check_ray_resources, ray_init

            ray_init(options.ray_address)
            check_ray_resources(options.cpus_per_trial, options.gpus_per_trial)

    # --- the loop ------------------------------------------------------------------------
    def _counted(self) -> int:
        """Finished trials plus the ones running anywhere (other workers' too)."""
        return self.study.n_finished + len(self.study.running_trials)

    def _can_start(self) -> bool:
        if self.stop_reason is not None:
            return False
        if len(self.running) >= self.opts.jobs:
            return False
        if self.retry_queue:
            return True
        if self._counted() >= self.target:
            return False
        left = self.budget_left()
        if left is not None and left <= 0:
            self.stop_reason = "time_budget"
            self.display.message("time budget spent: no new trials")
            self.stop_all_for_budget()
            return False
        if self.study.sampler_exhausted():
            if self.stop_reason is None and not self.running:
                self.stop_reason = "exhausted"
                self.display.message("the sampler has no new configuration to try (grid exhausted)")
            return False
        return True

    def run(self) -> RunResult:
        old = self.install_signals()
        if self.opts.executor == "local":
            stop_leftovers(self.study, self.display.message, grace=min(self.opts.grace, 5.0))
        for done in self.study.trials_in(TrialState.COMPLETE):  # resume: the target may be reached already
            if self.check_target(done):
                break
        try:
            self.hooks.sweep_start(self.study)
            while True:
                try:
                    if not self._step():
                        break
                except CheckpointError as exc:  # full disk, read-only folder, study replaced: exit 2, say so
                    self.stop_on_storage(exc)
                    if not self.running:
                        break
        finally:
            for r in list(self.running.values()):
                r.interrupted = True
                r.proc.kill()
                self._finish(r)
            self._give_up_retries()
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self.save_budget(force=True)
            self.hooks.sweep_end(self.study)
        return self.sweep_result()

    def _step(self) -> bool:
        """One round of the loop: start what may start, read what the trials printed. False: the sweep is over."""
        self._housekeeping()
        while self._can_start():
            with self.study.batch():  # ask, start and record it under one lock round trip
                self._start_one()
            if self._launch_error is not None:
                break
        if self._launch_error is not None and not self.running:
            return False
        if not self.running:
            if self._wait_for_others():
                time.sleep(min(1.0, self.opts.lease / 4))
                return True
            return False
        self._poll()
        self.check_log_errors()
        left = self.budget_left()
        if left is not None and left <= 0 and self.stop_reason is None:
            self.stop_reason = "time_budget"
            self.display.message("time budget spent: stopping running trials")
            self.stop_all_for_budget()
        self.save_budget()
        return True

    def _housekeeping(self, force: bool = False) -> None:
        """Heartbeats for our trials, re-runs for trials whose worker died, news from other workers."""
        now = time.monotonic()
        if self.fatal is not None or (not force and now - self._last_housekeeping < min(1.0, self.opts.lease / 4)):
            return  # after a fatal storage error, write (and sync) nothing more
        self._last_housekeeping = now
        wall = time.time()
        beat_every = self.opts.lease / 4
        for r in self.running.values():
            if wall - float(r.trial.info.get("heartbeat") or r.trial.started_at or 0) >= beat_every:
                self.study.update_info(r.trial, heartbeat=wall)
        self.study.refresh()
        self.check_stop_requests()
        mine = set(self.running)
        expired = [n for n in self.study.reap_expired(self.opts.lease) if n not in mine]
        for n in expired:
            self.display.message(f"trial {n} lost its worker (no heartbeat for {self.opts.lease:g}s): re-running it")

    def _wait_for_others(self) -> bool:
        """Nothing of ours runs: wait while other workers' trials might still need a re-run."""
        if self.stop_reason is not None or self._launch_error is not None:
            return False
        if self.study.n_finished >= self.target:
            return False
        return bool(self.study.running_trials) or bool(self.study.queue)

    def _free_slot(self) -> int:
        used = {r.slot for r in self.running.values()}
        return next(i for i in range(self.opts.jobs + 1) if i not in used)

    def _start_one(self) -> None:
        slot = self._free_slot()
        if self.retry_queue:
            trial: Trial | None = self.retry_queue.pop(0)
        else:
            trial = self.study.ask_within(self.target, info={"worker": f"{os.uname().nodename}:{os.getpid()}"})
        if trial is None:  # other workers took the last trials meanwhile
            return
        self.started += 1
        trial_dir, run_cwd, stem = trial_paths(self.study.path, trial.number, self.opts, self.cwd)
        log_path, params_path, metrics_path = stem + ".log", stem + ".params.json", stem + ".metrics.jsonl"
        known = list(self.study.space.params)
        flags, seed = flag_styles(self.study.space), trial_seed(self.study.seed, trial.number, trial.info)
        gpus = None
        if self.opts.gpus:
            gpus = self.opts.gpus[slot % len(self.opts.gpus)]
        try:
            if self.opts.shell:
                command: Any = build_shell_command(str(self.opts.command), trial.params, trial.number,
                                                   self.opts.pass_mode, known=known, flags=flags, seed=seed,
                                                   trial_dir=trial_dir, params_file=os.path.abspath(params_path))
            else:
                command = build_argv(command_tokens(self.opts, self.cwd), trial.params, trial.number,
                                     self.opts.pass_mode, known=known, flags=flags, seed=seed, trial_dir=trial_dir,
                                     params_file=os.path.abspath(params_path))
            self._write_params(trial, params_path)
        except HposweepError as exc:
            if not isinstance(exc, CheckpointError):
                self.study.tell(trial, state=TrialState.FAILED, info={"reason": str(exc)})
            raise
        try:
            os.unlink(metrics_path)  # a re-run starts with an empty metrics file
        except FileNotFoundError:
            pass
        env = trial_env(
            trial_base_env(), trial_number=trial.number, params=trial.params, params_file=os.path.abspath(params_path),
            metrics_file=os.path.abspath(metrics_path),
            study_path=os.path.abspath(self.study.path) if self.study.path else None,
            slot=slot, gpus=gpus, seed=seed, trial_dir=trial_dir, user_cwd=os.path.abspath(self.cwd),
        )
        proc = make_trial_process(self.opts.executor, metric_regex=self.opts.metric_regex,
                                  default_metric=self.opts.metrics[0], metrics_file=metrics_path,
                                  grace=self.opts.grace, cpus_per_trial=self.opts.cpus_per_trial,
                                  gpus_per_trial=self.opts.gpus_per_trial)
        timeout = self.opts.timeout
        info = {"argv": command, "cwd": run_cwd, "trial_dir": trial_dir, "log": log_path, "slot": slot,
                "seed": [self.study.seed, trial.number]}
        if self._git:
            info["git_commit"] = self._git
        if gpus is not None:
            info["gpus"] = gpus
        try:
            proc.start(command, env=env, cwd=run_cwd, log_path=log_path, shell=self.opts.shell, timeout=timeout)
        except HposweepError as exc:
            if not isinstance(exc, LaunchError):  # e.g. a symlink planted at the log's path: stop the sweep
                self.study.tell(trial, state=TrialState.FAILED, info={**info, "reason": str(exc)})
                raise

            self.study.tell(trial, state=TrialState.FAILED, info={**info, "reason": str(exc)})
            self._launch_error = exc
            self.display.trial_finished(trial)
            self.hooks.trial_end(self.study, trial)
            return
        info["pid"] = proc.pid
        if isinstance(proc, TrialProcess) and proc.pid is not None:
            # what resume needs to recognise this trial's processes if hposweep dies (see find_leftovers)
            info["process"] = process_record(proc.pid, proc.token)
        self.study.update_info(trial, **info)
        self.hooks.trial_start(trial)
        directions = list(self.study.directions)
        tracker = MetricTracker(self.opts.metrics, directions, params=dict(trial.params))
        run = RunningTrial(trial, proc, tracker, slot)
        self.running[trial.number] = run
        self.display.trial_started(trial, slot)

    def _write_params(self, trial: Trial, params_path: str) -> None:
        """The trial's folder and params file; a full disk there stops the sweep (exit 2), the trial just
        asked queued again for ``resume`` (it never started)."""
        where = os.path.dirname(params_path)
        try:
            os.makedirs(where, exist_ok=True)
            where = params_path
            write_params_file(params_path, trial.params)
        except OSError as exc:
            err = write_error(where, exc)
            try:
                self.study.recover_running([trial.number], reason=f"not started: {err.message}")
            except CheckpointError:
                pass  # it stays running in the checkpoint; resume re-runs it
            raise err from None

    def _poll(self) -> None:
        procs = [r.proc for r in self.running.values()]
        timeout = 0.2
        left = self.budget_left()
        if left is not None:
            timeout = max(0.0, min(timeout, left))
        results = poll_many(procs, timeout)
        for r in [r for r in self.running.values() if r.proc.done and r.proc not in results]:
            self._finish(r)  # ended in an earlier round whose handling was cut short (a write that failed)
        if not any(results.values()) and not any(p.done for p in results):
            return
        if self.fatal is not None:  # the checkpoint refuses writes (or is not ours): only see our trials end
            self._handle(results)
            return
        with self.study.batch():  # one lock round trip for all the reports and tells of this round
            self._handle(results)

    def _handle(self, results: dict[Any, list[Any]]) -> None:
        by_proc = {r.proc: r for r in self.running.values()}
        for proc, reports in results.items():
            r = by_proc[proc]
            try:
                self._take_reports(r, reports)
            except Exception as exc:  # noqa: BLE001 - one trial's output must never end the sweep
                self._fail_internally(r, f"{type(exc).__name__} while reading its output: {exc}")
                continue
            if proc.done:
                self._finish(r)

    def _take_reports(self, r: RunningTrial, reports: list[MetricReport]) -> None:
        """Fold one round's reports into the trial; tell the study the objective's latest value per step.

        A trial may print a million lines a minute, mostly redraws of the same step; the study (and its
        journal) gets one event per round holding one value per step: the last value printed for it, as a
        redrawn progress line shows. The pruner is asked after each step in turn, so no rung is skipped.
        """
        primary = self.opts.metrics[0]
        others = RoundPoints(r.tracker, primary)  # every other metric's points, for its history
        tracked: dict[Any, dict[str, float]] | None = {} if self.hooks.tracking else None
        latest = others.file_round(reports, tracked)
        others.send(self.study, r.trial)
        for step, metrics in (tracked or {}).items():
            self.hooks.report(r.trial, step, metrics)
        for objective, name, values in r.tracker.settle():
            if (objective, name) not in self._announced:
                self._announced.add((objective, name))
                self.display.message(f"'{objective}' is not printed under that name: using '{name}' "
                                     f"(the only metric named '{objective}' after a dataset prefix)")
            if objective == primary:
                latest.update(values)
        if not latest or r.pruned_at is not None or r.interrupted:
            return
        try:  # one journal event for the round; the pruner still judges every step in turn
            recorded, pruned_at = self.study.report_points(r.trial, latest, until_pruned=True)
        except HposweepError:
            return
        if recorded:
            step = pruned_at if pruned_at is not None else next(reversed(latest))
            self.display.trial_reported(r.trial, step, latest[step])  # type: ignore[arg-type]  # (1.5: shown as is)
        if pruned_at is not None:
            r.pruned_at = pruned_at
            r.proc.begin_terminate(self.opts.prune_grace, reason="pruned")

    def _fail_internally(self, r: RunningTrial, reason: str) -> None:
        """Something went wrong handling this trial (not the trial's fault): stop it, record it failed."""
        r.internal_error = reason
        self.display.message(f"trial {r.trial.number}: {reason}")
        try:
            r.proc.kill()
        except Exception:  # noqa: BLE001 - still record the failure below
            pass
        self._finish(r)

    def _finish(self, r: RunningTrial) -> None:
        """Record a trial's end. Whatever goes wrong here, the trial leaves ``running``: failed with the reason."""
        try:
            if isinstance(self.fatal, StudyReplacedError):
                self.running.pop(r.trial.number, None)  # not our study any more: write nothing, wait no longer
                return
            self._finish_inner(r)
            ended = self.study.trials[r.trial.number]
            if ended.state is not TrialState.RUNNING:
                self.hooks.trial_end(self.study, ended)
        except CheckpointError as exc:  # the checkpoint cannot be written, or the study was replaced
            if self.fatal is None:
                self.stop_on_storage(exc)
            else:
                self.display.message(f"trial {r.trial.number}: not recorded ({exc.message})")
        except StudyError as exc:
            # Another worker re-ran this trial after our heartbeats stopped reaching the file.
            self.display.message(f"trial {r.trial.number}: result not recorded ({exc.message})")
        except Exception as exc:  # noqa: BLE001 - a bug here must not leave the trial running forever
            reason = f"internal error while finishing the trial ({type(exc).__name__}: {exc})"
            self.display.message(f"trial {r.trial.number}: {reason}")
            try:
                if self.study.trials[r.trial.number].state is TrialState.RUNNING:
                    self.study.tell(r.trial, state=TrialState.FAILED, info={"reason": reason})
            except Exception as again:  # noqa: BLE001 - e.g. the checkpoint cannot be written
                self.display.message(f"trial {r.trial.number}: could not record the failure ({again})")
        finally:
            self.running.pop(r.trial.number, None)

    def _finish_inner(self, r: RunningTrial) -> None:
        proc, tracker, trial = r.proc, r.tracker, r.trial
        duration = None
        if proc.started_at is not None and proc.ended_at is not None:
            duration = round(proc.ended_at - proc.started_at, 4)
        info: dict[str, Any] = {"exit_code": proc.returncode, "duration": duration}
        node = getattr(proc, "node", None)
        if node is not None:  # a Ray trial: where it ran, and its pid there (unknown at start)
            info.update(node=node, pid=proc.pid)
        attrs = {k: v for k, v in tracker.user_attrs.items()}
        notes = proc.parse_notes()
        if notes:
            info["parse_notes"] = notes
            self.display.message(f"trial {trial.number}: " + "; ".join(notes))
        if r.internal_error is not None:
            self.study.tell(trial, state=TrialState.FAILED, info={**info, "reason": r.internal_error}, user_attrs=attrs)
        elif r.pruned_at is not None:
            info["pruned_at_step"] = r.pruned_at
            hist = tracker.primary
            value = hist.intermediate.get(r.pruned_at, hist.last)
            self.study.tell(trial, [value] if value is not None else None, state=TrialState.PRUNED, info=info,
                            user_attrs=attrs)
            self._fail_streak = 0
        elif r.stop_requested:  # the dashboard's "stop": pruned with what it learned; not a failure, not re-run
            value = tracker.primary.last
            self.study.tell(trial, [value] if value is not None else None, state=TrialState.PRUNED,
                            info={**info, "reason": STOP_REQUESTED_REASON}, user_attrs=attrs)
        elif proc.timed_out and tracker.primary.last_step is not None and tracker.primary.last is not None:
            # stopped by --timeout after reporting: keep what it learned (as Ray's time stopper keeps the last result)
            step = tracker.primary.last_step
            info.update(pruned_at_step=step, reason=f"timeout at step {step}")
            self.study.tell(trial, [tracker.primary.last], state=TrialState.PRUNED, info=info, user_attrs=attrs)
            self._fail_streak = 0
        elif r.interrupted:
            why = f"stopped by hposweep ({proc.stop_reason or 'interrupted'})"
            self.study.update_info(trial, **info, reason=why)
            self.study.recover_running([trial.number], reason=why)
        elif getattr(proc, "lost_node", False):  # Ray: its node (or actor) died; re-run it, at most max_reruns times
            from hposweep.execution.executors.ray.reruns import record_lost_node

            record_lost_node(self.study, trial, info, attrs, self.opts.max_reruns, self.display.message)
        else:
            values, reason = self._outcome(r)
            attempts = list(trial.info.get("attempts") or [])
            if attempts or (reason is not None and self.opts.retries):
                attempts.append(attempt_entry(info, reason, len(attempts) + 1))
                info["attempts"] = attempts
            if reason is not None and self._retry(r, info, reason, attempts):
                return
            if values is not None and reason is None:
                self.study.tell(trial, values, info=info, user_attrs=attrs)
            else:
                if values is not None:
                    info["values_seen"] = values
                self.study.tell(trial, state=TrialState.FAILED, info={**info, "reason": reason}, user_attrs=attrs)
        if trial.state is TrialState.FAILED and r.objective_never_printed:
            self.stop_if_misconfigured(r)
        if trial.state is TrialState.COMPLETE:
            self.check_target(trial)
        if trial.state is TrialState.FAILED:
            self._fail_streak += 1
            if self._fail_streak >= self.opts.max_failures > 0 and self.stop_reason is None:
                self.stop_reason = "failures"
                self.display.message(f"{self._fail_streak} trials failed in a row: stopping the sweep")
        elif trial.state is TrialState.COMPLETE:
            self._fail_streak = 0
        tail = proc.tail(10) if trial.state is TrialState.FAILED else None
        self.display.trial_finished(trial, tail)

    def _retry(self, r: RunningTrial, info: dict[str, Any], reason: str, attempts: list[dict[str, Any]]) -> bool:
        """Queue attempt n+1 of a trial that failed on its own, while --retries allows (see retries.py)."""
        if (not attempts or len(attempts) > self.opts.retries or self.stop_reason is not None
                or r.objective_never_printed or not retryable(r.proc)):
            return False
        attempts[-1]["log"] = keep_attempt_log(r.trial.info.get("log"), len(attempts))
        self.study.update_info(r.trial, **info)
        self.retry_queue.append(self.study.trials[r.trial.number])
        self.display.message(f"trial {r.trial.number} failed ({reason}): running it again "
                             f"(attempt {len(attempts) + 1} of {self.opts.retries + 1}, --retries)")
        return True

    def _give_up_retries(self) -> None:
        """The sweep stopped before a queued attempt ran: the trial ends as its last attempt did."""
        for trial in self.retry_queue:
            try:
                last = (trial.info.get("attempts") or [{}])[-1]
                self.study.tell(trial, state=TrialState.FAILED, info={"reason": last.get("reason", "not retried")})
            except HposweepError as exc:
                self.display.message(f"trial {trial.number}: not recorded ({exc.message})")
        self.retry_queue.clear()

    def _outcome(self, r: RunningTrial) -> tuple[list[float] | None, str | None]:
        out = trial_outcome(r.proc, r.tracker, self.opts.objective, self.opts.timeout, bool(self.opts.metric_regex))
        if out.launch_error is not None:
            self._launch_error = out.launch_error
        r.objective_never_printed = out.objective_never_printed
        return out.values, out.reason



__all__ = ["RunOptions", "RunResult", "Runner", "dumps_json", "parse_gpus", "pruning_steps_saved",
           "summary_json"]
