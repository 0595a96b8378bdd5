"""Output of ``best``, ``trials`` and ``show``: data on stdout, in formats that pipe into the next command.

Kept apart from ``cli.py`` so the formats can be tested directly, and free of numpy so ``best``
starts fast on a large study.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import re
import shlex
import sys
from typing import Any

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import EXIT_FAILED, EXIT_OK, UsageError
from hposweep.execution.argv import args_tokens, format_value
from hposweep.study.api import Study
from hposweep.study.summary import metric_names


def find_checkpoint(path: str | None, default_name: str) -> str:
    """An explicit path, else the default name here, else the single/most recent study JSON here."""
    if path:
        if os.path.isdir(path):
            return find_checkpoint_in(path, default_name)
        return path
    return find_checkpoint_in(".", default_name)


def find_checkpoint_in(folder: str, default_name: str) -> str:
    default = os.path.join(folder, default_name)
    if os.path.exists(default):
        return default
    candidates = []
    for p in glob.glob(os.path.join(folder, "*.json")):
        try:
            with open(p, "rb") as fh:
                head = fh.read(512)
        except OSError:
            continue
        if b'"format":"hposweep-study"' in head.replace(b" ", b""):
            candidates.append(p)
    if not candidates:
        raise UsageError(
            f"no hposweep study found in {os.path.abspath(folder)}",
            hint="pass the checkpoint path (e.g. `hposweep best runs/sweep.json`), or run a sweep first",
        )
    return max(candidates, key=os.path.getmtime)


BEST_FORMATS = ("table", "json", "yaml", "args", "env", "csv")
TRIAL_FORMATS = ("table", "json", "csv")


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def trial_record(study: Study, t: Trial) -> dict[str, Any]:
    names = metric_names(study)
    rec: dict[str, Any] = {"number": t.number, "state": t.state.value}
    if t.values is not None:
        if len(names) == 1:
            rec["value"] = _jsonable(t.value)
        else:
            rec["values"] = {n: _jsonable(v) for n, v in zip(names, t.values)}
    else:
        rec["value"] = None
    rec["params"] = t.params
    if t.user_attrs:
        rec["metrics"] = {k: _jsonable(v) for k, v in t.user_attrs.items()}
    rec["duration"] = round(t.duration, 3) if t.duration is not None else None
    if t.intermediate:
        rec["last_step"] = t.last_step
    if t.info.get("reason"):
        rec["reason"] = t.info["reason"]
    return rec


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
        out.write(json.dumps(trial_record(study, best), default=str) + "\n")
    elif fmt == "yaml":
        import yaml

        out.write(yaml.safe_dump(_yaml_safe(trial_record(study, best)), sort_keys=False))
    elif fmt == "csv":
        _write_csv(study, [best])
    else:
        _best_table(study, best)
    return EXIT_OK


def _yaml_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _yaml_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_yaml_safe(v) for v in obj]
    return obj


def _best_table(study: Study, best: Trial) -> None:
    from rich.console import Console
    from rich.table import Table

    from hposweep.cli.display import fmt_value

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
        sys.stdout.write(json.dumps([trial_record(study, t) for t in front], default=str) + "\n")
    elif fmt == "csv":
        _write_csv(study, front)
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump([_yaml_safe(trial_record(study, t)) for t in front], sort_keys=False))
    else:
        _trials_table(study, front, title=f"Pareto front: {len(front)} trials")


def _param_names(trials: list[Trial]) -> list[str]:
    names: dict[str, None] = {}
    for t in trials:
        for k in t.params:
            names.setdefault(k, None)
    return list(names)


def _write_csv(study: Study, trials: list[Trial]) -> None:
    names = metric_names(study)
    params = _param_names(trials)
    attrs: dict[str, None] = {}
    for t in trials:
        for k in t.user_attrs:
            attrs.setdefault(k, None)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["number", "state", *names, *params, *attrs, "duration", "last_step", "reason"])
    for t in trials:
        vals = list(t.values or []) + [None] * (len(names) - len(t.values or []))
        writer.writerow([t.number, t.state.value, *["" if v is None else format_value(v) for v in vals],
                         *["" if p not in t.params else format_value(t.params[p]) for p in params],
                         *["" if a not in t.user_attrs else format_value(t.user_attrs[a]) for a in attrs],
                         "" if t.duration is None else round(t.duration, 3),
                         "" if t.last_step is None else t.last_step, t.info.get("reason", "")])


def _trials_table(study: Study, trials: list[Trial], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from hposweep.cli.display import fmt_duration, fmt_value

    names = metric_names(study)
    params = _param_names(trials)
    table = Table(title=title, header_style="bold")
    for col in ["#", "state", *names, *params, "duration"]:
        table.add_column(col, overflow="fold")
    for t in trials:
        vals = list(t.values or []) + [None] * (len(names) - len(t.values or []))
        state = t.state.value
        if t.state is TrialState.PRUNED and t.info.get("pruned_at_step") is not None:
            state += f"@{t.info['pruned_at_step']}"
        table.add_row(str(t.number), state, *[fmt_value(v) for v in vals],
                      *[fmt_value(t.params.get(p)) if p in t.params else "" for p in params],
                      fmt_duration(t.duration))
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
        sys.stdout.write(json.dumps([trial_record(study, t) for t in trials], default=str) + "\n")
    elif fmt == "csv":
        _write_csv(study, trials)
    else:
        _trials_table(study, trials, title=f"{len(trials)} trials")


def print_trial(study: Study, number: int) -> None:
    from hposweep.execution.executors.local import tail_file

    t = study.trial(number)
    rec = trial_record(study, t)
    rec["intermediate"] = {str(k): _jsonable(v) for k, v in sorted(t.intermediate.items())}
    info = dict(t.info)
    rec["info"] = info
    rec["started_at"] = t.started_at
    rec["finished_at"] = t.finished_at
    out = sys.stdout
    out.write(json.dumps(rec, indent=2, default=str) + "\n")
    log = info.get("log")
    if log:
        tail = tail_file(log, 20)
        out.write(f"\n--- last lines of {log} ---\n" if tail else f"\n(log {log} is empty or gone)\n")
        for line in tail:
            out.write(line + "\n")
