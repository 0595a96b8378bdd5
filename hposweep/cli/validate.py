"""``validate`` and ``parse-metrics``: check a space file or a training log before spending a sweep on it."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from hposweep.cli.display import plural
from hposweep.cli.format import err, out
from hposweep.cli.options import Metric, MetricRegex, Objective
from hposweep.errors import EXIT_FAILED, UsageError


def validate(space: Annotated[str, typer.Argument(help="Search-space YAML file.")]) -> None:
    """Check a search-space file and print the parsed space.

    On a terminal the parameters are a table; in a pipe or a CI log, one parameter per line in aligned
    columns that never wrap (a table wrapped at 80 columns cuts values mid-token). The settings are printed
    as YAML, the way they are written in the file.

    Example: hposweep validate spaces/example.yaml
    """
    from hposweep.spacefile import load_config, space_table_rows

    cfg = load_config(space)
    title = f"{space}: {plural(len(cfg.space), 'parameter')}"
    rows = space_table_rows(cfg.space)
    if sys.stdout.isatty():
        _print_table(title, rows)
    else:
        out(title)
        for line in plain_rows(VALIDATE_COLUMNS, rows):
            out(line)
    n = cfg.space.n_configs()
    if n is not None:
        out(f"{plural(n, 'distinct configuration')}")
    else:
        out("continuous space (infinitely many configurations)")
    if cfg.settings:
        out("settings:")
        out(settings_yaml(cfg.settings).rstrip("\n"))


VALIDATE_COLUMNS = ("name", "type", "range / choices", "scale", "condition")


def plain_rows(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A header and one line per row, columns padded to line up, nothing wrapped or cut; a cell's
    newlines and tabs become spaces so one row stays one line."""
    cells = [[" ".join(str(c).split()) or "-" for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *cells]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return lines


def settings_yaml(settings: Mapping[str, Any]) -> str:
    """The settings as block YAML, indented under ``settings:`` (keys in the file's order)."""
    import yaml

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return str(value)

    text = yaml.safe_dump(plain(settings), sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
    return "".join(f"  {line}\n" for line in text.splitlines())


def _print_table(title: str, rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for col in VALIDATE_COLUMNS:
        table.add_column(col)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)


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

