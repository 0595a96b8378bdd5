"""What the sweep tells the outside world as it goes: experiment trackers (``--track``, ``tracking:``) and the
user's ``--on-trial-end`` command.

Neither may fail a trial or the sweep: a tracker is behind :class:`~hposweep.integrations.tracking.SafeTracker`
(one warning, then off), and the command's failure (non-zero exit, its timeout, not found) is a warning.
The command runs in its own session, so a signal to a trial's group (or to hposweep's) never reaches it,
and its own time limit ends its whole group.

Nor may the command slow the sweep: it runs off the runner's loop (:class:`HookQueue`), on as many
threads as the sweep runs trials at once, started in the order the trials ended (one at a time, so in
strict order, under ``--jobs 1``). Its trial's row is taken when the trial ends, on the loop's thread
(the study is not shared with the threads); its warnings are printed from the loop's thread too, at
the runner's next call. The sweep's end waits for the commands still to run, each within its own
time limit, so ``hposweep run`` never exits with a notification unsent.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shlex
import signal
import subprocess
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hposweep.core.background import Background
from hposweep.core.trial import Trial
from hposweep.integrations.tracking import Tracker, parse_tracking

if TYPE_CHECKING:
    from hposweep.execution.options import RunOptions
    from hposweep.study.api import Study

_PLACEHOLDER = re.compile(r"\{(trial|state|value)\}")


def expand_hook_command(template: str, trial: Trial) -> str:
    """``{trial}``, ``{state}`` and ``{value}`` replaced, each shell-quoted as one word (other braces stay)."""
    values = trial.values or []
    value = ",".join(f"{v:g}" for v in values) if values else ""
    words = {"trial": str(trial.number), "state": trial.state.value, "value": value}
    return _PLACEHOLDER.sub(lambda m: shlex.quote(words[m.group(1)]), template)


def run_hook_command(template: str, trial: Trial, row: Mapping[str, Any], *, cwd: str, timeout: float) -> str | None:
    """Run the user's command for one finished trial; None when it succeeded, else why it did not."""
    return run_expanded_hook(expand_hook_command(template, trial), trial.number, trial.state.value, row,
                             cwd=cwd, timeout=timeout)


def run_expanded_hook(command: str, number: int, state: str, row: Mapping[str, Any], *, cwd: str,
                      timeout: float) -> str | None:
    """:func:`run_hook_command` once the placeholders are filled in (what a :class:`HookQueue` thread runs)."""
    env = {**os.environ, "HPOSWEEP_TRIAL": str(number), "HPOSWEEP_TRIAL_STATE": state}
    try:
        proc = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return f"cannot start it: {exc.strerror or exc}"
    data = (json.dumps(row, default=str) + "\n").encode()
    try:
        _, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return f"it ran past its {timeout:g}s limit and was killed"
    except BrokenPipeError:  # it did not read its stdin: fine
        err = proc.communicate()[1] if proc.stderr else b""
    if proc.returncode != 0:
        last = [ln for ln in (err or b"").decode(errors="replace").splitlines() if ln.strip()]
        return f"exit code {proc.returncode}" + (f": {last[-1][:200]}" if last else "")
    return None


class HookQueue:
    """The ``--on-trial-end`` commands of one sweep, run on worker threads so the runner's loop never waits.

    ``workers`` threads (:class:`hposweep.core.background.Background`, started when first needed) take the
    trials in the order they were submitted; :meth:`close` waits for every submitted command, bounded by
    each one's time limit.
    """

    def __init__(self, template: str, *, cwd: str, timeout: float, workers: int = 1) -> None:
        self.template = template
        self.cwd = cwd
        self.timeout = timeout
        self._runner = Background("hposweep-hook", workers)
        self._warnings: queue.Queue[str] = queue.Queue()

    def submit(self, trial: Trial, row: Mapping[str, Any]) -> None:
        """Queue the command for ``trial``: its text and row are fixed now, on the caller's thread."""
        self._runner.submit(self._run, trial.number, trial.state.value, expand_hook_command(self.template, trial),
                            dict(row))

    def _run(self, number: int, state: str, command: str, row: dict[str, Any]) -> None:
        try:
            why = run_expanded_hook(command, number, state, row, cwd=self.cwd, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - a hook never fails the sweep
            why = f"{type(exc).__name__}: {exc}"
        if why is not None:
            self._warnings.put(f"warning: trial {number}: the --on-trial-end command failed ({why}); "
                               "the sweep goes on")

    def warnings(self) -> list[str]:
        """The warnings of the commands that failed since the last call."""
        out = []
        while True:
            try:
                out.append(self._warnings.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Wait for every submitted command (each within its time limit, plus a margin to kill and reap it)."""
        r = self._runner
        waves = math.ceil(r.submitted / r.workers) if r.submitted else 0
        r.close(waves * (self.timeout + 5.0))


class SweepHooks:
    """The trackers and the ``--on-trial-end`` command of one sweep, called by the runner."""

    def __init__(self, options: RunOptions, *, cwd: str, warn: Callable[[str], None]) -> None:
        self.warn = warn
        self.cwd = cwd
        self.command = options.on_trial_end
        self.timeout = options.on_trial_end_timeout
        self.queue = None if self.command is None else HookQueue(self.command, cwd=cwd, timeout=self.timeout,
                                                                  workers=options.jobs)
        configs = parse_tracking(options.tracking)
        self.tracking = bool(configs)
        if configs:
            from hposweep.integrations.trackers import make_tracker

            self.tracker = make_tracker(configs, lambda m: warn(f"warning: {m}"))
        else:
            self.tracker = Tracker()

    def _say_warnings(self) -> None:
        if self.queue is not None:
            for text in self.queue.warnings():
                self.warn(text)

    def sweep_start(self, study: Study) -> None:
        self.tracker.on_sweep_start(study)

    def trial_start(self, trial: Trial) -> None:
        self._say_warnings()
        self.tracker.on_trial_start(trial)

    def report(self, trial: Trial, step: Any, metrics: Mapping[str, float]) -> None:
        self.tracker.on_report(trial, step, metrics)

    def trial_end(self, study: Study, trial: Trial) -> None:
        log = trial.info.get("log")
        self.tracker.on_trial_end(trial, log if isinstance(log, str) else None)
        self._say_warnings()
        if self.queue is None:
            return
        from hposweep.study.rows import trial_record

        try:
            row = trial_record(study, trial)
        except Exception as exc:  # noqa: BLE001 - a hook never fails the sweep
            row = {"number": trial.number, "state": trial.state.value, "error": str(exc)}
        self.queue.submit(trial, row)

    def sweep_end(self, study: Study) -> None:
        """The trackers' end, then every ``--on-trial-end`` command still running or queued (bounded)."""
        try:
            self.tracker.on_sweep_end(study)
        finally:
            if self.queue is not None:
                self.queue.close()
                self._say_warnings()


__all__ = ["HookQueue", "SweepHooks", "expand_hook_command", "run_expanded_hook", "run_hook_command"]
