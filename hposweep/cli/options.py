"""Every command-line option, declared once (``typing.Annotated``) and reused by the commands that take it.

``run`` and ``create`` take the same twenty options; ``resume`` and ``worker`` share the display flags.
Declaring each here once keeps their spelling, short forms and help text identical everywhere; a command
gives only its default (``trials: Trials = None``). Importing this module imports typer, so the fast path
of ``hposweep best`` (``entry.py``) never does.
"""

from __future__ import annotations

from typing import Annotated

import typer

# --- what to run ------------------------------------------------------------------------------------
Command = Annotated[list[str] | None, typer.Argument(
    metavar="-- COMMAND...", help="The training command and its arguments, after `--`.", show_default=False)]
Space = Annotated[str, typer.Option("--space", "-s", metavar="FILE", help="Search-space YAML file.")]
Trials = Annotated[int | None, typer.Option(
    "--trials", "-n", metavar="N", help="Finished trials to reach (default: YAML, else 50; grid: the whole grid).")]
Metric = Annotated[list[str] | None, typer.Option(
    "--metric", "-m", metavar="NAME", help="Metric to optimize (repeat for several objectives).")]
Direction = Annotated[list[str] | None, typer.Option(
    "--direction", "-d", metavar="DIRECTION", help="minimize or maximize (one per --metric).")]
Sampler = Annotated[str | None, typer.Option(
    "--sampler", metavar="NAME", help="auto, tpe, gp, cmaes, nsga2, random, grid (default: YAML, else auto).")]
Pruner = Annotated[str | None, typer.Option(
    "--pruner", metavar="NAME", help="none, median, percentile, asha, hyperband (default: YAML, else none).")]
Seed = Annotated[int | None, typer.Option("--seed", metavar="N", help="Random seed (same seed, same sequence of params).")]
NewCheckpoint = Annotated[str, typer.Option("--checkpoint", "-c", metavar="FILE", help="Study JSON file to write.")]
Force = Annotated[bool, typer.Option(
    "--force", help="Start over even if the checkpoint exists: the old study and its trial folders move to "
    "FILE.bak-DATE and FILE.bak-DATE.trials/ (older studies' logs: FILE.bak-DATE.logs/).")]
Takeover = Annotated[bool, typer.Option(
    "--takeover", help="Replace or continue a study that another live hposweep process is running (its workers "
    "stop at their next write and record nothing more). Without it, that is refused and says who holds it.")]
GroupWritable = Annotated[bool, typer.Option(
    "--group-writable", help="Make the checkpoint's files 0660 and its trial folders group-writable (setgid), for "
    "workers of one Unix group on a cluster; recorded, so later workers keep it (default: files 0600).")]

WarmStart = Annotated[list[str] | None, typer.Option(
    "--warm-start", metavar="STUDY", help="Earlier study whose finished trials the sampler learns from first "
    "(a checkpoint, optuna:FILE.log or optuna:sqlite:///x.db); repeatable. They are not trials of this study.")]
WarmStartMetric = Annotated[list[str] | None, typer.Option(
    "--warm-start-metric", metavar="OLDNAME", help="The old study's objective that stands for this one's "
    "(one per --metric) when the names or directions differ.")]
Constraint = Annotated[list[str] | None, typer.Option(
    "--constraint", metavar="EXPR", help="Outcome constraint on a reported metric, e.g. 'memory_gb <= 10' "
    "(repeatable): a trial breaking one is complete but infeasible, never the best.")]

# --- how each trial runs ------------------------------------------------------------------------------
Timeout = Annotated[str | None, typer.Option("--timeout", metavar="DURATION", help="Per-trial time limit: 90s, 30m, 2h.")]
MaxFailures = Annotated[int, typer.Option(
    "--max-failures", metavar="N", help="Stop after this many failed trials in a row (0: never).")]
PassMode = Annotated[str, typer.Option(
    "--pass", metavar="MODE", help="How params reach the command: args (--name=value), hydra (name=value), none.")]
Shell = Annotated[bool, typer.Option("--shell", help="Run the command through /bin/sh (one string).")]
MetricRegex = Annotated[str | None, typer.Option("--metric-regex", metavar="REGEX", help="Regex with named groups name/value/step.")]
Objective = Annotated[str, typer.Option("--objective", metavar="last|best", help="Trial value: `last` report of the metric, or its `best`.")]
Grace = Annotated[float, typer.Option("--grace", metavar="SECONDS", help="Seconds between SIGTERM and SIGKILL when stopping a trial.")]
PruneGrace = Annotated[float, typer.Option("--prune-grace", metavar="SECONDS", help="Grace period for pruned trials.")]
Lease = Annotated[float, typer.Option(
    "--lease", metavar="SECONDS", help="Seconds without a heartbeat after which another worker re-runs a trial.")]

Retries = Annotated[int, typer.Option(
    "--retries", metavar="N", help="Run a failed trial (non-zero exit, signal, timeout without reports) again with the "
    "same params, up to N more times, as attempts of the same trial.")]
MaxReruns = Annotated[int, typer.Option(
    "--max-reruns", metavar="N", help="Ray: re-run a trial lost with its node at most N times, then fail it.")]
Track = Annotated[list[str] | None, typer.Option(
    "--track", metavar="mlflow|wandb", help="Report the sweep and every trial to MLflow or W&B (repeat for both; "
    "default: YAML `tracking:`). MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME and WANDB_MODE are honoured.")]
OnTrialEnd = Annotated[str | None, typer.Option(
    "--on-trial-end", metavar="CMD", help="Shell command run after each trial with the trial's JSON row on stdin; "
    "{trial} {state} {value} are replaced, shell-quoted (default: YAML `on_trial_end:`). A failure is a warning.")]
OnTrialEndTimeout = Annotated[float, typer.Option(
    "--on-trial-end-timeout", metavar="SECONDS", help="Time limit of each --on-trial-end command.")]

# --- where and how many ---------------------------------------------------------------------------------
TimeBudget = Annotated[str | None, typer.Option("--time-budget", metavar="DURATION", help="Wall-clock limit for the whole sweep: 8h.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Trials to run at once.")]
Gpus = Annotated[str | None, typer.Option(
    "--gpus", metavar="IDS", help="GPU ids for the slots (0,1,2,3) or `auto`; sets CUDA_VISIBLE_DEVICES.")]
Executor = Annotated[str, typer.Option(
    "--executor", metavar="local|ray", help="local (subprocesses here) or ray (Ray tasks on a cluster; pip install \"hposweep[ray]\").")]
RayAddress = Annotated[str | None, typer.Option(
    "--ray-address", metavar="ADDRESS", help="Ray cluster: auto, HOST:6379 or ray://HOST:10001 (default: RAY_ADDRESS, else a local Ray).")]
CpusPerTrial = Annotated[float, typer.Option("--cpus-per-trial", metavar="N", help="Ray: CPUs each trial holds.")]
GpusPerTrial = Annotated[float, typer.Option("--gpus-per-trial", metavar="N", help="Ray: GPUs each trial holds (fractions allowed).")]
TrialCwd = Annotated[bool, typer.Option(
    "--trial-cwd", help="Run each trial inside its own folder (<study>.trials/000007, also $HPOSWEEP_TRIAL_DIR); "
    "arguments naming existing files here are made absolute, $HPOSWEEP_CWD is this folder.")]
AllowOverride = Annotated[bool, typer.Option(
    "--allow-override", help="Run even when the command already sets a parameter of the space (both values are "
    "passed, the command's first); without it, that is refused before anything is written.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the first trials' commands and environment; run nothing.")]

# --- what is shown ----------------------------------------------------------------------------------------
NoProgress = Annotated[bool, typer.Option(
    "--no-progress", help="One plain log line per event instead of the live display (the default without a terminal).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but the final summary.")]
JsonOut = Annotated[bool, typer.Option(
    "--json", help="Print the final summary as one JSON object on stdout (errors too: {\"error\": ..., \"exit_code\": 2}).")]
LogEvery = Annotated[float, typer.Option(
    "--log-every", metavar="SECONDS",
    help="Without a terminal: a line per running trial (latest value, step) every SECONDS (0: never).")]

# --- resume: change what the study recorded -----------------------------------------------------------
ResumeTimeout = Annotated[str | None, typer.Option(
    "--timeout", metavar="DURATION", help="A new per-trial time limit: 90s, 30m, 2h (default: as recorded).")]
ResumeMaxFailures = Annotated[int | None, typer.Option(
    "--max-failures", metavar="N", help="A new limit of failed trials in a row, 0: never (default: as recorded).")]
ResumeGrace = Annotated[float | None, typer.Option(
    "--grace", metavar="SECONDS", help="A new grace between SIGTERM and SIGKILL (default: as recorded).")]

ResumeDryRun = Annotated[bool, typer.Option(
    "--dry-run", help="Print the command, folder and environment of the next trials; run and write nothing.")]
RetryFailed = Annotated[bool, typer.Option(
    "--retry-failed", help="Re-run the failed trials' params first; the failed trials stop counting toward the target.")]
ResumeCommand = Annotated[str | None, typer.Option(
    "--command", metavar="COMMAND", help="A new command for the trials still to run (or give it after `--`); "
    "recorded with the time it changed.")]

# --- reading a study ------------------------------------------------------------------------------------
StudyFile = Annotated[str, typer.Argument(metavar="FILE", help="The study JSON file (or its folder).")]
MaybeStudyFile = Annotated[str | None, typer.Argument(
    metavar="[FILE]", help="The study JSON file or its folder (default: the study in this folder).", show_default=False)]
