"""What ``best``, ``trials``, ``show`` and ``importance`` print: data on stdout, in formats that pipe on.

Every trial goes through the one schema of :mod:`hposweep.study.rows` (records for JSON/YAML, rows for CSV
and tables). No typer and no numpy here: ``entry.py``'s fast path of ``hposweep best`` imports this module
directly, so it starts fast on a large study; the typer declarations of these commands are in
:mod:`hposweep.cli.app`.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import EXIT_FAILED, EXIT_OK, UsageError
from hposweep.execution.argv import args_tokens, format_value
from hposweep.study.api import Study
from hposweep.study.discovery import find_checkpoint
from hposweep.study.rows import (
    HEAD_COLUMNS,
    TIMESTAMP_COLUMNS,
    json_safe,
    metric_names,
    trial_columns,
    trial_record,
    trial_records,
    trial_rows,
    value_columns,
)

BEST_FORMATS = ("table", "json", "yaml", "args", "env", "csv")
TRIAL_FORMATS = ("table", "json", "csv")


def _pick_one(study: Study, pick: str | None) -> Trial | None:
    if not study.is_multi_objective:
        if pick:
            raise UsageError("--pick is for multi-objective studies; this study has one objective")
        return study.best_trial
    front = study.best_trials
    if not front:
        return None
    from hposweep.analysis.pick import pick as pick_rule

    return pick_rule(front, study.directions, metric_names(study), pick)


def print_best(study: Study, fmt: str, pick: str | None = None) -> int:
    if fmt not in BEST_FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint="choose one of: " + ", ".join(BEST_FORMATS))
    out = sys.stdout
    if study.is_multi_objective and not pick and fmt in ("table", "json", "csv", "yaml"):
        front = sorted(study.best_trials, key=lambda t: (t.values or [0])[0])
        if not front:
            sys.stderr.write("no trial has completed yet\n")
            return EXIT_FAILED
        _print_front(study, front, fmt)
        return EXIT_OK
    best = _pick_one(study, pick)
    if best is None:
        sys.stderr.write("no trial has completed yet\n")
        return EXIT_FAILED
    if fmt == "args":
        out.write(" ".join(args_tokens(best.params, "args")) + "\n")
    elif fmt == "env":
        for k, v in best.params.items():
            name = re.sub(r"[^A-Za-z0-9_]", "_", k).upper()
            out.write(f"export {name}={shlex.quote(format_value(v))}\n")
    elif fmt == "json":
        _write_json(trial_record(study, best))
    elif fmt == "yaml":
        import yaml

        out.write(yaml.safe_dump(trial_record(study, best), sort_keys=False))
    elif fmt == "csv":
        write_csv(study, [best])
    else:
        _best_table(study, best)
    return EXIT_OK


def _best_table(study: Study, best: Trial) -> None:
    from rich.console import Console
    from rich.table import Table

    from hposweep.cli.format import fmt_value

    console = Console()
    names = metric_names(study)
    table = Table(title=f"best trial: {best.number}", show_header=True, header_style="bold")
    table.add_column("name")
    table.add_column("value")
    for n, v in zip(names, best.values or []):
        table.add_row(f"{n} ({study.directions[names.index(n)]})", fmt_value(v))
    for k, v in best.params.items():
        table.add_row(k, fmt_value(v))
    console.print(table)
    try:
        from hposweep.study.summary import convergence_sparkline, importance_lines

        line = convergence_sparkline(study)
        if line:
            console.print(f"convergence: {line}", highlight=False)
        lines = importance_lines(study)
        if lines:
            console.print("most important parameters:", highlight=False)
        for text in lines:
            console.print("  " + text, highlight=False)
    except ImportError:
        pass


def _print_front(study: Study, front: list[Trial], fmt: str) -> None:
    if fmt == "json":
        _write_json(trial_records(study, front))
    elif fmt == "csv":
        write_csv(study, front)
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(trial_records(study, front), sort_keys=False))
    else:
        _trials_table(study, front, title=f"Pareto front: {len(front)} trials")


def _write_json(obj: Any, indent: int | None = None) -> None:
    sys.stdout.write(json.dumps(obj, indent=indent, default=str) + "\n")


def write_csv(study: Study, trials: Sequence[Trial]) -> None:
    """``trials`` as CSV rows of the schema: a null is an empty cell, other values their exact text."""
    columns = trial_columns(study, trials)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in trial_rows(study, trials):
        writer.writerow(["" if row[c] is None else format_value(row[c]) for c in columns])


def _trials_table(study: Study, trials: list[Trial], title: str) -> None:
    """The schema's columns for reading: no timestamps, no column that is empty in every row, and the
    objective columns headed by their metric names."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hposweep.cli.format import fmt_duration, fmt_value

    rows = trial_rows(study, trials)
    vcols = value_columns(study)
    columns = [c for c in trial_columns(study, trials) if c not in TIMESTAMP_COLUMNS
               and (c in HEAD_COLUMNS or c in vcols or any(r[c] is not None for r in rows))]
    headers = dict(zip(vcols, metric_names(study), strict=True))
    table = Table(title=title, header_style="bold")
    for col in columns:
        table.add_column(escape(headers.get(col, col)), overflow="fold")
    for t, row in zip(trials, rows, strict=True):
        if t.state is TrialState.PRUNED and t.info.get("pruned_at_step") is not None:
            row["state"] += f"@{t.info['pruned_at_step']}"
        row["duration"] = fmt_duration(row["duration"])
        table.add_row(*(escape(fmt_value(row[c])) for c in columns))
    Console().print(table)


def _sort_key(study: Study, sort: str | None) -> Any:
    if sort in (None, "number"):
        return lambda t: t.number
    if sort == "value":
        sign = 1.0 if study.directions[0] == "minimize" else -1.0

        def key(t: Trial) -> tuple[int, float, int]:
            v = t.value
            if v is None or not math.isfinite(v):
                return (1, 0.0, t.number)
            return (0 if t.state is TrialState.COMPLETE else 1 if t.state is TrialState.PRUNED else 2,
                    sign * v, t.number)

        return key
    raise UsageError(f"unknown --sort {sort!r}", hint="use number or value")


def print_trials(study: Study, fmt: str, state: str | None, sort: str | None, top: int | None) -> None:
    if fmt not in TRIAL_FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint="choose one of: " + ", ".join(TRIAL_FORMATS))
    trials = list(study.trials)
    if state:
        try:
            st = TrialState(state)
        except ValueError:
            raise UsageError(f"unknown --state {state!r}",
                             hint="one of: " + ", ".join(s.value for s in TrialState)) from None
        trials = [t for t in trials if t.state is st]
    trials.sort(key=_sort_key(study, sort))
    if top is not None:
        if top < 0:
            raise UsageError("--top must be a positive number")
        trials = trials[:top]
    if fmt == "json":
        _write_json(trial_records(study, trials))
    elif fmt == "csv":
        write_csv(study, trials)
    else:
        _trials_table(study, trials, title=f"{len(trials)} trials")


def print_trial(study: Study, number: int) -> None:
    """The trial's record, then its intermediate values and run info, then the last lines of its log."""
    from hposweep.execution.executors.local import tail_file

    t = study.trial(number)
    rec = trial_record(study, t)
    rec["intermediate"] = {str(k): json_safe(v) for k, v in sorted(t.intermediate.items())}
    rec["info"] = dict(t.info)
    _write_json(rec, indent=2)
    log = t.info.get("log")
    if log:
        tail = tail_file(log, 20)
        sys.stdout.write(f"\n--- last lines of {log} ---\n" if tail else f"\n(log {log} is empty or gone)\n")
        for line in tail:
            sys.stdout.write(line + "\n")


def load_readonly(path: str | None) -> Study:
    """The study ``path`` names (or the one here), loaded without taking its lock."""
    return Study.load(find_checkpoint(path), readonly=True)


def print_importance(path: str | None, fmt: str, objective: str, bootstrap: int) -> None:
    """PED-ANOVA importances of the study ``path`` names, as a table or JSON."""
    from hposweep.analysis.importance import compute_importance

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown --format {fmt!r}", hint="choose table or json")
    study = load_readonly(path)
    obj: int | str = int(objective) if objective.isdigit() else objective
    result = compute_importance(study, n_bootstrap=max(0, bootstrap), objective=obj)
    if fmt == "json":
        _write_json(result.to_json())
    else:
        sys.stdout.write(result.format_table() + "\n")
