"""Maps of one objective over pairs of the most important parameters.

Two numeric parameters: a contour of a kernel regression between the trials. A categorical
parameter has no "between" (``adam`` and ``sgd`` have no midpoint), so a pair with one is drawn
as a heatmap of cells instead: one row or column per choice, each smoothed only along the numeric
axis and only from the trials that took that choice; two categoricals give one cell per pair of
choices, the mean of the trials in it (empty cells stay blank).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Any

from hposweep.core.codec import to_unit
from hposweep.core.space import CategoricalParam, NumericParam, Param
from hposweep.core.trial import Trial, TrialState
from hposweep.report.format import format_param
from hposweep.report.style import (
    COLORSCALE,
    Figure,
    axis,
    hover,
    infeasible_trace,
    layout,
    linspace,
    objective_value,
    reverse_scale,
    split_feasible,
    with_value,
)
from hposweep.study.summary import metric_names

if TYPE_CHECKING:
    import numpy as np

    from hposweep.analysis.importance import ImportanceResult
    from hposweep.study.api import Study

#: pairs among this many most important parameters
CONTOUR_TOP = 3
CONTOUR_MIN_TRIALS = 8
CONTOUR_GRID = 40


def contour_pairs(study: Study, importance: ImportanceResult | None) -> list[tuple[Param, Param]]:
    """Pairs among the most important parameters (space order when importance is unknown)."""
    by_name = study.space.params
    if importance is not None and importance.params and importance.total_raw > 0:
        names = [p.name for p in importance.params]
    else:
        names = [p.name for p in study.space.searchable]
    usable = [by_name[n] for n in names if n in by_name and _varies(by_name[n])][:CONTOUR_TOP]
    return list(combinations(usable, 2))


def _holds(p: Param, v: Any) -> bool:
    """A value the parameter's current range holds (an older, wider space's trials are left out)."""
    return isinstance(p, (NumericParam, CategoricalParam)) and p.contains(v)


def _varies(p: Param) -> bool:
    return isinstance(p, NumericParam) or (isinstance(p, CategoricalParam) and len(p.choices) > 1)


def contour_figure(study: Study, a: Param, b: Param, objective: int = 0) -> Figure | None:
    """The objective over ``a`` (x) and ``b`` (y) with the trials on top; None below ``CONTOUR_MIN_TRIALS``.

    Smoothing is Nadaraya-Watson regression on the [0, 1]-scaled internal coordinates: each grid
    point is a Gaussian-weighted mean of nearby trials. It only interpolates what was observed: far
    from any trial the surface flattens toward the mean, which the overlaid points make visible.
    """
    import numpy as np

    trials = [t for t in with_value(study, objective, (TrialState.COMPLETE,))
              if a.name in t.params and b.name in t.params and _holds(a, t.params[a.name])
              and _holds(b, t.params[b.name])]
    if len(trials) < CONTOUR_MIN_TRIALS:
        return None
    names = metric_names(study)
    name = names[objective]
    y = np.array([objective_value(t, objective) for t in trials], dtype=float)
    bw = max(0.06, 0.35 * len(trials) ** (-1 / 6))
    cat_a, cat_b = isinstance(a, CategoricalParam), isinstance(b, CategoricalParam)
    xs: list[Any]
    ys: list[Any]
    z: list[list[float | None]]
    if isinstance(a, CategoricalParam) and isinstance(b, CategoricalParam):
        xs, ys, z = _cell_means(a, b, trials, y)
    elif cat_a or cat_b:
        xs, ys, z = _rows_by_choice(a, b, trials, y, bw)
    else:
        xs, ys, z = _smoothed(a, b, trials, y, bw)
    colour = {"colorscale": COLORSCALE, "reversescale": reverse_scale(study.directions[objective]),
              "colorbar": {"title": {"text": name}}}
    label_a, label_b, label_m = html.escape(a.name), html.escape(b.name), html.escape(name)
    if cat_a or cat_b:
        surface: dict[str, Any] = {
            "type": "heatmap", "x": xs, "y": ys, "z": z, **colour, "hoverongaps": False,
            "hovertemplate": f"{label_a}=%{{x}}<br>{label_b}=%{{y}}<br>~{label_m}=%{{z:.4g}}<extra></extra>",
        }
    else:
        surface = {
            "type": "contour", "x": xs, "y": ys, "z": z, **colour, "ncontours": 14,
            "contours": {"coloring": "heatmap"},
            "hovertemplate": f"{label_a}=%{{x}}<br>{label_b}=%{{y}}<br>~{label_m}=%{{z:.4g}}<extra></extra>",
        }
    # infeasible trials shape the surface (their objective value was observed) but are marked apart
    feasible, infeasible = split_feasible(study, trials)
    data = [surface, {
        "type": "scatter", "mode": "markers", "name": "trials",
        "x": [_position(a, t.params[a.name]) for t in feasible],
        "y": [_position(b, t.params[b.name]) for t in feasible],
        "text": [hover(t, names) for t in feasible], "hoverinfo": "text",
        "marker": {"color": "rgba(255,255,255,0.9)", "size": 6, "line": {"color": "#222", "width": 1}},
    }]
    if infeasible:
        data.append(infeasible_trace(study, infeasible, [_position(a, t.params[a.name]) for t in infeasible],
                                     [_position(b, t.params[b.name]) for t in infeasible], names))
    legend = {"orientation": "h", "x": 0, "y": -0.18}
    fig_layout = layout(f"{a.name} × {b.name}", height=420, xaxis=_axis_for(a), yaxis=_axis_for(b),
                        showlegend=bool(infeasible), legend=legend)
    return {"data": data, "layout": fig_layout}


def _kernel(grid: Sequence[float], at: np.ndarray, bw: float) -> np.ndarray:
    """Gaussian weights of the trials at ``at`` for each grid position: shape (len(grid), len(at))."""
    import numpy as np

    return np.exp(-0.5 * ((np.asarray(grid)[:, None] - at[None, :]) / bw) ** 2)


def _smoothed(a: Param, b: Param, trials: Sequence[Trial], y: np.ndarray, bw: float
              ) -> tuple[list[Any], list[Any], list[list[float | None]]]:
    import numpy as np

    ga, va = _numeric_grid(a)
    gb, vb = _numeric_grid(b)
    wa = _kernel(ga, np.array([to_unit(a, t.params[a.name]) for t in trials]), bw)
    wb = _kernel(gb, np.array([to_unit(b, t.params[b.name]) for t in trials]), bw)
    w = wb[:, None, :] * wa[None, :, :]  # (len(gb), len(ga), n)
    z = (w * y).sum(axis=2) / np.maximum(w.sum(axis=2), 1e-300)
    return va, vb, z.tolist()


def _rows_by_choice(a: Param, b: Param, trials: Sequence[Trial], y: np.ndarray, bw: float
                    ) -> tuple[list[Any], list[Any], list[list[float | None]]]:
    """One categorical, one numeric: per choice, a 1-D regression along the numeric axis from its trials only."""
    import numpy as np

    cat, num = (a, b) if isinstance(a, CategoricalParam) else (b, a)
    assert isinstance(cat, CategoricalParam)
    grid, values = _numeric_grid(num)
    at = np.array([to_unit(num, t.params[num.name]) for t in trials])
    which = np.array([cat.index(t.params[cat.name]) for t in trials])
    lines: list[list[float | None]] = []
    for k in range(len(cat.choices)):
        mine = which == k
        if not mine.any():
            lines.append([None] * len(grid))
            continue
        w = _kernel(grid, at[mine], bw)
        lines.append(((w * y[mine]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-300)).tolist())
    labels = [format_param(c) for c in cat.choices]
    if cat is a:  # choices along x: z is indexed [y][x], so transpose the per-choice lines
        return labels, values, [list(col) for col in zip(*lines, strict=True)]
    return values, labels, lines


def _cell_means(a: CategoricalParam, b: CategoricalParam, trials: Sequence[Trial], y: np.ndarray
                ) -> tuple[list[Any], list[Any], list[list[float | None]]]:
    sums = [[0.0] * len(a.choices) for _ in b.choices]
    counts = [[0] * len(a.choices) for _ in b.choices]
    for t, v in zip(trials, y.tolist(), strict=True):
        i, j = a.index(t.params[a.name]), b.index(t.params[b.name])
        sums[j][i] += v
        counts[j][i] += 1
    z = [[s / c if c else None for s, c in zip(srow, crow, strict=True)]
         for srow, crow in zip(sums, counts, strict=True)]
    return [format_param(c) for c in a.choices], [format_param(c) for c in b.choices], z


def _numeric_grid(param: Param) -> tuple[list[float], list[float]]:
    """Grid positions on [0, 1] and the parameter values there."""
    assert isinstance(param, NumericParam)
    us = linspace(0.0, 1.0, CONTOUR_GRID)
    lo, hi = param.internal_low, param.internal_high
    return us, [math.exp(lo + u * (hi - lo)) if param.log else lo + u * (hi - lo) for u in us]


def _position(param: Param, v: Any) -> Any:
    return format_param(v) if isinstance(param, CategoricalParam) else v


def _axis_for(param: Param) -> dict[str, Any]:
    ax = axis(param.name)
    if isinstance(param, CategoricalParam):
        ax.update(type="category", categoryorder="array", categoryarray=[format_param(c) for c in param.choices])
    elif isinstance(param, NumericParam) and param.log:
        ax["type"] = "log"
    return ax
