"""Parallel coordinates of the best trials: one axis per searchable parameter, then each objective.

plotly draws a parcoords axis line only between its first and last tick, so every numeric axis
gets ticks at both ends of its range, and the range covers the data as well as the space (a
trial run under an older, wider space still lands on the axis, not beyond its end).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hposweep.core.space import CategoricalParam, NumericParam, Param
from hposweep.core.trial import Trial, TrialState
from hposweep.report.format import finite, format_param, format_value
from hposweep.report.style import (
    COLORSCALE,
    INFEASIBLE,
    Figure,
    front,
    is_infeasible,
    layout,
    objective_value,
    reverse_scale,
    with_value,
)
from hposweep.study.summary import metric_names

if TYPE_CHECKING:
    from hposweep.study.api import Study

#: how many of the best trials the plot shows, at least (or a quarter of them)
PARCOORDS_MIN = 10
#: a decade tick closer than this share of the axis to an end tick is dropped (the labels would overlap)
TICK_GAP = 0.08

_INACTIVE = object()


def best_trials_for_parallel(study: Study) -> list[Trial]:
    """The best quarter of complete trials (at least ``PARCOORDS_MIN``), or the Pareto front."""
    complete = with_value(study, 0, (TrialState.COMPLETE,))
    if study.is_multi_objective:
        return front(study) or complete
    sign = 1.0 if study.direction == "minimize" else -1.0
    # infeasible trials rank after every feasible one: they are shown (on the "feasible" axis) only
    # when there are too few feasible ones to fill the plot
    ranked = sorted(complete, key=lambda t: (is_infeasible(study, t), sign * (objective_value(t, 0) or 0.0),
                                             t.number))
    k = max(PARCOORDS_MIN, math.ceil(len(ranked) / 4))
    return ranked[:k]


def parallel_figure(study: Study, trials: Sequence[Trial], title: str) -> Figure | None:
    """Parallel coordinates of ``trials`` over every searchable parameter and every objective."""
    if len(trials) < 2:
        return None
    dims = [d for p in study.space.searchable if (d := dimension(p, trials)) is not None]
    names = metric_names(study)
    for i, name in enumerate(names):
        dims.append({"label": name, "values": [objective_value(t, i) for t in trials]})
    if study.settings.get("constraints"):
        dims.append(feasible_dimension(study, trials))
    color = [objective_value(t, 0) for t in trials]
    line = {"color": color, "colorscale": COLORSCALE, "showscale": True,
            "reversescale": reverse_scale(study.directions[0]), "colorbar": {"title": {"text": names[0]}}}
    data = [{"type": "parcoords", "dimensions": dims, "line": line}]
    return {"data": data, "layout": layout(title, height=480, margin={"l": 70, "r": 70, "t": 110, "b": 40})}


def feasible_dimension(study: Study, trials: Sequence[Trial]) -> dict[str, Any]:
    """The last axis of a study with constraints: 0 ("infeasible") or 1 ("feasible") per trial.

    A parcoords line has no marker to grey out, so infeasibility gets its own axis: drag on it to keep
    only the feasible lines, or only the infeasible ones.
    """
    return {"label": "feasible", "values": [0 if is_infeasible(study, t) else 1 for t in trials],
            "tickvals": [0, 1], "ticktext": [INFEASIBLE, "feasible"], "range": [0, 1]}


def dimension(param: Param, trials: Sequence[Trial]) -> dict[str, Any] | None:
    """A parcoords axis; inactive values get their own tick ("inactive") below the range."""
    values = [t.params.get(param.name, _INACTIVE) for t in trials]
    if all(v is _INACTIVE for v in values):
        return None
    inactive = any(v is _INACTIVE for v in values)
    if isinstance(param, CategoricalParam):
        labels = [format_param(c) for c in param.choices]
        idx = [param.index(v) if v is not _INACTIVE and param.contains(v) else -1 for v in values]
        tickvals: list[float] = [float(i) for i in range(len(labels))]
        ticktext = labels
        if -1 in idx:
            tickvals, ticktext = [-1.0, *tickvals], ["inactive", *ticktext]
        return {"label": param.name, "values": idx, "tickvals": tickvals, "ticktext": ticktext,
                "range": [min(tickvals), max(tickvals)] if len(tickvals) > 1 else [-1, 1]}
    if not isinstance(param, NumericParam):
        return None
    plotted = [param.to_internal(v) for v in values if finite(v) and (not param.log or v > 0)]
    lo = min([param.internal_low, *plotted])
    hi = max([param.internal_high, *plotted])
    if hi <= lo:
        hi = lo + 1.0
    pad = (hi - lo) * 0.12
    floor = lo - pad  # where inactive (and unplottable) values sit
    x = [param.to_internal(v) if finite(v) and (not param.log or v > 0) else floor for v in values]
    tickvals = axis_ticks(param, lo, hi)
    ticktext = [format_value(math.exp(v) if param.log else v) for v in tickvals]
    if inactive or floor in x:
        tickvals, ticktext = [floor, *tickvals], ["inactive", *ticktext]
    label = param.name + (" (log)" if param.log else "")
    return {"label": label, "values": x, "tickvals": tickvals, "ticktext": ticktext,
            "range": [min(tickvals), max(tickvals)]}


def nice_step(raw: float) -> float:
    """The round step (1, 2, 2.5 or 5 times a power of ten) nearest above ``raw``."""
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * 0.999)


def axis_ticks(param: NumericParam, lo: float, hi: float) -> list[float]:
    """Internal coordinates of the ticks: both ends of ``[lo, hi]``, and decades (log) or round steps between."""
    if param.log:
        inner = [math.log(10.0 ** k) for k in range(math.floor(lo / math.log(10)), math.ceil(hi / math.log(10)) + 1)]
    else:
        step = nice_step((hi - lo) / 4)
        if param.type == "int":
            step = max(1.0, round(step))  # an int axis is labelled at ints
        inner = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
    gap = TICK_GAP * (hi - lo)
    return [lo, *(v for v in inner if lo + gap < v < hi - gap), hi]
