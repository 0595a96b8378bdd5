"""``validate`` and ``parse-metrics``: check a space file or a training log before spending a sweep on it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hposweep.cli.format import err, fmt_value, out
from hposweep.cli.options import Metric, MetricRegex, Objective
from hposweep.errors import EXIT_FAILED, UsageError


def validate(space: Annotated[str, typer.Argument(help="Search-space YAML file.")]) -> None:
    """Check a search-space file and print the parsed space.

    Example: hposweep validate spaces/example.yaml
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hposweep.spacefile import load_config, space_table_rows

    cfg = load_config(space)
    table = Table(title=f"{space}: {len(cfg.space)} parameters")
    for col in ("name", "type", "range / choices", "scale", "condition"):
        table.add_column(col)
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
        console.print("settings: " + ", ".join(f"{k}={fmt_value(v)}" for k, v in cfg.settings.items()), markup=False)


def parse_metrics(
    logfile: Annotated[str, typer.Argument(help="A log file (or - for stdin) of your training script.")],
    metric: Metric = None,
    metric_regex: MetricRegex = None,
    objective: Objective = "last",
    direction: Annotated[str, typer.Option("--direction", help="minimize or maximize (for `--objective best`).")] = "minimize",
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
        out(f"{mark} {r.name} = {r.value!r}" + (f"  (step {step})" if step is not None else ""))
    if not reports:
        err("no metrics found in this log")
    if tracker is not None:
        values = tracker.final_values(objective)
        missing = tracker.missing()
        if missing:
            err(f"objective(s) not found: {', '.join(missing)}")
            raise typer.Exit(EXIT_FAILED)
        out(f"trial value ({objective}): {', '.join(repr(v) for v in values or [])}")

