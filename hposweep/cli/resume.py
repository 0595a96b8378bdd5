"""``worker`` and ``resume``: continue a study with the settings it recorded (``resume`` may change a few).

Both rebuild the run options from the checkpoint's settings (:func:`options_from_settings`), so a study
resumed or joined runs its trials exactly as the command that created it did, then hand over to
:func:`hposweep.cli.run.sweep`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hposweep.cli.format import err, fmt_value, plural
from hposweep.cli.options import (
    Command,
    JsonOut,
    LogEvery,
    NoProgress,
    Quiet,
    ResumeCommand,
    ResumeGrace,
    ResumeMaxFailures,
    ResumeTimeout,
    StudyFile,
)
from hposweep.cli.run import parse_duration_flag, sweep
from hposweep.errors import UsageError
from hposweep.study.discovery import find_checkpoint


def worker(
    checkpoint: StudyFile,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Trials this worker runs at once.")] = 1,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", metavar="IDS", help="GPU ids for this worker's slots (0,1), or `auto`.")] = None,
    lease: Annotated[float | None, typer.Option(
        "--lease", metavar="SECONDS", help="Heartbeat lease in seconds (default: as recorded).")] = None,
    no_progress: NoProgress = False,
    quiet: Quiet = False,
    json_out: JsonOut = False,
    log_every: LogEvery = 60.0,
) -> None:
    """Join a study and run its trials until the target is reached; any number of workers may share one file.

    Example: for i in 1 2 3 4; do hposweep worker study.json & done; wait
    """
    from hposweep.execution.runner import parse_gpus
    from hposweep.study.api import Study

    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    # recover=False: the running trials belong to live workers; expired leases are re-run instead.
    study = Study.load(find_checkpoint(checkpoint), recover=False)
    opts, target = options_from_settings(study, jobs=jobs)
    opts.gpus = parse_gpus(gpus, jobs) if gpus else None
    if lease is not None:
        if lease <= 0:
            raise UsageError("--lease must be a positive number of seconds")
        opts.lease = lease
    sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out, log_every=log_every)


def options_from_settings(study: Any, *, jobs: int | None = None, time_budget: str | None = None) -> tuple[Any, int]:
    """Run options as recorded in the study's settings (resume and worker run trials the same way)."""
    from hposweep.execution.runner import RunOptions

    s = study.settings
    if not s.get("command"):
        raise UsageError(f"{study.path} records no command (was it made with the Python API?)")
    target = int(study.meta.get("target_trials") or s.get("trials") or 0)
    opts = RunOptions(
        command=s["command"], metrics=[m["name"] for m in s.get("metrics") or [{"name": s.get("metric")}]],
        shell=bool(s.get("shell")), pass_mode=s.get("pass", "args"), objective=s.get("objective", "last"),
        metric_regex=s.get("metric_regex"), timeout=s.get("timeout"),
        time_budget=parse_duration_flag(time_budget, "--time-budget") if time_budget else s.get("time_budget"),
        max_failures=int(s.get("max_failures", 5)), grace=float(s.get("grace", 10.0)),
        prune_grace=float(s.get("prune_grace", 10.0)), jobs=jobs or int(s.get("jobs") or 1), gpus=s.get("gpus"),
        lease=float(s.get("lease") or 60.0), executor=s.get("executor") or "local",
        ray_address=s.get("ray_address"), cpus_per_trial=float(s.get("cpus_per_trial") or 1.0),
        gpus_per_trial=float(s.get("gpus_per_trial") or 0.0), metric_target=s.get("metric_target"),
        max_reruns=int(s.get("max_reruns", 3)), retries=int(s.get("retries") or 0), tracking=s.get("tracking"),
        on_trial_end=s.get("on_trial_end"), on_trial_end_timeout=float(s.get("on_trial_end_timeout") or 30.0),
    )
    return opts, target


def resume(
    checkpoint: StudyFile,
    command: Command = None,
    trials: Annotated[int | None, typer.Option(
        "--trials", "-n", metavar="N", help="Raise the target number of finished trials.")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", metavar="N", help="Trials to run at once (default: as recorded).")] = None,
    time_budget: Annotated[str | None, typer.Option(
        "--time-budget", metavar="DURATION", help="A new wall-clock budget for the whole sweep.")] = None,
    timeout: ResumeTimeout = None,
    max_failures: ResumeMaxFailures = None,
    grace: ResumeGrace = None,
    no_progress: NoProgress = False,
    quiet: Quiet = False,
    json_out: JsonOut = False,
    log_every: LogEvery = 60.0,
    new_command: ResumeCommand = None,
) -> None:
    """Continue a study where it stopped: interrupted trials are re-run first.

    --timeout, --max-failures and --grace replace the recorded values from now on (they are saved).
    Example: hposweep resume hposweep-study.json --trials 80 --timeout 2h
    """
    from hposweep.study.api import Study

    changes: dict[str, Any] = {}
    if timeout is not None:
        changes["timeout"] = parse_duration_flag(timeout, "--timeout")
    if max_failures is not None:
        if max_failures < 0:
            raise UsageError("--max-failures must be 0 (never stop) or more")
        changes["max_failures"] = max_failures
    if grace is not None:
        if not grace >= 0:
            raise UsageError("--grace must be 0 or more seconds")
        changes["grace"] = float(grace)
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    study = Study.load(find_checkpoint(checkpoint))
    # In memory: close() writes them into the snapshot at the end of this session (the Study API has
    # no journal event for settings yet, so a resume killed with SIGKILL keeps the old ones).
    study.settings.update(changes)
    from hposweep.execution.options import replace_command

    changed = replace_command(study, new_command, command)
    if changed:
        err(f"[hposweep] {changed}")
    opts, target = options_from_settings(study, jobs=jobs, time_budget=time_budget)
    for key, value in changes.items():
        err(f"[hposweep] {key.replace('_', '-')}: {fmt_value(value)} from now on")
    if trials is not None:
        if trials < target:
            err(f"[hposweep] note: --trials {trials} is below the recorded target {target}; keeping {target}")
        target = max(target, trials)
        study.update_meta(target_trials=target)
    if time_budget:
        study.update_meta(time_used=0.0)
    if study.n_finished >= target:
        err(f"[hposweep] the study already has {plural(study.n_finished, 'finished trial')} (target {target}); "
            "pass --trials N to run more")
    sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out, log_every=log_every)
