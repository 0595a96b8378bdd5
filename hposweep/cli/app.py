"""The ``hposweep`` command line: the typer app, its commands, and errors turned into exit codes.

Exit codes (also in ``hposweep --help`` and README):

* 0  the sweep finished with at least one complete trial (``best``: a best trial exists)
* 1  no trial completed, or the failure limit (``--max-failures``) stopped the sweep
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
from typing import Annotated

import typer

from hposweep.cli import interop as interop_cmds
from hposweep.cli import report as report_cmd
from hposweep.cli import run as run_cmds
from hposweep.cli import validate as validate_cmds
from hposweep.cli.format import err
from hposweep.cli.options import MaybeStudyFile, StudyFile
from hposweep.errors import EXIT_FAILED, EXIT_USAGE, HposweepError

EXIT_CODES_HELP = (
    "Exit codes: 0 finished with at least one complete trial; 1 no trial completed or the failure "
    "limit was hit; 2 usage or configuration error; 130 interrupted (resume with `hposweep resume`)."
)

app = typer.Typer(
    name="hposweep",
    help="Hyperparameter sweeps over your own training command.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.command("run", context_settings=run_cmds.RUN_CONTEXT, epilog=EXIT_CODES_HELP)(run_cmds.run)
app.command("create", context_settings=run_cmds.RUN_CONTEXT)(run_cmds.create)
app.command("worker", epilog=EXIT_CODES_HELP)(run_cmds.worker)
app.command("resume", epilog=EXIT_CODES_HELP)(run_cmds.resume)


# --- best / trials / show / importance (output: hposweep.cli.inspect) -----------------------------------
@app.command()
def best(
    checkpoint: MaybeStudyFile = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="table, json, yaml, args, env (multi-objective: csv too).")] = "table",
    pick: Annotated[str | None, typer.Option(
        "--pick", help="Multi-objective: rule picking one trial, e.g. \"max val_acc where latency_ms<20\".")] = None,
) -> None:
    """Print the best trial. Exit 1 when no trial has completed.

    Example: python train.py $(hposweep best --format args)
    """
    from hposweep.cli.inspect import load_readonly, print_best

    raise typer.Exit(print_best(load_readonly(checkpoint), fmt, pick))


@app.command("trials")
def trials_cmd(
    checkpoint: MaybeStudyFile = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")] = "table",
    state: Annotated[str | None, typer.Option(
        "--state", help="Only trials in this state: complete, failed, pruned, interrupted, running.")] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="number (default) or value (best first).")] = None,
    top: Annotated[int | None, typer.Option("--top", help="Only the first N rows.")] = None,
) -> None:
    """List the trials of a study.

    The columns are the trial-row schema (README, "Trial rows"), stable for scripts.
    Example: hposweep trials --state complete --sort value --top 10 --format csv
    """
    from hposweep.cli.inspect import load_readonly, print_trials

    print_trials(load_readonly(checkpoint), fmt, state, sort, top)


@app.command()
def show(
    checkpoint: StudyFile,
    number: Annotated[int, typer.Argument(help="Trial number.")],
) -> None:
    """Show one trial in full: params, metrics, intermediate values, exit information, log tail.

    Example: hposweep show hposweep-study.json 7
    """
    from hposweep.cli.inspect import load_readonly, print_trial

    print_trial(load_readonly(checkpoint), number)


@app.command()
def importance(
    checkpoint: MaybeStudyFile = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    objective: Annotated[str, typer.Option(
        "--objective", help="Multi-objective: the metric name or index.")] = "0",
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", help="Bootstrap resamples for the uncertainty (0: none).")] = 100,
) -> None:
    """Which parameters mattered: PED-ANOVA importance with bootstrap uncertainty.

    Example: hposweep importance runs/sweep.json --format json
    """
    from hposweep.cli.inspect import print_importance

    print_importance(checkpoint, fmt, objective, bootstrap)


app.command("report")(report_cmd.report)
app.command("validate")(validate_cmds.validate)
app.command("parse-metrics")(validate_cmds.parse_metrics)
app.add_typer(interop_cmds.export_app, name="export")
app.add_typer(interop_cmds.import_app, name="import")


def main() -> None:
    """Entry point: run the app, turn HposweepError into a message and an exit code."""
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        rc = app(standalone_mode=False)
    except HposweepError as exc:
        err(f"error: {exc}")
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
            sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
        if os.environ.get("HPOSWEEP_DEBUG"):
            raise
        err(f"error: internal error: {type(exc).__name__}: {exc}\n"
             "  (this is a bug in hposweep; set HPOSWEEP_DEBUG=1 to see the traceback, and please report it)")
        sys.exit(EXIT_FAILED)
    sys.exit(rc if isinstance(rc, int) else 0)
