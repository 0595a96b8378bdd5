"""The ``hposweep`` command line (typer). Thin: it parses flags, builds a Study, hands it to a Runner.

Exit codes (also in ``hposweep --help`` and README):

* 0  the sweep finished with at least one complete trial (``best``: a best trial exists)
* 1  no trial completed, or the failure limit (``--max-failures``) stopped the sweep
* 2  usage or configuration error (bad flag, bad space file, unreadable checkpoint)
* 130 interrupted (Ctrl-C / SIGTERM); ``hposweep resume`` continues

Imports of numpy, scipy and rich happen inside the commands that need them, so ``--help`` and
``best`` start fast.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Any

import typer

from hposweep.errors import EXIT_FAILED, EXIT_USAGE, HposweepError, UsageError

EXIT_CODES_HELP = (
    "Exit codes: 0 finished with at least one complete trial; 1 no trial completed or the failure "
    "limit was hit; 2 usage or configuration error; 130 interrupted (resume with `hposweep resume`)."
)

DEFAULT_CHECKPOINT = "hposweep-study.json"

app = typer.Typer(
    name="hposweep",
    help="Hyperparameter sweeps over your own training command.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_RUN_CONTEXT = {"allow_interspersed_args": False}


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


# --- shared helpers ---------------------------------------------------------------------------
def find_checkpoint(path: str | None) -> str:
    from hposweep.cli.inspect import find_checkpoint as find

    return find(path, DEFAULT_CHECKPOINT)


def _load_readonly(path: str | None) -> Any:
    from hposweep.study.api import Study

    return Study.load(find_checkpoint(path), readonly=True)


def _parse_duration(value: str | None, flag: str) -> float | None:
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


def _spec_text(spec: Any) -> str:
    if isinstance(spec, dict):
        opts = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
        return f"{spec.get('name')} ({opts})" if opts else str(spec.get("name"))
    return str(spec)


def _display_mode(quiet: bool, no_progress: bool, json_out: bool) -> str:
    """quiet: nothing but the summary; plain: one line per event (CI, pipes, --no-progress, CI=...);
    auto: the live view when stderr is a terminal. ``--json`` only changes what goes to stdout."""
    if quiet:
        return "quiet"
    if no_progress or not sys.stderr.isatty() or os.environ.get("CI"):
        return "plain"
    return "auto"


def _backup(path: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = f"{path}.bak-{stamp}"
    shutil.copy2(path, backup)
    from hposweep.study.storage import journal_path

    if os.path.exists(journal_path(path)):
        shutil.copy2(journal_path(path), journal_path(backup))
        os.unlink(journal_path(path))
    os.unlink(path)
    return backup


# --- run ---------------------------------------------------------------------------------------
@app.command(context_settings=_RUN_CONTEXT, epilog=EXIT_CODES_HELP)
def run(
    command: list[str] = typer.Argument(None, help="The training command, after `--`.", show_default=False),
    space: str = typer.Option(..., "--space", "-s", help="Search-space YAML file."),
    trials: int | None = typer.Option(None, "--trials", "-n", help="Finished trials to reach (default: YAML, else 50; grid: the whole grid)."),
    metric: list[str] | None = typer.Option(None, "--metric", "-m", help="Metric to optimize (repeat for several objectives)."),
    direction: list[str] | None = typer.Option(None, "--direction", "-d", help="minimize or maximize (one per --metric)."),
    sampler: str | None = typer.Option(None, help="auto, tpe, gp, cmaes, nsga2, random, grid (default: YAML, else auto)."),
    pruner: str | None = typer.Option(None, help="none, median, percentile, asha, hyperband (default: YAML, else none)."),
    seed: int | None = typer.Option(None, help="Random seed (same seed, same sequence of params)."),
    checkpoint: str = typer.Option(DEFAULT_CHECKPOINT, "--checkpoint", "-c", help="Study JSON file to write."),
    timeout: str | None = typer.Option(None, help="Per-trial time limit: 90s, 30m, 2h."),
    time_budget: str | None = typer.Option(None, "--time-budget", help="Wall-clock limit for the whole sweep: 8h."),
    max_failures: int = typer.Option(5, "--max-failures", help="Stop after this many failed trials in a row (0: never)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Trials to run at once."),
    gpus: str | None = typer.Option(None, help="GPU ids for the slots (0,1,2,3) or `auto`; sets CUDA_VISIBLE_DEVICES."),
    pass_mode: str = typer.Option("args", "--pass", help="How params reach the command: args (--name=value), hydra (name=value), none."),
    shell: bool = typer.Option(False, "--shell", help="Run the command through /bin/sh (one string)."),
    metric_regex: str | None = typer.Option(None, "--metric-regex", help="Regex with named groups name/value/step."),
    objective: str = typer.Option("last", help="Trial value: `last` report of the metric, or its `best`."),
    grace: float = typer.Option(10.0, help="Seconds between SIGTERM and SIGKILL when stopping a trial."),
    prune_grace: float = typer.Option(10.0, "--prune-grace", help="Grace period for pruned trials."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the first trials' commands and environment; run nothing."),
    force: bool = typer.Option(False, "--force", help="Start over even if the checkpoint exists (keeps a backup)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Plain log lines instead of the live display."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final summary."),
    json_out: bool = typer.Option(False, "--json", help="Print the final summary as one JSON object on stdout."),
    lease: float = typer.Option(60.0, "--lease", help="Seconds without a heartbeat after which another worker re-runs a trial."),
    executor: str = typer.Option("local", "--executor", help="local (subprocesses here) or ray (Ray tasks on a cluster; pip install \"hposweep[ray]\")."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster: auto, HOST:6379 or ray://HOST:10001 (default: RAY_ADDRESS, else a local Ray)."),
    cpus_per_trial: float = typer.Option(1.0, "--cpus-per-trial", help="Ray: CPUs each trial holds."),
    gpus_per_trial: float = typer.Option(0.0, "--gpus-per-trial", help="Ray: GPUs each trial holds (fractions allowed)."),
    create_only: bool = typer.Option(False, "--create-only", hidden=True),
) -> None:
    """Run a sweep: each trial runs COMMAND with the trial's params.

    Example: hposweep run --space space.yaml --trials 50 -- python train.py --epochs 10
    """
    from hposweep.execution.runner import RunOptions
    from hposweep.spacefile.config import load_config

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
    opts = RunOptions(
        command=cmd, metrics=names, shell=shell, pass_mode=pass_mode, objective=objective,
        metric_regex=metric_regex, timeout=_parse_duration(timeout, "--timeout"),
        time_budget=_parse_duration(time_budget, "--time-budget"), max_failures=max_failures, grace=grace,
        prune_grace=prune_grace, jobs=jobs, gpus=None, lease=lease, executor=executor, ray_address=ray_address,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
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
    study = Study(cfg.space, directions=directions, sampler=sampler_spec, pruner=pruner_spec, seed=seed_value,
                  settings=study_settings)
    if target is None:
        n_grid = cfg.space.n_configs() if study.sampler_spec == "grid" else None
        target = n_grid if n_grid else 50
    if target < 1:
        raise UsageError("--trials must be at least 1")
    study.settings["trials"] = target
    _check_command(opts, cfg.space)
    study.sampler  # noqa: B018 - build it now: a missing optional package fails before anything is written
    if executor == "ray" and not dry_run:
        from hposweep.execution.executors import check_ray_resources, ray_init

        ray_init(ray_address)
        check_ray_resources(cpus_per_trial, gpus_per_trial)
    if dry_run:
        _dry_run(study, opts, checkpoint, n=min(max(jobs, 3), target))
        return
    if os.path.exists(checkpoint):
        if not force:
            raise UsageError(
                f"{checkpoint} already exists",
                hint=f"continue it with `hposweep resume {checkpoint}`, or pass --force to start over "
                "(the old file is kept as a backup)",
            )
        backup = _backup(checkpoint)
        _err(f"[hposweep] moved the old study to {backup}")
    folder = os.path.dirname(os.path.abspath(checkpoint))
    os.makedirs(folder, exist_ok=True)
    study.save(checkpoint)
    study.update_meta(target_trials=target)
    if create_only:
        study.close()
        _err(f"[hposweep] created {checkpoint} ({target} trials); start workers with: hposweep worker {checkpoint}")
        return
    _sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out)


def _check_command(opts: Any, space: Any) -> None:
    """Expand the command once with every parameter set, so a bad placeholder fails before anything
    is written (not at the first trial, after the checkpoint was created)."""
    from hposweep.execution.argv import build_argv, build_shell_command

    example = {}
    for p in space:
        example[p.name] = p.value if p.is_fixed else (p.choices[0] if p.type == "categorical" else p.low)
    if opts.shell:
        build_shell_command(opts.command, example, 0, opts.pass_mode, known=list(example))
    else:
        build_argv(opts.command, example, 0, opts.pass_mode, known=list(example))


def _dry_run(study: Any, opts: Any, checkpoint: str, n: int) -> None:
    import shlex

    from hposweep.execution.argv import build_argv, build_shell_command, trial_env
    from hposweep.execution.runner import default_logs_dir as _default_logs_dir

    _out(f"# dry run: the first {n} trial(s); nothing is run and {checkpoint} is not written")
    known = list(study.space.params)
    logs = _default_logs_dir(os.path.abspath(checkpoint))
    for k in range(n):
        trial = study.ask()
        slot = k % opts.jobs
        if opts.shell:
            cmd_text = build_shell_command(opts.command, trial.params, trial.number, opts.pass_mode, known=known)
        else:
            cmd_text = shlex.join(build_argv(opts.command, trial.params, trial.number, opts.pass_mode, known=known))
        stem = os.path.join(logs, f"trial-{trial.number:04d}")
        env = trial_env({}, trial_number=trial.number, params=trial.params, params_file=stem + ".params.json",
                        metrics_file=stem + ".metrics.jsonl", study_path=os.path.abspath(checkpoint), slot=slot,
                        gpus=opts.gpus[slot % len(opts.gpus)] if opts.gpus else None)
        _out(f"\n# trial {trial.number}")
        for key, value in env.items():
            _out(f"{key}={shlex.quote(value)}")
        _out(cmd_text)
        study.tell(trial, state="failed")  # so the next proposal differs, as in a real sweep


def _sweep(study: Any, opts: Any, target: int, *, quiet: bool, no_progress: bool, json_out: bool) -> None:
    from hposweep.cli.display import make_display
    from hposweep.execution.runner import Runner

    metric = ",".join(m["name"] for m in study.settings.get("metrics") or []) or "value"
    mode = _display_mode(quiet, no_progress, json_out)
    display = make_display(study, metric=metric, target=target, mode=mode)
    runner = Runner(study, opts, display, target=target)
    done = study.n_finished
    header = (f"{target} trials ({done} done), sampler {study.describe_sampler()}, "
              f"{'pruner ' + _spec_text(study.pruner_spec) if study.pruner_spec not in (None, 'none') else 'no pruning'}, "
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
        _out(dumps_json(summary))
    else:
        from hposweep.cli.display import fmt_params, fmt_value

        counts = ", ".join(f"{n} {s}" for s, n in summary["states"].items())
        _out(f"{result.message}: {len(study.trials)} trials ({counts})")
        if study.is_multi_objective:
            for t in study.best_trials:
                _out(f"  pareto trial {t.number}: {', '.join(fmt_value(v) for v in t.values or [])}  "
                     f"{fmt_params(t.params)}")
        else:
            best = study.best_trial
            if best is not None:
                _out(f"best trial {best.number}: {study.settings.get('metric', 'value')}={fmt_value(best.value)}  "
                     f"{fmt_params(best.params)}")
        if not study.is_multi_objective and study.best_trial is not None:
            from hposweep.study.summary import convergence_sparkline, importance_lines

            line = convergence_sparkline(study)
            if line:
                _out(f"convergence (best so far): {line}")
            lines = importance_lines(study)
            if lines:
                _out("most important parameters:")
                for text in lines:
                    _out("  " + text)
        n_pruned = summary["states"].get("pruned", 0)
        if n_pruned:
            _out(f"pruning stopped {n_pruned} trials early and saved {summary['pruning_steps_saved']} steps")
    if result.stopped_by == "interrupt":
        _err(f"[hposweep] interrupted; continue with: hposweep resume {study.path}")


@app.command(context_settings=_RUN_CONTEXT)
def create(
    command: list[str] = typer.Argument(None, help="The training command, after `--`.", show_default=False),
    space: str = typer.Option(..., "--space", "-s", help="Search-space YAML file."),
    trials: int | None = typer.Option(None, "--trials", "-n", help="Finished trials to reach."),
    metric: list[str] | None = typer.Option(None, "--metric", "-m", help="Metric to optimize (repeat for several)."),
    direction: list[str] | None = typer.Option(None, "--direction", "-d", help="minimize or maximize."),
    sampler: str | None = typer.Option(None, help="Sampler name (default: YAML, else auto)."),
    pruner: str | None = typer.Option(None, help="Pruner name (default: YAML, else none)."),
    seed: int | None = typer.Option(None, help="Random seed."),
    checkpoint: str = typer.Option(DEFAULT_CHECKPOINT, "--checkpoint", "-c", help="Study JSON file to write."),
    timeout: str | None = typer.Option(None, help="Per-trial time limit: 90s, 30m, 2h."),
    max_failures: int = typer.Option(5, "--max-failures", help="Stop after this many failed trials in a row."),
    pass_mode: str = typer.Option("args", "--pass", help="args, hydra or none."),
    shell: bool = typer.Option(False, "--shell", help="Run the command through /bin/sh."),
    metric_regex: str | None = typer.Option(None, "--metric-regex", help="Regex with named groups name/value/step."),
    objective: str = typer.Option("last", help="last or best."),
    grace: float = typer.Option(10.0, help="Seconds between SIGTERM and SIGKILL."),
    prune_grace: float = typer.Option(10.0, "--prune-grace", help="Grace period for pruned trials."),
    lease: float = typer.Option(60.0, "--lease", help="Heartbeat lease of running trials, in seconds."),
    force: bool = typer.Option(False, "--force", help="Replace an existing checkpoint (keeps a backup)."),
) -> None:
    """Create a study without running it, for `hposweep worker` processes to share.

    Example: hposweep create --space space.yaml --trials 100 --checkpoint /nfs/sweep.json -- python train.py
    """
    run(command=command, space=space, trials=trials, metric=metric, direction=direction, sampler=sampler,
        pruner=pruner, seed=seed, checkpoint=checkpoint, timeout=timeout, time_budget=None,
        max_failures=max_failures, jobs=1, gpus=None, pass_mode=pass_mode, shell=shell, metric_regex=metric_regex,
        objective=objective, grace=grace, prune_grace=prune_grace, dry_run=False, force=force, no_progress=True,
        quiet=True, json_out=False, lease=lease, executor="local", ray_address=None, cpus_per_trial=1.0,
        gpus_per_trial=0.0, create_only=True)


@app.command(epilog=EXIT_CODES_HELP)
def worker(
    checkpoint: str = typer.Argument(..., help="The shared study JSON file (from `run` or `create`)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Trials this worker runs at once."),
    gpus: str | None = typer.Option(None, help="GPU ids for this worker's slots, or `auto`."),
    lease: float | None = typer.Option(None, "--lease", help="Heartbeat lease in seconds (default: as recorded)."),
    no_progress: bool = typer.Option(False, "--no-progress"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    json_out: bool = typer.Option(False, "--json"),
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
    opts, target = _options_from_settings(study, jobs=jobs)
    opts.gpus = parse_gpus(gpus, jobs) if gpus else None
    if lease is not None:
        if lease <= 0:
            raise UsageError("--lease must be a positive number of seconds")
        opts.lease = lease
    _sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out)


def _options_from_settings(study: Any, *, jobs: int | None = None, time_budget: str | None = None) -> tuple[Any, int]:
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
        time_budget=_parse_duration(time_budget, "--time-budget") if time_budget else s.get("time_budget"),
        max_failures=int(s.get("max_failures", 5)), grace=float(s.get("grace", 10.0)),
        prune_grace=float(s.get("prune_grace", 10.0)), jobs=jobs or int(s.get("jobs") or 1), gpus=s.get("gpus"),
        lease=float(s.get("lease") or 60.0), executor=s.get("executor") or "local",
        ray_address=s.get("ray_address"), cpus_per_trial=float(s.get("cpus_per_trial") or 1.0),
        gpus_per_trial=float(s.get("gpus_per_trial") or 0.0),
    )
    return opts, target


# --- resume ------------------------------------------------------------------------------------
@app.command(epilog=EXIT_CODES_HELP)
def resume(
    checkpoint: str = typer.Argument(..., help="The study JSON file."),
    trials: int | None = typer.Option(None, "--trials", "-n", help="Raise the target number of finished trials."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Trials to run at once (default: as recorded)."),
    time_budget: str | None = typer.Option(None, "--time-budget", help="A new wall-clock budget for the whole sweep."),
    no_progress: bool = typer.Option(False, "--no-progress"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Continue a study where it stopped: interrupted trials are re-run first.

    Example: hposweep resume hposweep-study.json --trials 80
    """
    from hposweep.study.api import Study

    study = Study.load(find_checkpoint(checkpoint))
    opts, target = _options_from_settings(study, jobs=jobs, time_budget=time_budget)
    if trials is not None:
        if trials < target:
            _err(f"[hposweep] note: --trials {trials} is below the recorded target {target}; keeping {target}")
        target = max(target, trials)
        study.update_meta(target_trials=target)
    if time_budget:
        study.update_meta(time_used=0.0)
    if study.n_finished >= target:
        _err(f"[hposweep] the study already has {study.n_finished} finished trials (target {target}); "
             "pass --trials N to run more")
    _sweep(study, opts, target, quiet=quiet, no_progress=no_progress, json_out=json_out)


# --- best / trials / show ------------------------------------------------------------------------
@app.command()
def best(
    checkpoint: str | None = typer.Argument(None, help="Study JSON (default: the study in this folder)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, yaml, args, env (multi-objective: csv too)."),
    pick: str | None = typer.Option(None, "--pick", help="Multi-objective: rule picking one trial, e.g. \"max val_acc where latency_ms<20\"."),
) -> None:
    """Print the best trial. Exit 1 when no trial has completed.

    Example: python train.py $(hposweep best --format args)
    """
    from hposweep.cli.inspect import print_best

    raise typer.Exit(print_best(_load_readonly(checkpoint), fmt, pick))


@app.command("trials")
def trials_cmd(
    checkpoint: str | None = typer.Argument(None, help="Study JSON (default: the study in this folder)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv."),
    state: str | None = typer.Option(None, "--state", help="Only trials in this state: complete, failed, pruned, interrupted, running."),
    sort: str | None = typer.Option(None, "--sort", help="number (default) or value (best first)."),
    top: int | None = typer.Option(None, "--top", help="Only the first N rows."),
) -> None:
    """List the trials of a study.

    Example: hposweep trials --state complete --sort value --top 10 --format csv
    """
    from hposweep.cli.inspect import print_trials

    print_trials(_load_readonly(checkpoint), fmt, state, sort, top)


@app.command()
def show(
    checkpoint: str = typer.Argument(..., help="Study JSON."),
    number: int = typer.Argument(..., help="Trial number."),
) -> None:
    """Show one trial in full: params, metrics, intermediate values, exit information, log tail.

    Example: hposweep show hposweep-study.json 7
    """
    from hposweep.cli.inspect import print_trial

    print_trial(_load_readonly(checkpoint), number)


# --- importance / report ---------------------------------------------------------------------------
@app.command()
def importance(
    checkpoint: str | None = typer.Argument(None, help="Study JSON (default: the study in this folder)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
    objective: str = typer.Option("0", "--objective", help="Multi-objective: the metric name or index."),
    bootstrap: int = typer.Option(100, "--bootstrap", help="Bootstrap resamples for the uncertainty (0: none)."),
) -> None:
    """Which parameters mattered: PED-ANOVA importance with bootstrap uncertainty.

    Example: hposweep importance runs/sweep.json --format json
    """
    from hposweep.analysis.importance import compute_importance

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown --format {fmt!r}", hint="choose table or json")
    study = _load_readonly(checkpoint)
    obj: int | str = int(objective) if objective.isdigit() else objective
    result = compute_importance(study, n_bootstrap=max(0, bootstrap), objective=obj)
    if fmt == "json":
        from hposweep.execution.runner import dumps_json

        _out(dumps_json(result.to_json()))
    else:
        _out(result.format_table())


@app.command()
def report(
    checkpoint: str | None = typer.Argument(None, help="Study JSON (default: the study in this folder)."),
    output: str = typer.Option("report.html", "--output", "-o", help="HTML file to write."),
    title: str | None = typer.Option(None, "--title", help="Title of the report."),
) -> None:
    """Write a self-contained HTML report (opens offline): history, importances, slices, contours, curves, trials.

    Needs the optional extra: pip install "hposweep[report]".
    Example: hposweep report runs/sweep.json -o report.html
    """
    from hposweep.report.page import write_report

    path = find_checkpoint(checkpoint)
    from hposweep.study.api import Study

    study = Study.load(path, readonly=True)
    size = write_report(study, output, title=title or f"Sweep report: {os.path.basename(path)}")
    _err(f"[hposweep] wrote {output} ({size / 1024:.0f} KiB); open it in a browser, no network needed")


# --- validate / parse-metrics ----------------------------------------------------------------------
@app.command()
def validate(space: str = typer.Argument(..., help="Search-space YAML file.")) -> None:
    """Check a search-space file and print the parsed space.

    Example: hposweep validate spaces/example.yaml
    """
    from rich.console import Console
    from rich.table import Table

    from hposweep.spacefile.config import load_config, space_table_rows

    cfg = load_config(space)
    table = Table(title=f"{space}: {len(cfg.space)} parameters")
    for col in ("name", "type", "range / choices", "scale", "condition"):
        table.add_column(col)
    from rich.markup import escape

    for row in space_table_rows(cfg.space):
        table.add_row(*(escape(cell) for cell in row))
    console = Console()
    console.print(table)
    n = cfg.space.n_configs()
    if n is not None:
        console.print(f"{n} distinct configurations")
    else:
        console.print("continuous space (infinitely many configurations)")
    if cfg.settings:
        console.print("settings: " + ", ".join(f"{k}={v}" for k, v in cfg.settings.items()))


@app.command("parse-metrics")
def parse_metrics(
    logfile: str = typer.Argument(..., help="A log file (or - for stdin) of your training script."),
    metric: list[str] | None = typer.Option(None, "--metric", "-m", help="The objective metric name(s)."),
    metric_regex: str | None = typer.Option(None, "--metric-regex", help="Regex with named groups name/value/step."),
    objective: str = typer.Option("last", help="last or best."),
    direction: str = typer.Option("minimize", "--direction"),
) -> None:
    """Show what hposweep would read from a training log (to check your script's output).

    Example: python train.py --lr 0.01 > log.txt; hposweep parse-metrics log.txt --metric val_loss
    """
    from hposweep.execution.metrics import MetricParser, MetricTracker

    try:
        data = sys.stdin.buffer.read() if logfile == "-" else open(logfile, "rb").read()
    except OSError as exc:
        raise UsageError(f"cannot read {logfile}: {exc.strerror}") from None
    names = list(metric or [])
    parser = MetricParser(metric_regex, default_name=names[0] if names else None)
    reports = parser.feed(data) + parser.flush()
    tracker = MetricTracker(names, [direction] * len(names)) if names else None
    for r in reports:
        step = tracker.add(r) if tracker else r.step
        mark = "*" if r.name in names else " "
        _out(f"{mark} {r.name} = {r.value!r}" + (f"  (step {step})" if step is not None else ""))
    if not reports:
        _err("no metrics found in this log")
    if tracker is not None:
        values = tracker.final_values(objective)
        missing = tracker.missing()
        if missing:
            _err(f"objective(s) not found: {', '.join(missing)}")
            raise typer.Exit(EXIT_FAILED)
        _out(f"trial value ({objective}): {', '.join(repr(v) for v in values or [])}")


def main() -> None:
    """Entry point: run the app, turn HposweepError into a message and an exit code."""
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        rc = app(standalone_mode=False)
    except HposweepError as exc:
        _err(f"error: {exc}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _err("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        # `hposweep trials | head`: the reader went away; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        sys.exit(0)
    except Exception as exc:
        # click (vendored by recent typer) signals usage errors with exceptions that know how to
        # show themselves; anything else is a bug: one line, the traceback only on request.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
        if os.environ.get("HPOSWEEP_DEBUG"):
            raise
        _err(f"error: internal error: {type(exc).__name__}: {exc}\n"
             "  (this is a bug in hposweep; set HPOSWEEP_DEBUG=1 to see the traceback, and please report it)")
        sys.exit(EXIT_FAILED)
    sys.exit(rc if isinstance(rc, int) else 0)
