"""What the sweep tells the outside world as it goes: experiment trackers (``--track``, ``tracking:``) and the
user's ``--on-trial-end`` command.

Neither may fail a trial or the sweep: a tracker is behind :class:`~hposweep.integrations.tracking.SafeTracker`
(one warning, then off), and the command's failure (non-zero exit, its timeout, not found) is a warning.
The command runs in its own session, so a signal to a trial's group (or to hposweep's) never reaches it,
and its own time limit ends its whole group.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

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
    command = expand_hook_command(template, trial)
    env = {**os.environ, "HPOSWEEP_TRIAL": str(trial.number), "HPOSWEEP_TRIAL_STATE": trial.state.value}
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


class SweepHooks:
    """The trackers and the ``--on-trial-end`` command of one sweep, called by the runner."""

    def __init__(self, options: RunOptions, *, cwd: str, warn: Callable[[str], None]) -> None:
        self.warn = warn
        self.cwd = cwd
        self.command = options.on_trial_end
        self.timeout = options.on_trial_end_timeout
        configs = parse_tracking(options.tracking)
        self.tracking = bool(configs)
        if configs:
            from hposweep.integrations.trackers import make_tracker

            self.tracker = make_tracker(configs, lambda m: warn(f"warning: {m}"))
        else:
            self.tracker = Tracker()

    def sweep_start(self, study: Study) -> None:
        self.tracker.on_sweep_start(study)

    def trial_start(self, trial: Trial) -> None:
        self.tracker.on_trial_start(trial)

    def report(self, trial: Trial, step: Any, metrics: Mapping[str, float]) -> None:
        self.tracker.on_report(trial, step, metrics)

    def trial_end(self, study: Study, trial: Trial) -> None:
        log = trial.info.get("log")
        self.tracker.on_trial_end(trial, log if isinstance(log, str) else None)
        if self.command is None:
            return
        from hposweep.study.rows import trial_record

        try:
            row = trial_record(study, trial)
        except Exception as exc:  # noqa: BLE001 - a hook never fails the sweep
            row = {"number": trial.number, "state": trial.state.value, "error": str(exc)}
        why = run_hook_command(self.command, trial, row, cwd=self.cwd, timeout=self.timeout)
        if why is not None:
            self.warn(f"warning: trial {trial.number}: the --on-trial-end command failed ({why}); the sweep goes on")

    def sweep_end(self, study: Study) -> None:
        self.tracker.on_sweep_end(study)


__all__ = ["SweepHooks", "expand_hook_command", "run_hook_command"]
