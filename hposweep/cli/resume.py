"""``worker`` and ``resume``: continue a study with the settings it recorded (``resume`` may change a few).

Both rebuild the run options from the checkpoint's settings (:func:`options_from_settings`), so a study
resumed or joined runs its trials exactly as the command that created it did, then hand over to
:func:`hposweep.cli.run.sweep`.

A checkpoint is data someone else may have written, and its ``command`` is what runs: so both first load it
read-only and check every recorded setting and queued param (exit 2, nothing written), and both say on
stderr which command they will run and where before the first trial. ``resume`` also refuses a study that a
live process is running (``hposweep worker`` is how to join one; ``--takeover`` when it is known dead).
"""

from __future__ import annotations

import os
import shlex
from typing import Annotated, Any

import typer

from hposweep.cli.format import err, fmt_value, plural
from hposweep.cli.options import (
    Command,
    GroupWritable,
    JsonOut,
    LogEvery,
    NoProgress,
    Quiet,
    ResumeCommand,
    ResumeDryRun,
    ResumeGrace,
    ResumeMaxFailures,
    ResumeTimeout,
    RetryFailed,
    StudyFile,
    Takeover,
)
from hposweep.cli.preflight import (
    check_queue,
    check_recorded_settings,
    check_seconds,
    describe_holders,
    prepare_logs_folder,
)
from hposweep.cli.run import parse_duration_flag, sweep
from hposweep.errors import UsageError
from hposweep.study.discovery import find_checkpoint, study_file


def worker(
    checkpoint: StudyFile,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Trials this worker runs at once.")] = 1,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", metavar="IDS", help="GPU ids for this worker's slots (0,1), or `auto`.")] = None,
    lease: Annotated[float | None, typer.Option(
        "--lease", metavar="SECONDS", help="Heartbeat lease in seconds (default: as recorded).")] = None,
    group_writable: GroupWritable = False,
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
    check_seconds("--lease", lease, positive=True)
    check_seconds("--log-every", log_every)
    path = find_checkpoint(checkpoint)
    preview = checked_study(path)
    group_writable = group_writable or bool(preview.settings.get("group_writable"))
    # recover=False: the running trials belong to live workers; expired leases are re-run instead.
    study = Study.load(path, recover=False, group_writable=group_writable)
    opts, target = options_from_settings(study, jobs=jobs)
    opts.gpus = parse_gpus(gpus, jobs) if gpus else None
    if lease is not None:
        opts.lease = lease
    prepare_logs_folder(path, group_writable)
    announce_command(study, opts)
    sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out, log_every=log_every)


def checked_study(path: str) -> Any:
    """The study at ``path`` loaded read-only, after its recorded settings and queue were checked."""
    from hposweep.study.api import Study

    study = Study.load(path, readonly=True)
    check_recorded_settings(study)
    check_queue(study)
    return study


def announce_command(study: Any, opts: Any) -> None:
    """Say what will run and where, before the first trial (stderr, always: the command comes from the
    checkpoint, which someone else may have written)."""
    text = opts.command if isinstance(opts.command, str) else shlex.join(opts.command)
    cwd = opts.cwd or os.getcwd()
    err(f"[hposweep] command: {text}{'  (through /bin/sh)' if opts.shell else ''}")
    err(f"[hposweep] working directory: {cwd}")
    recorded = next((t.info.get("cwd") for t in reversed(study.trials) if isinstance(t.info.get("cwd"), str)), None)
    if recorded and os.path.realpath(recorded) != os.path.realpath(cwd):
        err(f"[hposweep] note: this study's trials ran in {recorded} until now")


def options_from_settings(study: Any, *, jobs: int | None = None, time_budget: str | None = None) -> tuple[Any, int]:
    """Run options as recorded in the study's settings (resume and worker run trials the same way)."""
    from hposweep.execution.runner import RunOptions

    check_recorded_settings(study)
    s = study.settings
    command = s["command"]
    if isinstance(command, str) and not s.get("shell"):
        command = shlex.split(command)
    target = int(study.meta.get("target_trials") or s.get("trials") or 0)
    opts = RunOptions(
        command=command, metrics=[m["name"] for m in s.get("metrics") or [{"name": s.get("metric")}]],
        shell=bool(s.get("shell")), pass_mode=s.get("pass", "args"), objective=s.get("objective", "last"),
        metric_regex=s.get("metric_regex"), timeout=s.get("timeout"),
        time_budget=parse_duration_flag(time_budget, "--time-budget") if time_budget else s.get("time_budget"),
        max_failures=int(s.get("max_failures", 5)), grace=float(s.get("grace", 10.0)),
        prune_grace=float(s.get("prune_grace", 10.0)), jobs=jobs or int(s.get("jobs") or 1), gpus=s.get("gpus"),
        lease=float(s.get("lease") or 60.0), executor=s.get("executor") or "local",
        ray_address=s.get("ray_address"), cpus_per_trial=float(s.get("cpus_per_trial") or 1.0),
        gpus_per_trial=float(s.get("gpus_per_trial") or 0.0), metric_target=s.get("metric_target"),
        trial_cwd=bool(s.get("trial_cwd")),
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
    dry_run: ResumeDryRun = False,
    takeover: Takeover = False,
    group_writable: GroupWritable = False,
    no_progress: NoProgress = False,
    quiet: Quiet = False,
    json_out: JsonOut = False,
    log_every: LogEvery = 60.0,
    new_command: ResumeCommand = None,
    retry_failed: RetryFailed = False,
) -> None:
    """Continue a study where it stopped: interrupted trials are re-run first.

    --timeout, --max-failures and --grace replace the recorded values from now on (they are saved).
    --retry-failed (after fixing a bug) runs the failed trials' params again first, in trial-number order;
    the failed trials stay listed as `failed (retried as #N)` and stop counting toward the target.
    A study that another live process is running is refused (join it with `hposweep worker`).
    Examples: hposweep resume hposweep-study.json --trials 80 --timeout 2h;
    hposweep resume study.json --retry-failed --command 'python train_fixed.py'
    """
    from hposweep.study.api import Study
    from hposweep.study.discovery import live_holders

    changes: dict[str, Any] = {}
    if timeout is not None:
        changes["timeout"] = parse_duration_flag(timeout, "--timeout")
    if max_failures is not None:
        if max_failures < 0:
            raise UsageError("--max-failures must be 0 (never stop) or more")
        changes["max_failures"] = max_failures
    if grace is not None:
        check_seconds("--grace", grace)
        changes["grace"] = float(grace)
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    check_seconds("--log-every", log_every)
    if time_budget:
        parse_duration_flag(time_budget, "--time-budget")
    path = find_checkpoint(checkpoint)
    preview = checked_study(path)
    if dry_run:
        _resume_dry_run(preview, changes, jobs=jobs, trials=trials, retry_failed=retry_failed)
        return
    holders = live_holders(preview)
    if holders and not takeover:
        raise UsageError(
            f"{path} is being run by another live hposweep process: {describe_holders(holders)}",
            hint=f"to add workers to a running study use `hposweep worker {path}`; if that process is dead "
                 "(its machine went down), pass --takeover to continue the study here",
        )
    group_writable = group_writable or bool(preview.settings.get("group_writable"))
    study = Study.load(path, recover=False, group_writable=group_writable)
    if holders:
        study.take_over()
        err(f"[hposweep] took over {path} from {describe_holders(holders)}; that process stops at its next write")
    if retry_failed:  # before recover_running: the re-runs of interrupted trials still go first
        announce_retries(study, study.retry_failed())
    study.recover_running()
    if group_writable and not study.settings.get("group_writable"):
        changes["group_writable"] = True
    from hposweep.execution.options import replace_command

    changed = replace_command(study, new_command, command)
    if changed:
        err(f"[hposweep] {changed}")
    if changes:
        study.update_settings(**changes)
    opts, target = options_from_settings(study, jobs=jobs, time_budget=time_budget)
    for key, value in changes.items():
        if key != "group_writable":
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
    prepare_logs_folder(path, group_writable)
    announce_command(study, opts)
    sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out, log_every=log_every)


def announce_retries(study: Any, numbers: list[int]) -> None:
    """One line on stderr: which failed trials ``--retry-failed`` queued, or that there were none."""
    from hposweep.study.retry import is_retired

    if not numbers:
        retried = sum(1 for t in study.trials if is_retired(t))
        already = f" ({plural(retried, 'failed trial')} already retried)" if retried else ""
        err(f"[hposweep] --retry-failed: no failed trial to retry{already}; continuing")
        return
    shown = ", ".join(f"#{n}" for n in numbers[:20]) + (", ..." if len(numbers) > 20 else "")
    err(f"[hposweep] --retry-failed: re-running {plural(len(numbers), 'failed trial')} first ({shown}); "
        "they no longer count toward the target")


def _resume_dry_run(study: Any, changes: dict[str, Any], *, jobs: int | None, trials: int | None,
                    retry_failed: bool = False) -> None:
    """What ``resume`` would run next, from the study loaded read-only: failed trials (with
    ``--retry-failed``) and interrupted (and running) trials are queued first in memory, exactly as resume
    would; nothing is run and nothing is written."""
    from hposweep.cli.format import out
    from hposweep.cli.run import dry_run_trials

    study.settings.update(changes)
    if retry_failed:
        announce_retries(study, study.retry_failed())  # in memory only, as below
    study.recover_running()  # in memory only: a read-only study has no storage
    opts, target = options_from_settings(study, jobs=jobs)
    if trials is not None:
        target = max(target, trials)
    left = target - study.n_finished
    announce_command(study, opts)
    if left <= 0:
        out(f"# dry run: {study_file(study)} already has {plural(study.n_finished, 'finished trial')} (target {target}); "
            "resume would run nothing (pass --trials N to run more)")
        return
    n = min(max(opts.jobs, 3), left)
    dry_run_trials(study, opts, study_file(study) or "", n,
             heading=f"# dry run: the next {n} trial(s) of {study_file(study)}; nothing is run and nothing is written")
