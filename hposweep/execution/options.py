"""What a sweep is asked to do (:class:`RunOptions`), what it did (:class:`RunResult`), and the small
facts the runner gathers before the first trial (GPUs, the logs folder, the git commit).

Kept apart from the loop in :mod:`hposweep.execution.runner`: the CLI builds and validates these before
any trial runs, and ``resume`` rebuilds them from the study's settings.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import TrialState
from hposweep.study.rows import trial_record

if TYPE_CHECKING:
    from hposweep.study.api import Study


@dataclass
class RunOptions:
    """How trials are run. Stored in the study's settings so ``resume`` runs them the same way."""

    command: list[str] | str
    metrics: list[str]
    shell: bool = False
    pass_mode: str = "args"
    objective: str = "last"  # last | best
    metric_regex: str | None = None
    timeout: float | None = None  # per trial, seconds
    time_budget: float | None = None  # whole sweep, seconds
    max_failures: int = 5  # in a row
    grace: float = 10.0  # SIGTERM -> SIGKILL for timeouts and Ctrl-C
    prune_grace: float = 10.0
    jobs: int = 1
    gpus: list[str] | None = None
    cwd: str | None = None
    logs_dir: str | None = None
    lease: float = 60.0  # a running trial whose worker sent no heartbeat for this long is re-run
    executor: str = "local"  # local | ray
    ray_address: str | None = None  # None: RAY_ADDRESS, else a local Ray instance
    cpus_per_trial: float = 1.0  # Ray resource requests per trial
    gpus_per_trial: float = 0.0
    #: stop starting trials once a complete trial's (first) objective reaches this value (W&B ``metric.target``)
    metric_target: float | None = None
    max_reruns: int = 3  # a trial lost with its Ray node this many times more is failed, not re-run again
    #: run each trial inside its own folder (``<study>.trials/000007``) instead of the user's folder
    trial_cwd: bool = False
    #: a failed trial (exit, signal, timeout without reports) is run again with the same params this many times
    retries: int = 0
    #: experiment trackers as written in ``tracking:`` / ``--track`` (see hposweep.spacefile.tracking)
    tracking: list[Any] | None = None
    #: a shell command run after each trial, its JSON row on stdin (see :mod:`hposweep.execution.hooks`)
    on_trial_end: str | None = None
    on_trial_end_timeout: float = 30.0

    def to_settings(self) -> dict[str, Any]:
        return {
            "command": self.command, "shell": self.shell, "pass": self.pass_mode, "objective": self.objective,
            "metric_regex": self.metric_regex, "timeout": self.timeout, "time_budget": self.time_budget,
            "max_failures": self.max_failures, "grace": self.grace, "prune_grace": self.prune_grace,
            "jobs": self.jobs, "gpus": self.gpus, "lease": self.lease, "executor": self.executor,
            "ray_address": self.ray_address, "cpus_per_trial": self.cpus_per_trial,
            "gpus_per_trial": self.gpus_per_trial, "metric_target": self.metric_target,
            "max_reruns": self.max_reruns, "trial_cwd": self.trial_cwd, "retries": self.retries,
            "tracking": self.tracking, "on_trial_end": self.on_trial_end,
            "on_trial_end_timeout": self.on_trial_end_timeout,
        }


def run_hook_options(*, retries: int, max_reruns: int, track: list[str] | None, settings: dict[str, Any],
                     on_trial_end: str | None, on_trial_end_timeout: float) -> dict[str, Any]:
    """The RunOptions of ``--retries``, ``--max-reruns``, ``--track`` and ``--on-trial-end`` (the command line
    wins over the space file's ``tracking:`` / ``on_trial_end:``), checked before anything is written."""
    import math

    from hposweep.errors import ConfigError, UsageError
    from hposweep.spacefile.tracking import parse_tracking

    if retries < 0:
        raise UsageError("--retries must be 0 or more")
    if max_reruns < 0:
        raise UsageError("--max-reruns must be 0 or more")
    if not (math.isfinite(on_trial_end_timeout) and on_trial_end_timeout > 0):
        raise UsageError("--on-trial-end-timeout must be a positive number of seconds")
    tracking: list[Any] | None = settings.get("tracking")
    if track:
        try:
            parse_tracking(list(track))
        except ConfigError as exc:
            raise UsageError(f"--track: {exc.message.removeprefix('tracking: ')}", hint=exc.hint) from None
        tracking = [t for t in track if t.strip().lower() != "none"] or None
    hook = on_trial_end if on_trial_end is not None else settings.get("on_trial_end")
    if hook is not None and not hook.strip():
        raise UsageError("--on-trial-end is empty", hint="e.g. --on-trial-end 'notify-send \"trial {trial}: {state}\"'")
    return {"retries": retries, "max_reruns": max_reruns, "tracking": tracking, "on_trial_end": hook,
            "on_trial_end_timeout": float(on_trial_end_timeout)}


def replace_command(study: Study, option: str | None, after_dashes: list[str] | None) -> str | None:
    """``resume --command '...'`` (or the words after ``--``): the command for the trials still to run.

    The study keeps every change in ``meta["command_changes"]`` (when, from what, to what); each trial's
    ``info["argv"]`` says what it ran, so ``show`` tells old trials from new. Returns a line to print.
    """
    import shlex
    import time

    from hposweep.errors import UsageError

    if option is not None and after_dashes:
        raise UsageError("give the new command with --command or after `--`, not both")
    if option is None and not after_dashes:
        return None
    shell = bool(study.settings.get("shell"))
    new: list[str] | str
    if option is not None:
        if not option.strip():
            raise UsageError("--command is empty")
        new = option if shell else shlex.split(option)
    else:
        assert after_dashes is not None
        new = " ".join(after_dashes) if shell else list(after_dashes)
    old = study.settings.get("command")
    if new == old:
        return None
    changes = list(study.meta.get("command_changes") or [])
    changes.append({"at": time.time(), "from": old, "to": new, "from_trial": len(study.trials)})
    with study.batch():
        # a settings event, not only the in-memory setting: a resume killed before it compacts must leave
        # the new command recorded, or workers and the next resume would run the old one again
        study.update_settings(command=new)
        study.update_meta(command_changes=changes)
    shown = new if isinstance(new, str) else shlex.join(new)
    was = old if isinstance(old, str) else shlex.join(old or [])
    return f"command: {shown} from trial {len(study.trials)} on (was: {was})"


@dataclass
class RunResult:
    exit_code: int
    message: str
    started: int = 0
    #: None | "interrupt" | "time_budget" | "failures" | "exhausted" | "target" | "config"
    stopped_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the sweep stopped on a configuration mistake (the objective is never printed) before any trial
    #: completed: the study holds nothing worth keeping, so the CLI removes its checkpoint and logs
    config_error: bool = False


def git_commit(cwd: str) -> str | None:
    """The commit of the working directory, when it is a git repository (once per sweep)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    commit = out.stdout.strip()
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        dirty = ""
    return commit + ("-dirty" if dirty else "")


def parse_gpus(spec: str | None, jobs: int) -> list[str] | None:
    """``--gpus 0,1,2`` or ``auto`` (CUDA_VISIBLE_DEVICES, else ``nvidia-smi -L``)."""
    if spec is None:
        return None
    spec = spec.strip()
    if spec == "auto":
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        if env is not None and env.strip() and env.strip() not in ("-1", "NoDevFiles"):
            return [g.strip() for g in env.split(",") if g.strip()]
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            out = None
        gpus = []
        if out is not None and out.returncode == 0:
            for line in out.stdout.splitlines():
                if line.startswith("GPU "):
                    gpus.append(line.split(":")[0][4:].strip())
        if not gpus:
            from hposweep.errors import UsageError

            raise UsageError(
                "--gpus auto found no GPU (CUDA_VISIBLE_DEVICES is unset and `nvidia-smi -L` lists none)",
                hint="pass the GPU ids explicitly, e.g. --gpus 0,1, or drop --gpus",
            )
        return gpus
    gpus = [g.strip() for g in spec.split(",") if g.strip()]
    if not gpus:
        from hposweep.errors import UsageError

        raise UsageError(f"--gpus {spec!r} names no GPU", hint="e.g. --gpus 0,1,2,3 or --gpus auto")
    return gpus


def pruning_steps_saved(study: Study) -> int:
    """Steps pruned trials did not run: the longest complete trial's last step minus each pruning step."""
    full = [t.last_step for t in study.trials if t.state is TrialState.COMPLETE and t.last_step is not None]
    if not full:
        return 0
    longest = max(full)
    return sum(int(max(0, longest - float(t.info.get("pruned_at_step", t.last_step or 0))))
               for t in study.trials if t.state is TrialState.PRUNED)


def summary_json(study: Study, result: RunResult) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    out: dict[str, Any] = {
        "status": result.message,
        "exit_code": result.exit_code,
        "stopped_by": result.stopped_by,
        "checkpoint": study.path,
        "n_trials": len(study.trials),
        "states": counts,
        "directions": list(study.directions),
        "metrics": study.settings.get("metrics"),
        "pruning_steps_saved": pruning_steps_saved(study),
    }
    if study.is_multi_objective:
        out["best_trials"] = [trial_record(study, t) for t in study.best_trials]
    else:
        best = study.best_trial
        out["best"] = None if best is None else trial_record(study, best)
    return out


def dumps_json(obj: Any) -> str:
    return json.dumps(obj, default=str)
