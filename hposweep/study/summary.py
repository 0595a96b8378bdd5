"""Terminal-sized views of a study: the trial table rows, a convergence sparkline, top importances.

``trial_rows`` is the one place that flattens trials into rows, so ``hposweep trials --format csv``,
the HTML report's table and anything else that lists trials agree on columns and values.
Nothing here imports numpy at module import; ``importance_lines`` does (lazily) because it runs
the importance analysis, which is why it refuses to do so on tiny studies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hposweep.core import objectives
from hposweep.core.trial import Trial, TrialState

if TYPE_CHECKING:
    from hposweep.study.api import Study

#: columns every row has, before the parameters (``value`` becomes ``value_0``.. for several objectives)
BASE_COLUMNS = ("number", "state")
TAIL_COLUMNS = ("duration", "step", "started_at", "finished_at", "reason")
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
#: below this many complete trials an importance estimate is noise, so the summary leaves it out
MIN_TRIALS_FOR_IMPORTANCE = 10


def metric_names(study: Study) -> list[str]:
    """One display name per objective of ``study`` (see :func:`hposweep.core.objectives.metric_names`)."""
    return objectives.metric_names(study.settings, len(study.directions))


def value_columns(study: Study) -> list[str]:
    """Column names of the objective values (see :func:`hposweep.core.objectives.value_columns`)."""
    return objectives.value_columns(len(study.directions))


def _param_names(study: Study) -> list[str]:
    """Every parameter name in space order, then any a trial carries that the space lacks."""
    names = list(study.space.params)
    seen = set(names)
    for t in study.trials:
        for k in t.params:
            if k not in seen:
                seen.add(k)
                names.append(k)
    return names


def _attr_names(study: Study) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for t in study.trials:
        for k in t.user_attrs:
            if k not in seen:
                seen.add(k)
                names.append(k)
    return names


def _column_map(study: Study) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Fixed columns, then param and user-attr columns; a name that clashes gets a ``param_``/``attr_`` prefix."""
    fixed = [*BASE_COLUMNS, *value_columns(study), *TAIL_COLUMNS]
    taken = set(fixed)
    params: dict[str, str] = {}
    for name in _param_names(study):
        col = name if name not in taken else f"param_{name}"
        params[name] = col
        taken.add(col)
    attrs: dict[str, str] = {}
    for name in _attr_names(study):
        col = name if name not in taken else f"attr_{name}"
        attrs[name] = col
        taken.add(col)
    return fixed, params, attrs


def trial_columns(study: Study) -> list[str]:
    """The keys of every :func:`trial_rows` row, in order (also right for a study with no trials)."""
    fixed, params, attrs = _column_map(study)
    head = [*BASE_COLUMNS, *value_columns(study)]
    tail = [c for c in fixed if c not in head]
    return [*head, *params.values(), *tail, *attrs.values()]


def trial_rows(study: Study) -> list[dict[str, Any]]:
    """One flat dict per trial, in trial-number order, all with the keys of :func:`trial_columns`.

    ``number``, ``state`` (string), ``value`` (or ``value_0``.. per objective; pruned trials carry the
    value they were pruned at, failed ones ``None``), one column per parameter (``None`` when inactive),
    ``duration`` (seconds), ``step`` (last intermediate step reported), start/finish timestamps,
    ``reason`` (why a trial failed or stopped), then the other metrics the trial reported.
    """
    fixed, params, attrs = _column_map(study)
    vcols = value_columns(study)
    columns = trial_columns(study)
    rows = []
    for t in study.trials:
        row: dict[str, Any] = dict.fromkeys(columns)
        row["number"] = t.number
        row["state"] = t.state.value
        for i, col in enumerate(vcols):
            row[col] = t.values[i] if t.values is not None and i < len(t.values) else None
        for name, col in params.items():
            row[col] = t.params.get(name)
        row["duration"] = t.duration
        row["step"] = t.last_step
        row["started_at"] = t.started_at
        row["finished_at"] = t.finished_at
        reason = t.info.get("reason")
        row["reason"] = str(reason) if reason is not None else None
        for name, col in attrs.items():
            row[col] = t.user_attrs.get(name)
        rows.append(row)
    return rows


def best_so_far(study: Study, objective: int = 0) -> list[tuple[int, float]]:
    """``(trial number, best value so far)`` at each complete trial, in trial-number order.

    Only complete trials count, as for ``study.best_trial``: a pruned trial's value is a partial one.
    """
    direction = study.directions[objective]
    sign = 1.0 if direction == "minimize" else -1.0
    out: list[tuple[int, float]] = []
    best: float | None = None
    for t in sorted(study.trials, key=lambda t: t.number):
        v = _value(t, objective)
        if t.state is not TrialState.COMPLETE or v is None:
            continue
        if best is None or sign * v < sign * best:
            best = v
        out.append((t.number, best))
    return out


def _value(t: Trial, objective: int) -> float | None:
    if t.values is None or objective >= len(t.values):
        return None
    v = t.values[objective]
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """Unicode block sparkline of ``values``, at most ``width`` characters (later points win a bucket)."""
    if not values or width <= 0:
        return ""
    if len(values) > width:
        # Keep the last value of each bucket: for a best-so-far curve, that is the bucket's best.
        values = [values[min(len(values) - 1, ((i + 1) * len(values)) // width - 1)] for i in range(width)]
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-12 * max(1.0, abs(hi), abs(lo)):
        return SPARK_BLOCKS[len(SPARK_BLOCKS) // 2] * len(values)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - lo) / (hi - lo) * top)] for v in values)


def convergence_sparkline(study: Study, width: int = 40) -> str:
    """Best-so-far of the first objective over complete trials, as a line of block characters.

    Taller blocks are larger values, so a minimisation that improves reads as a falling line and a
    maximisation as a rising one. Empty when no trial completed.
    """
    return sparkline([v for _, v in best_so_far(study, 0)], width)


def importance_lines(study: Study, top: int = 3, *, n_bootstrap: int = 0, bar_width: int = 20) -> list[str]:
    """The ``top`` most important parameters as aligned text lines (name, share, bar), for the terminal.

    Empty when fewer than :data:`MIN_TRIALS_FOR_IMPORTANCE` trials completed or the space has fewer
    than two searchable parameters (one parameter is trivially 100%). ``n_bootstrap=0`` by default
    keeps ``hposweep best`` fast (no error bars are shown here anyway). When the estimate rests on
    few trials, a last line says so.
    """
    complete = sum(1 for t in study.trials if t.state is TrialState.COMPLETE)
    if complete < MIN_TRIALS_FOR_IMPORTANCE or len(study.space.searchable) < 2:
        return []
    from hposweep.analysis.importance import compute_importance

    result = compute_importance(study, n_bootstrap=n_bootstrap)
    shown = [p for p in result.params[: max(0, top)]]
    if not shown or result.total_raw <= 0:
        return []
    width = max(len(p.name) for p in shown)
    lines = []
    for p in shown:
        filled = int(round(p.importance * bar_width))
        bar = "█" * filled + "░" * (bar_width - filled)
        lines.append(f"{p.name:<{width}}  {p.importance * 100:5.1f}%  {bar}")
    if not result.reliable:
        lines.append(f"(rough estimate: {result.n_trials} trials; 20 or more give a steadier ranking)")
    return lines
