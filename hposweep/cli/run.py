"""``run`` and ``create``: turn flags and a space file into a new study and a sweep (``resume``, ``worker``: :mod:`.resume`).

Thin on purpose: flags are checked here, before anything is written, then a
:class:`~hposweep.study.api.Study` and :class:`~hposweep.execution.runner.RunOptions` go to the
:class:`~hposweep.execution.runner.Runner`. numpy, the samplers and the runner are imported inside the
commands, so ``hposweep --help`` does not pay for them.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from hposweep.cli.format import err, fmt_params, fmt_spec, fmt_value, out, plural
from hposweep.cli.options import (
    AllowOverride,
    Command,
    CpusPerTrial,
    Direction,
    DryRun,
    Executor,
    Force,
    Gpus,
    GpusPerTrial,
    Grace,
    GroupWritable,
    Jobs,
    JsonOut,
    Lease,
    LogEvery,
    MaxFailures,
    MaxReruns,
    Metric,
    MetricRegex,
    NewCheckpoint,
    NoProgress,
    Objective,
    OnTrialEnd,
    OnTrialEndTimeout,
    PassMode,
    PruneGrace,
    Pruner,
    Quiet,
    RayAddress,
    Retries,
    Sampler,
    Seed,
    Shell,
    Space,
    Takeover,
    TimeBudget,
    Timeout,
    Track,
    TrialCwd,
    Trials,
    WarmStart,
    WarmStartMetric,
)
from hposweep.cli.options import Constraint as ConstraintOpt
from hposweep.cli.preflight import (
    backup_study,
    check_command_expands,
    check_command_found,
    check_new_checkpoint,
    check_overrides,
    check_sampler,
    check_seconds,
    check_seed,
    discard_new_study,
    prepare_logs_folder,
    replace_held_study,
    spec_name,
)
from hposweep.cli.warmstart import warm_start_sources
from hposweep.core.trial import TrialState
from hposweep.errors import EXIT_USAGE, HposweepError, UsageError
from hposweep.study.discovery import DEFAULT_CHECKPOINT, trial_dir_for

#: ``run`` and ``create`` pass everything after the options to the trial command untouched
RUN_CONTEXT = {"allow_interspersed_args": False}


def parse_duration_flag(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    from hposweep.execution.executors.local import parse_duration

    try:
        return parse_duration(value)
    except HposweepError as exc:
        raise UsageError(f"{flag}: {exc.message}", hint=exc.hint or "e.g. 90s, 30m, 2h, 1h30m") from None


def _objectives(metric: list[str] | None, direction: list[str] | None, settings: dict[str, Any]) -> tuple[
        list[str], list[str]]:
    """Metric names and directions: CLI flags, else the YAML, else a clear error."""
    if metric:
        directions = list(direction or [])
        if len(directions) > len(metric):
            raise UsageError("more --direction flags than --metric flags")
        yaml_dirs = {m["name"]: m.get("direction", "minimize") for m in settings.get("metrics") or []}
        if settings.get("metric"):
            yaml_dirs.setdefault(settings["metric"], settings.get("direction", "minimize"))
        for name in metric[len(directions):]:
            directions.append(yaml_dirs.get(name, "minimize"))
        names = list(metric)
    elif settings.get("metrics"):
        names = [m["name"] for m in settings["metrics"]]
        directions = [m.get("direction", "minimize") for m in settings["metrics"]]
        if direction:
            if len(direction) != len(names):
                raise UsageError("give one --direction per metric")
            directions = list(direction)
    elif settings.get("metric"):
        names = [settings["metric"]]
        directions = [direction[0] if direction else settings.get("direction", "minimize")]
    else:
        raise UsageError(
            "no metric to optimize",
            hint="pass --metric NAME (e.g. --metric val_loss --direction minimize) or set `metric:` in the space file",
        )
    for d in directions:
        if d not in ("minimize", "maximize"):
            raise UsageError(f"--direction must be minimize or maximize, got {d!r}")
    if len(set(names)) != len(names):
        raise UsageError("the same metric is named twice")
    return names, directions


def _with_yaml_options(flag: str | None, yaml_spec: Any) -> Any:
    """``--sampler NAME`` / ``--pruner NAME`` win over the YAML, but keep the YAML's options when
    the YAML names the same one (``pruner: {name: median, n_warmup_steps: 3}`` + ``--pruner median``)."""
    if flag is None:
        return yaml_spec
    if isinstance(yaml_spec, dict) and yaml_spec.get("name") == flag:
        return yaml_spec
    return flag


def _display_mode(quiet: bool, no_progress: bool, json_out: bool) -> str:
    """quiet: nothing but the summary; plain: one line per event (CI, pipes, --no-progress, CI=...);
    auto: the live view when stderr is a terminal. ``--json`` only changes what goes to stdout."""
    if quiet:
        return "quiet"
    if no_progress or not sys.stderr.isatty() or os.environ.get("CI"):
        return "plain"
    return "auto"


# --- run / create ----------------------------------------------------------------------------------
def run(
    space: Space,
    command: Command = None,
    trials: Trials = None,
    metric: Metric = None,
    direction: Direction = None,
    sampler: Sampler = None,
    pruner: Pruner = None,
    seed: Seed = None,
    checkpoint: NewCheckpoint = DEFAULT_CHECKPOINT,
    timeout: Timeout = None,
    time_budget: TimeBudget = None,
    max_failures: MaxFailures = 5,
    jobs: Jobs = 1,
    gpus: Gpus = None,
    pass_mode: PassMode = "args",
    shell: Shell = False,
    metric_regex: MetricRegex = None,
    objective: Objective = "last",
    grace: Grace = 10.0,
    prune_grace: PruneGrace = 10.0,
    dry_run: DryRun = False,
    allow_override: AllowOverride = False,
    force: Force = False,
    takeover: Takeover = False,
    group_writable: GroupWritable = False,
    no_progress: NoProgress = False,
    quiet: Quiet = False,
    json_out: JsonOut = False,
    log_every: LogEvery = 60.0,
    lease: Lease = 60.0,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    cpus_per_trial: CpusPerTrial = 1.0,
    gpus_per_trial: GpusPerTrial = 0.0,
    warm_start: WarmStart = None,
    warm_start_metric: WarmStartMetric = None,
    constraint: ConstraintOpt = None,
    trial_cwd: TrialCwd = False,
    retries: Retries = 0,
    max_reruns: MaxReruns = 3,
    track: Track = None,
    on_trial_end: OnTrialEnd = None,
    on_trial_end_timeout: OnTrialEndTimeout = 30.0,
    create_only: Annotated[bool, typer.Option("--create-only", hidden=True)] = False,
) -> None:
    """Run a sweep: each trial runs COMMAND with the trial's params.

    Example: hposweep run --space space.yaml --trials 50 -- python train.py --epochs 10
    """
    from hposweep.execution.options import run_hook_options
    from hposweep.execution.runner import RunOptions
    from hposweep.spacefile import load_config

    check_new_checkpoint(checkpoint)
    check_seed(seed)
    check_seconds("--grace", grace)
    check_seconds("--prune-grace", prune_grace)
    check_seconds("--lease", lease, positive=True)
    check_seconds("--log-every", log_every)
    check_seconds("--cpus-per-trial", cpus_per_trial)
    check_seconds("--gpus-per-trial", gpus_per_trial)
    cfg = load_config(space)
    settings = cfg.settings
    cmd: list[str] | str | None = list(command) if command else settings.get("command")
    if not cmd:
        raise UsageError(
            "no command to run",
            hint="put the training command after `--`: hposweep run --space s.yaml -- python train.py",
        )
    if shell:
        cmd = cmd if isinstance(cmd, str) else " ".join(cmd)
    elif isinstance(cmd, str):
        import shlex

        cmd = shlex.split(cmd)
    names, directions = _objectives(metric, direction, settings)
    if pass_mode not in ("args", "hydra", "none"):
        raise UsageError(f"--pass must be args, hydra or none, got {pass_mode!r}")
    if objective not in ("last", "best"):
        raise UsageError(f"--objective must be last or best, got {objective!r}")
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if max_failures < 0:
        raise UsageError("--max-failures must be 0 (never stop) or more")
    sampler_spec: Any = _with_yaml_options(sampler, settings.get("sampler"))
    if sampler_spec is None:
        from hposweep.samplers import default_sampler

        sampler_spec = default_sampler(len(directions))
    pruner_spec: Any = _with_yaml_options(pruner, settings.get("pruner"))
    seed_value = seed if seed is not None else settings.get("seed")
    if seed is None:
        check_seed(seed_value, f"{space}: seed")
    opts = RunOptions(
        command=cmd, metrics=names, shell=shell, pass_mode=pass_mode, objective=objective,
        metric_regex=metric_regex, timeout=parse_duration_flag(timeout, "--timeout"),
        time_budget=parse_duration_flag(time_budget, "--time-budget"), max_failures=max_failures, grace=grace,
        prune_grace=prune_grace, jobs=jobs, gpus=None, lease=lease, executor=executor, ray_address=ray_address,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, metric_target=settings.get("metric_target"),
        trial_cwd=trial_cwd,
        **run_hook_options(retries=retries, max_reruns=max_reruns, track=track, settings=settings,
                           on_trial_end=on_trial_end, on_trial_end_timeout=on_trial_end_timeout),
    )
    if executor not in ("local", "ray"):
        raise UsageError(f"--executor must be local or ray, got {executor!r}")
    if executor == "ray" and gpus:
        raise UsageError("--gpus is for local trials; with --executor ray use --gpus-per-trial (Ray assigns GPUs)")
    if lease <= 0:
        raise UsageError("--lease must be a positive number of seconds")
    if metric_regex:
        from hposweep.execution.metrics import MetricParser

        try:
            MetricParser(metric_regex, default_name=names[0])
        except HposweepError as exc:
            raise UsageError(f"--metric-regex: {exc.message}", hint=exc.hint) from None
    from hposweep.execution.runner import parse_gpus
    from hposweep.study.api import Study

    opts.gpus = parse_gpus(gpus, jobs)
    target = trials if trials is not None else settings.get("trials")
    study_settings = {
        "metrics": [{"name": n, "direction": d} for n, d in zip(names, directions)],
        "metric": names[0],
        "space_file": os.path.abspath(space),
        **opts.to_settings(),
    }
    constraints = list(settings.get("constraints") or []) + list(constraint or [])
    priors = warm_start_sources(warm_start if warm_start else settings.get("warm_start"),
                                base=os.path.dirname(os.path.abspath(space)) if not warm_start else None)
    if group_writable:
        study_settings["group_writable"] = True
    study = Study(cfg.space, directions=directions, sampler=sampler_spec, pruner=pruner_spec, seed=seed_value,
                  settings=study_settings, constraints=constraints or None, warm_start=priors or None,
                  warm_start_metric=warm_start_metric)
    for note in study.warm_start_notes:
        err(f"[hposweep] {note}")
    if target is None:
        n_grid = cfg.space.n_configs() if spec_name(study.sampler_spec) == "grid" else None
        target = n_grid if n_grid else 50
    if target < 1:
        raise UsageError("--trials must be at least 1")
    study.settings["trials"] = target
    check_command_expands(opts, cfg.space)
    for note in check_overrides(opts, cfg.space, allow=allow_override):
        err(f"[hposweep] {note}")
    if executor == "local":
        check_command_found(opts.command, shell=shell)
    check_sampler(cfg.space, directions, sampler_spec, seed_value)
    if executor == "ray" and not dry_run:
        from hposweep.execution.executors import check_ray_resources, ray_init

        ray_init(ray_address)
        check_ray_resources(cpus_per_trial, gpus_per_trial)
    if dry_run:
        dry_run_trials(study, opts, checkpoint, n=min(max(jobs, 3), target))
        return
    if os.path.exists(checkpoint):
        if not force:
            raise UsageError(
                f"{checkpoint} already exists",
                hint=f"continue it with `hposweep resume {checkpoint}`, or pass --force to start over "
                "(the old file is kept as a backup)",
            )
        replace_held_study(checkpoint, takeover=takeover)
        backup = backup_study(checkpoint)
        err(f"[hposweep] moved the old study to {backup}")
    else:
        backup = None
    folder = os.path.dirname(os.path.abspath(checkpoint))
    os.makedirs(folder, exist_ok=True)
    study.save(checkpoint, group_writable=group_writable)
    prepare_logs_folder(checkpoint, group_writable)
    study.update_meta(target_trials=target)
    if create_only:
        study.close()
        err(f"[hposweep] created {checkpoint} ({plural(target, 'trial')}); "
            f"start workers with: hposweep worker {checkpoint}")
        return
    try:
        sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out, log_every=log_every)
    except (HposweepError, typer.Exit) as exc:
        from hposweep.study.storage import StorageError

        # A write that failed (a full disk) is not a configuration mistake: what was recorded stays.
        if (getattr(exc, "exit_code", None) == EXIT_USAGE and not isinstance(exc, StorageError)
                and not study.trials_in(TrialState.COMPLETE)):
            discard_new_study(study, checkpoint, backup)
        raise


def dry_run_trials(study: Any, opts: Any, checkpoint: str, n: int, *, heading: str | None = None) -> None:
    import shlex

    from hposweep.execution.argv import build_argv, build_shell_command, flag_styles, trial_env
    from hposweep.execution.trialdirs import FILE_STEM, command_tokens
    from hposweep.study.repeats import trial_seed

    out(heading or f"# dry run: the first {n} trial(s); nothing is run and {checkpoint} is not written")
    known, flags = list(study.space.params), flag_styles(study.space)
    for k in range(n):
        trial = study.ask()
        slot = k % opts.jobs
        seed = trial_seed(study.seed, trial.number, trial.info)
        where = os.path.abspath(trial_dir_for(checkpoint, trial.number))
        if opts.shell:
            cmd_text = build_shell_command(opts.command, trial.params, trial.number, opts.pass_mode, known=known,
                                           flags=flags, seed=seed, trial_dir=where)
        else:
            cmd_text = shlex.join(build_argv(command_tokens(opts, os.getcwd()), trial.params, trial.number,
                                             opts.pass_mode, known=known, flags=flags, seed=seed, trial_dir=where))
        if opts.trial_cwd:
            cmd_text = f"cd {shlex.quote(where)} && {cmd_text}"
        stem = os.path.join(where, FILE_STEM)
        env = trial_env({}, trial_number=trial.number, params=trial.params, params_file=stem + ".params.json",
                        metrics_file=stem + ".metrics.jsonl", study_path=os.path.abspath(checkpoint), slot=slot,
                        gpus=opts.gpus[slot % len(opts.gpus)] if opts.gpus else None, seed=seed, trial_dir=where,
                        user_cwd=os.getcwd())
        out(f"\n# trial {trial.number}")
        for key, value in env.items():
            out(f"{key}={shlex.quote(value)}")
        out(cmd_text)
        study.tell(trial, state="failed")  # so the next proposal differs, as in a real sweep


def sweep(study: Any, opts: Any, target: int, *, quiet: bool, no_progress: bool, json_out: bool,
          log_every: float = 60.0) -> None:
    from hposweep.cli.display import make_display
    from hposweep.execution.runner import Runner

    metric = ",".join(m["name"] for m in study.settings.get("metrics") or []) or "value"
    mode = _display_mode(quiet, no_progress, json_out)
    display = make_display(study, metric=metric, target=target, mode=mode, log_every=log_every)
    runner = Runner(study, opts, display, target=target)
    done = study.n_finished
    header = (f"{plural(target, 'trial')} ({done} done), sampler {study.describe_sampler()}, "
              f"{'pruner ' + fmt_spec(study.pruner_spec) if study.pruner_spec not in (None, 'none') else 'no pruning'}, "
              f"checkpoint {study.path}")
    display.start(header)
    try:
        result = runner.run()
    finally:
        display.stop()
        study.close()
    _print_summary(study, result, json_out=json_out, quiet=quiet)
    raise typer.Exit(result.exit_code)


def _print_summary(study: Any, result: Any, *, json_out: bool, quiet: bool) -> None:
    from hposweep.execution.runner import dumps_json, summary_json

    summary = summary_json(study, result)
    if json_out:
        out(dumps_json(summary))
    else:
        counts = ", ".join(f"{n} {s}" for s, n in summary["states"].items())
        out(f"{result.message}: {plural(len(study.trials), 'trial')} ({counts})")
        if study.is_multi_objective:
            from hposweep.cli.display import fmt_metrics
            from hposweep.study.rows import metric_names

            names = metric_names(study)
            for t in study.best_trials:
                out(f"  pareto trial {t.number}: {fmt_metrics(names, t.values)}  {fmt_params(t.params)}")
        else:
            best = study.best_trial
            if best is not None:
                out(f"best trial {best.number}: {study.settings.get('metric', 'value')}={fmt_value(best.value)}  "
                     f"{fmt_params(best.params)}")
        if not study.is_multi_objective and study.best_trial is not None:
            from hposweep.study.summary import digest_lines

            for text in digest_lines(study, "convergence (best so far)"):
                out(text)
        from hposweep.study.summary import study_notes

        for text in study_notes(study):
            out(text)
        n_pruned = summary["states"].get("pruned", 0)
        if n_pruned:
            out(f"pruning stopped {plural(n_pruned, 'trial')} early and saved "
                f"{plural(summary['pruning_steps_saved'], 'step')}")
    if result.stopped_by == "interrupt":
        err(f"[hposweep] interrupted; continue with: hposweep resume {study.path}")


def create(
    space: Space,
    command: Command = None,
    trials: Trials = None,
    metric: Metric = None,
    direction: Direction = None,
    sampler: Sampler = None,
    pruner: Pruner = None,
    seed: Seed = None,
    checkpoint: NewCheckpoint = DEFAULT_CHECKPOINT,
    timeout: Timeout = None,
    max_failures: MaxFailures = 5,
    pass_mode: PassMode = "args",
    shell: Shell = False,
    metric_regex: MetricRegex = None,
    objective: Objective = "last",
    grace: Grace = 10.0,
    prune_grace: PruneGrace = 10.0,
    lease: Lease = 60.0,
    force: Force = False,
    takeover: Takeover = False,
    group_writable: GroupWritable = False,
    trial_cwd: TrialCwd = False,
    warm_start: WarmStart = None,
    warm_start_metric: WarmStartMetric = None,
    constraint: ConstraintOpt = None,
) -> None:
    """Create a study without running it, for `hposweep worker` processes to share.

    --warm-start, --warm-start-metric and --constraint work as for `run` (checked the same way, before
    anything is written), so the workers' sampler starts from the priors and honours the constraints.
    Example: hposweep create --space space.yaml --trials 100 --checkpoint /nfs/sweep.json -- python train.py
    """
    run(command=command, space=space, trials=trials, metric=metric, direction=direction, sampler=sampler,
        pruner=pruner, seed=seed, checkpoint=checkpoint, timeout=timeout, time_budget=None,
        max_failures=max_failures, jobs=1, gpus=None, pass_mode=pass_mode, shell=shell, metric_regex=metric_regex,
        objective=objective, grace=grace, prune_grace=prune_grace, dry_run=False, force=force, takeover=takeover,
        group_writable=group_writable, no_progress=True,
        quiet=True, json_out=False, lease=lease, executor="local", ray_address=None, cpus_per_trial=1.0,
        gpus_per_trial=0.0, trial_cwd=trial_cwd, warm_start=warm_start, warm_start_metric=warm_start_metric,
        constraint=constraint, create_only=True)
