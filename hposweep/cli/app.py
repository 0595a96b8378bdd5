"""The ``hposweep`` command line: the typer app, its commands, and errors turned into exit codes.

Exit codes (also in ``hposweep --help`` and README):

* 0  the sweep finished with at least one complete trial, feasible if there are constraints (``best``: a best
     trial exists)
* 1  no trial completed, every complete trial violates a constraint, or the failure limit (``--max-failures``) stopped the sweep
* 2  usage or configuration error (bad flag, bad space file, unreadable checkpoint)
* 130 interrupted (Ctrl-C / SIGTERM); ``hposweep resume`` continues

Each command family lives in its own module (:mod:`~hposweep.cli.run`, :mod:`~hposweep.cli.validate`,
:mod:`~hposweep.cli.report`) as a plain function and is registered here. The read-only commands
(``best``, ``trials``, ``show``, ``importance``) are declared here as thin wrappers because their output
module, :mod:`hposweep.cli.inspect`, must stay free of typer: ``entry.py``'s fast path of ``hposweep best``
imports it directly. numpy, scipy and rich are imported inside the commands that need them, so ``--help``
and ``best`` start fast.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from hposweep.cli import dashboard as dashboard_cmd
from hposweep.cli import interop as interop_cmds
from hposweep.cli import report as report_cmd
from hposweep.cli import resume as resume_cmds
from hposweep.cli import run as run_cmds
from hposweep.cli import validate as validate_cmds
from hposweep.cli import workflow as workflow_cmds
from hposweep.cli.format import err
from hposweep.cli.options import MaybeStudyFile
from hposweep.errors import EXIT_FAILED, EXIT_USAGE, HposweepError

#: the exit-code epilog of each command (``--help`` ends with it)
EXIT_CODES_HELP = (
    "Exit codes: 0 finished with at least one complete (and feasible) trial; 1 no trial completed, none is "
    "feasible, or the failure limit was hit; 2 usage or configuration error; 130 interrupted (resume with `hposweep resume`)."
)
EXIT_BEST = "Exit codes: 0 printed; 1 no trial has completed yet; 2 usage error or unreadable study."
EXIT_READ = "Exit codes: 0 printed; 2 usage error or unreadable study."
EXIT_CREATE = "Exit codes: 0 created; 2 usage or configuration error (nothing is written)."
EXIT_VALIDATE = "Exit codes: 0 valid; 2 the file (or a flag) has an error."
EXIT_DASHBOARD = "Exit codes: 0 stopped (Ctrl-C); 2 usage error, a missing [dashboard] extra, or the port is taken."

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 120}

app = typer.Typer(
    name="hposweep",
    help="Hyperparameter sweeps over your own training command.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        from hposweep.core.version import __version__

        typer.echo(f"hposweep {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True)] = False,
) -> None:
    """Hyperparameter sweeps over your own training command."""


def _command(name: str, func: Any, epilog: str, **settings: Any) -> None:
    """Register ``func`` as ``name``; ``hposweep --help`` lists the whole first line of its docstring
    (click cuts it at 45 characters otherwise)."""
    summary = (func.__doc__ or "").strip().splitlines()[0]
    context = {**CONTEXT, **settings.pop("context_settings", {})}
    app.command(name, short_help=summary, epilog=epilog, context_settings=context, **settings)(func)


# --- best / trials / show / importance (output: hposweep.cli.inspect) -----------------------------------
def best(
    checkpoint: MaybeStudyFile = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="table, json, yaml, csv, args (one shell-quoted argument per parameter, for eval), "
             "args0 (NUL-separated, for xargs -0) or env (export lines, for eval).")] = "table",
    pick: Annotated[str | None, typer.Option(
        "--pick", metavar="RULE",
        help="Multi-objective: rule picking one trial, e.g. \"max val_acc where latency_ms<20\".")] = None,
    prefix: Annotated[str, typer.Option(
        "--prefix", metavar="PREFIX",
        help="--format env: put PREFIX before every variable name (e.g. HPO_); without one, a name the shell "
             "depends on (PATH, HOME, IFS, LD_*...) is refused.")] = "",
    robust: Annotated[bool, typer.Option(
        "--robust",
        help="Noisy objectives: the trial a model of all trials estimates best (its neighbours confirm it), "
             "not the one that was best once; the best observed trial when the noise is negligible.")] = False,
) -> None:
    """Print the best trial (or the Pareto front), as a table or for scripts.

    Examples: eval "python train.py $(hposweep best --format args)";
    hposweep best --format args0 | xargs -0 python train.py;
    eval "$(hposweep best --format env --prefix HPO_)"
    """
    from hposweep.cli.inspect import open_study, print_best

    study, choice = open_study(checkpoint)
    raise typer.Exit(print_best(study, fmt, pick, prefix=prefix, choice=choice, robust=robust))


def trials_cmd(
    checkpoint: MaybeStudyFile = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="table (plain tab-separated rows when stdout is not a terminal), tsv, json or csv.")] = "table",
    state: Annotated[str | None, typer.Option(
        "--state", metavar="STATE",
        help="Only trials in this state: complete, failed, pruned, interrupted, running; `prior`: the "
             "warm-start priors (listed after the trials in the table, never counted).")] = None,
    sort: Annotated[str | None, typer.Option(
        "--sort", metavar="KEY",
        help="number (default) or value (complete best first, then pruned, then the rest).")] = None,
    top: Annotated[int | None, typer.Option("--top", metavar="N", help="Only the first N rows.")] = None,
) -> None:
    """List the trials of a study (table, TSV, CSV or JSON).

    The columns are the trial-row schema (README, "Trial rows"), stable for scripts.
    Example: hposweep trials --state complete --sort value --top 10 --format csv
    """
    from hposweep.cli.inspect import load_announced, print_trials

    print_trials(load_announced(checkpoint), fmt, state, sort, top)


def show(
    where: Annotated[list[str], typer.Argument(
        metavar="[FILE] N", help="The trial number, after or before the study file (default: the study here).",
        show_default=False)],
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMAT", help="table (for reading) or json (the full record).")] = "table",
) -> None:
    """Show one trial in full: params, metrics, intermediate values, exit information, log tail.

    Examples: hposweep show 7; hposweep show runs/sweep.json 7 --format json
    """
    from hposweep.cli.inspect import open_study
    from hposweep.cli.show import parse_show_args, print_trial

    path, number = parse_show_args(where)
    study, choice = open_study(path)
    print_trial(study, number, fmt, study_path=choice.path)


def importance(
    checkpoint: MaybeStudyFile = None,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="table or json.")] = "table",
    objective: Annotated[str, typer.Option(
        "--objective", metavar="METRIC", help="Multi-objective: the metric name or index.")] = "0",
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", metavar="N", help="Bootstrap resamples for the uncertainty (0: none).")] = 100,
) -> None:
    """Which parameters mattered: PED-ANOVA importance with bootstrap uncertainty.

    Example: hposweep importance runs/sweep.json --format json
    """
    from hposweep.cli.inspect import print_importance

    print_importance(checkpoint, fmt, objective, bootstrap)


_command("run", run_cmds.run, EXIT_CODES_HELP, context_settings=run_cmds.RUN_CONTEXT)
_command("create", run_cmds.create, EXIT_CREATE, context_settings=run_cmds.RUN_CONTEXT)
_command("worker", resume_cmds.worker, EXIT_CODES_HELP)
_command("resume", resume_cmds.resume, EXIT_CODES_HELP)
_command("enqueue", workflow_cmds.enqueue, EXIT_CREATE.replace("created", "queued"))
_command("repeat", workflow_cmds.repeat, EXIT_CODES_HELP)
_command("best", best, EXIT_BEST)
_command("trials", trials_cmd, EXIT_READ)
_command("show", show, EXIT_READ)
_command("importance", importance, EXIT_READ)
_command("report", report_cmd.report, EXIT_READ)
_command("dashboard", dashboard_cmd.dashboard, EXIT_DASHBOARD)
_command("validate", validate_cmds.validate, EXIT_VALIDATE)
_command("parse-metrics", validate_cmds.parse_metrics, EXIT_READ)
app.add_typer(interop_cmds.export_app, name="export")
app.add_typer(interop_cmds.import_app, name="import")


def _wants_json(argv: list[str]) -> bool:
    """``--json`` among hposweep's own flags (not in the trial command after ``--``)."""
    own = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in own


def _json_error(message: str, code: int, hint: str | None = None) -> None:
    """``{"error": ..., "exit_code": 2}`` (and ``"hint"`` when there is one) on stdout, so a script that
    reads the ``--json`` summary gets an object there whether the sweep ran or not."""
    import json

    obj: dict[str, Any] = {"error": message, "exit_code": code}
    if hint:
        obj["hint"] = hint
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Entry point: run the app, turn HposweepError into a message and an exit code."""
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        rc = app(standalone_mode=False)
    except HposweepError as exc:
        err(f"error: {exc}")
        if _wants_json(sys.argv[1:]):
            _json_error(exc.message, exc.exit_code, exc.hint)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err("interrupted")
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
            code = exc.exit_code if exc.exit_code else EXIT_USAGE
            if _wants_json(sys.argv[1:]):
                _json_error(exc.format_message() if hasattr(exc, "format_message") else str(exc), code)
            sys.exit(code)
        if os.environ.get("HPOSWEEP_DEBUG"):
            raise
        err(f"error: internal error: {type(exc).__name__}: {exc}\n"
             "  (this is a bug in hposweep; set HPOSWEEP_DEBUG=1 to see the traceback, and please report it)")
        sys.exit(EXIT_FAILED)
    sys.exit(rc if isinstance(rc, int) else 0)
