"""A self-contained HTML report of a study: one file that opens offline and fetches nothing.

Figures are plain plotly.js figure dicts (``{"data": [...], "layout": {...}}``) built here from the
trials; plotly's Python package is only needed for the plotly.js bundle, which is embedded inline
once (about 4.8 MB) so that the file can be mailed, archived as a CI artifact or opened on a plane.
Building the dicts directly (instead of through ``plotly.graph_objects``) keeps rendering fast on
large studies; the tests validate every figure against plotly's schema.

Every section degrades to a short note when it has nothing to show (no trials, only failed ones,
one parameter, no intermediate values), so a report can be written at any point of a sweep.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from hposweep.core.space import CategoricalParam, NumericParam, Param
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError, HposweepError
from hposweep.study.summary import best_so_far, metric_names, trial_columns, trial_rows

if TYPE_CHECKING:
    from hposweep.analysis.importance import ImportanceResult
    from hposweep.study.api import Study

Figure = dict[str, Any]

INSTALL_HINT = 'pip install "hposweep[report]"   (or just: pip install plotly)'
#: how many of the best trials the parallel-coordinates plot shows, at least (or a quarter of them)
PARCOORDS_MIN = 10
#: contour plots for pairs among this many most important parameters
CONTOUR_TOP = 3
CONTOUR_MIN_TRIALS = 8
CONTOUR_GRID = 40
#: intermediate curves drawn at most (the latest trials), to keep the file and the browser light
MAX_CURVES = 500
COLORSCALE = "Viridis"
STATE_STYLE = {
    TrialState.COMPLETE: {"color": "#1f77b4", "symbol": "circle"},
    TrialState.PRUNED: {"color": "#ff7f0e", "symbol": "x"},
    TrialState.FAILED: {"color": "#7f7f7f", "symbol": "triangle-down"},
    TrialState.INTERRUPTED: {"color": "#bcbd22", "symbol": "diamond"},
    TrialState.RUNNING: {"color": "#17becf", "symbol": "square"},
}
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "showLink": False, "showSendToCloud": False}


@dataclass
class Section:
    """One part of the page: a heading, optional figures, optional HTML (already escaped) and notes."""

    id: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    html: str = ""
    notes: list[str] = field(default_factory=list)
    #: lay figures out in a grid of small plots (slices) instead of one per row
    grid: bool = False


# --- data helpers --------------------------------------------------------------------------------
def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _obj(t: Trial, i: int) -> float | None:
    if t.values is None or i >= len(t.values):
        return None
    v = t.values[i]
    return float(v) if _finite(v) else None


def _with_value(study: Study, i: int = 0, states: Iterable[TrialState] = (TrialState.COMPLETE, TrialState.PRUNED)
                ) -> list[Trial]:
    wanted = set(states)
    return [t for t in study.trials if t.state in wanted and _obj(t, i) is not None]


def _label(v: Any) -> str:
    """How a parameter value is shown: strings as they are, YAML spelling for booleans and null."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (int,)):
        return str(v)
    return json.dumps(v, default=str)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return _label(v)


def _hover(t: Trial, names: Sequence[str]) -> str:
    vals = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, t.values or [], strict=False))
    params = "<br>".join(f"{html.escape(k)}={html.escape(_label(v))}" for k, v in t.params.items())
    return f"trial {t.number} ({t.state.value})<br>{html.escape(vals)}<br>{params}"


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null (plotly draws gaps), tuples lists, other objects strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    return str(obj)


def _reverse_scale(direction: str) -> bool:
    """Colour good trials bright (Viridis yellow) whichever way the objective goes."""
    return direction == "minimize"


def _log_axis(values: Sequence[float]) -> bool:
    """A log y axis when values are positive and span more than three decades (losses often do)."""
    pos = [v for v in values if v is not None]
    return bool(pos) and min(pos) > 0 and max(pos) / min(pos) > 1e3


def _layout(title: str, height: int = 420, **extra: Any) -> dict[str, Any]:
    base = {
        "title": {"text": title, "font": {"size": 15}, "x": 0.01, "xanchor": "left"},  # clear of the modebar
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "hovermode": "closest",
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#f7f8fa",
    }
    base.update(extra)
    return base


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "gridcolor": "#e3e6ea", "zeroline": False, **extra}


# --- figures -------------------------------------------------------------------------------------
def history_figure(study: Study, objective: int = 0) -> Figure | None:
    """Objective value of each trial against its number, pruned ones marked, with the best so far."""
    name = metric_names(study)[objective]
    direction = study.directions[objective]
    data: list[dict[str, Any]] = []
    ys: list[float] = []
    names = metric_names(study)
    for state in (TrialState.COMPLETE, TrialState.PRUNED):
        trials = _with_value(study, objective, (state,))
        if not trials:
            continue
        y = [_obj(t, objective) for t in trials]
        ys += [v for v in y if v is not None]
        style = STATE_STYLE[state]
        data.append({
            "type": "scatter", "mode": "markers", "name": state.value,
            "x": [t.number for t in trials], "y": y,
            "text": [_hover(t, names) for t in trials], "hoverinfo": "text",
            "marker": {"color": style["color"], "symbol": style["symbol"], "size": 7,
                       "opacity": 0.85 if state is TrialState.COMPLETE else 0.6},
        })
    if not data:
        return None
    best = best_so_far(study, objective)
    if best:
        data.append({
            "type": "scatter", "mode": "lines", "name": "best so far", "line": {"shape": "hv", "color": "#d62728"},
            "x": [n for n, _ in best] + [max(t.number for t in study.trials)],
            "y": [v for _, v in best] + [best[-1][1]],
        })
    yaxis = _axis(f"{name} ({direction})", type="log" if _log_axis(ys) else "linear")
    return {"data": data, "layout": _layout(f"Optimization history: {name}", xaxis=_axis("trial"), yaxis=yaxis)}


def importance_figure(results: Sequence[ImportanceResult]) -> Figure | None:
    """Horizontal bars of importance (%) with bootstrap std as error bars, one trace per objective."""
    results = [r for r in results if r.params and r.total_raw > 0]
    if not results:
        return None
    order = [p.name for p in results[0].params]
    data = []
    for r in results:
        by_name = {p.name: p for p in r.params}
        ps = [by_name[n] for n in order if n in by_name]
        trace: dict[str, Any] = {
            "type": "bar", "orientation": "h", "name": r.metric,
            "y": [p.name for p in ps], "x": [100 * p.importance for p in ps],
            "hovertemplate": "%{y}: %{x:.1f}%<extra>" + html.escape(r.metric) + "</extra>",
        }
        if any(p.low is not None and p.high is not None for p in ps):
            # The bootstrap 5-95% interval, not +-std: shares live in [0, 1] and are skewed near 0.
            trace["error_x"] = {
                "type": "data", "symmetric": False, "visible": True,
                "array": [100 * max(0.0, (p.high if p.high is not None else p.importance) - p.importance) for p in ps],
                "arrayminus": [100 * max(0.0, p.importance - (p.low if p.low is not None else p.importance))
                               for p in ps],
            }
        data.append(trace)
    height = 120 + 28 * len(order) * max(1, len(data))
    layout = _layout(
        "Parameter importance (PED-ANOVA; bars: bootstrap 5-95% interval)", height=min(height, 1400),
        xaxis=_axis("share of importance (%)", rangemode="tozero"),
        yaxis=_axis("", autorange="reversed", automargin=True),
        barmode="group", showlegend=len(data) > 1,
    )
    return {"data": data, "layout": layout}


def slice_figure(study: Study, param: Param, objective: int = 0) -> Figure | None:
    """The objective against one parameter's value, on the trials where it is active."""
    trials = [t for t in _with_value(study, objective) if param.name in t.params]
    if not trials:
        return None
    name = metric_names(study)[objective]
    names = metric_names(study)
    data = []
    for state in (TrialState.COMPLETE, TrialState.PRUNED):
        ts = [t for t in trials if t.state is state]
        if not ts:
            continue
        is_cat = isinstance(param, CategoricalParam)
        marker: dict[str, Any] = {"size": 7, "symbol": STATE_STYLE[state]["symbol"]}
        if state is TrialState.COMPLETE:
            marker.update(color=[t.number for t in ts], colorscale=COLORSCALE, showscale=False, opacity=0.8)
        else:
            marker.update(color=STATE_STYLE[state]["color"], opacity=0.6)
        data.append({
            "type": "scatter", "mode": "markers", "name": state.value,
            "x": [_label(t.params[param.name]) if is_cat else t.params[param.name] for t in ts],
            "y": [_obj(t, objective) for t in ts],
            "text": [_hover(t, names) for t in ts], "hoverinfo": "text", "marker": marker,
        })
    xaxis = _axis(param.name)
    if isinstance(param, CategoricalParam):
        xaxis.update(type="category", categoryorder="array", categoryarray=[_label(c) for c in param.choices])
    elif isinstance(param, NumericParam) and param.log:
        xaxis["type"] = "log"
    ys = [v for tr in data for v in tr["y"]]
    yaxis = _axis(name, type="log" if _log_axis(ys) else "linear")
    layout = _layout(param.name, height=320, xaxis=xaxis, yaxis=yaxis, showlegend=False,
                     margin={"l": 55, "r": 10, "t": 40, "b": 45})
    return {"data": data, "layout": layout}


def _dimension(param: Param, trials: Sequence[Trial]) -> dict[str, Any] | None:
    """A parcoords axis; inactive values get their own tick ("inactive") below the range."""
    values = [t.params.get(param.name, _INACTIVE) for t in trials]
    active = [v for v in values if v is not _INACTIVE]
    if not active:
        return None
    if isinstance(param, CategoricalParam):
        labels = [_label(c) for c in param.choices]
        idx = [param.index(v) if v is not _INACTIVE and param.contains(v) else -1 for v in values]
        tickvals, ticktext = list(range(len(labels))), labels
        if -1 in idx:
            tickvals, ticktext = [-1, *tickvals], ["inactive", *ticktext]
        return {"label": param.name, "values": idx, "tickvals": tickvals, "ticktext": ticktext,
                "range": [min(tickvals), max(tickvals)] if len(tickvals) > 1 else [-1, 1]}
    if not isinstance(param, NumericParam):
        return None
    lo, hi = param.internal_low, param.internal_high
    pad = (hi - lo) * 0.12
    x = [param.to_internal(v) if _finite(v) and (not param.log or v > 0) else lo - pad for v in values]
    dim: dict[str, Any] = {"label": param.name + (" (log)" if param.log else ""), "values": x, "range": [lo, hi]}
    ticks = _ticks(param)
    if ticks or any(v is _INACTIVE for v in values):
        tickvals = [param.to_internal(v) for v in ticks] if ticks else _linspace(lo, hi, 5)
        ticktext = [_fmt(v) for v in ticks] if ticks else [_fmt(param.from_internal(v)) for v in tickvals]
        if any(v is _INACTIVE for v in values):
            tickvals, ticktext = [lo - pad, *tickvals], ["inactive", *ticktext]
            dim["range"] = [lo - pad, hi]
        dim.update(tickvals=tickvals, ticktext=ticktext)
    return dim


_INACTIVE = object()


def _linspace(lo: float, hi: float, n: int) -> list[float]:
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def _ticks(param: NumericParam) -> list[float]:
    """Decade ticks for log parameters (1e-5, 1e-4, ...), else none (plotly picks linear ones)."""
    if not param.log:
        return []
    lo, hi = math.floor(math.log10(param.low)), math.ceil(math.log10(param.high))
    ticks = [10.0 ** k for k in range(lo, hi + 1) if param.low <= 10.0 ** k <= param.high]
    return ticks if len(ticks) >= 2 else [param.low, param.high]


def parallel_figure(study: Study, trials: Sequence[Trial], title: str) -> Figure | None:
    """Parallel coordinates of ``trials`` over every searchable parameter and every objective."""
    if len(trials) < 2:
        return None
    dims = [d for p in study.space.searchable if (d := _dimension(p, trials)) is not None]
    names = metric_names(study)
    for i, name in enumerate(names):
        dims.append({"label": name, "values": [_obj(t, i) for t in trials]})
    color = [_obj(t, 0) for t in trials]
    line = {"color": color, "colorscale": COLORSCALE, "showscale": True,
            "reversescale": _reverse_scale(study.directions[0]), "colorbar": {"title": {"text": names[0]}}}
    data = [{"type": "parcoords", "dimensions": dims, "line": line}]
    return {"data": data, "layout": _layout(title, height=480, margin={"l": 70, "r": 70, "t": 110, "b": 40})}


def best_trials_for_parallel(study: Study) -> list[Trial]:
    """The best quarter of complete trials (at least ``PARCOORDS_MIN``), or the Pareto front and its neighbours."""
    complete = _with_value(study, 0, (TrialState.COMPLETE,))
    if study.is_multi_objective:
        return _front(study) or complete
    sign = 1.0 if study.direction == "minimize" else -1.0
    ranked = sorted(complete, key=lambda t: (sign * (_obj(t, 0) or 0.0), t.number))
    k = max(PARCOORDS_MIN, math.ceil(len(ranked) / 4))
    return ranked[:k]


def _front(study: Study) -> list[Trial]:
    """The Pareto front (``study.best_trials``), with a local fallback if hposweep.pareto is unavailable."""
    try:
        return list(study.best_trials)
    except (ImportError, AttributeError):
        return _simple_front(study)


def _simple_front(study: Study) -> list[Trial]:
    m = len(study.directions)
    signs = [1.0 if d == "minimize" else -1.0 for d in study.directions]
    pts = [(t, [s * v for s, v in zip(signs, t.values or [], strict=False)])
           for t in study.trials
           if t.state is TrialState.COMPLETE and t.values and len(t.values) == m and all(map(_finite, t.values))]

    def dominated(a: list[float]) -> bool:
        return any(all(x <= y for x, y in zip(b, a, strict=True)) and b != a for _, b in pts)

    return [t for t, v in pts if not dominated(v)]


def contour_pairs(study: Study, importance: ImportanceResult | None) -> list[tuple[Param, Param]]:
    """Pairs among the most important parameters (space order when importance is unknown)."""
    by_name = study.space.params
    if importance is not None and importance.params and importance.total_raw > 0:
        names = [p.name for p in importance.params]
    else:
        names = [p.name for p in study.space.searchable]
    usable = [by_name[n] for n in names if n in by_name and _varies(by_name[n])][:CONTOUR_TOP]
    return list(combinations(usable, 2))


def _varies(p: Param) -> bool:
    return isinstance(p, NumericParam) or (isinstance(p, CategoricalParam) and len(p.choices) > 1)


def _unit(param: Param, v: Any) -> float:
    """A value on [0, 1] along the parameter's internal coordinate (choice index for categoricals)."""
    if isinstance(param, CategoricalParam):
        return param.index(v) / max(1, len(param.choices) - 1)
    assert isinstance(param, NumericParam)
    return (param.to_internal(v) - param.internal_low) / (param.internal_high - param.internal_low)


def _axis_points(param: Param) -> tuple[list[float], list[Any]]:
    """Grid positions on [0, 1] and their values (numbers for numeric axes, indices for categoricals)."""
    if isinstance(param, CategoricalParam):
        k = len(param.choices)
        return [i / max(1, k - 1) for i in range(k)], list(range(k))
    assert isinstance(param, NumericParam)
    us = _linspace(0.0, 1.0, CONTOUR_GRID)
    lo, hi = param.internal_low, param.internal_high
    vals = [math.exp(lo + u * (hi - lo)) if param.log else lo + u * (hi - lo) for u in us]
    return us, vals


def _display(param: Param, v: Any) -> Any:
    return param.index(v) if isinstance(param, CategoricalParam) else v


def _axis_for(param: Param) -> dict[str, Any]:
    ax = _axis(param.name)
    if isinstance(param, CategoricalParam):
        ax.update(tickvals=list(range(len(param.choices))), ticktext=[_label(c) for c in param.choices])
    elif isinstance(param, NumericParam) and param.log:
        ax["type"] = "log"
    return ax


def contour_figure(study: Study, a: Param, b: Param, objective: int = 0) -> Figure | None:
    """A smoothed map of the objective over two parameters (kernel regression) with the trials on top.

    Nadaraya-Watson regression on the [0, 1]-scaled internal coordinates: each grid point is a
    Gaussian-weighted mean of nearby trials. It only interpolates what was observed: far from any
    trial the surface flattens toward the mean, which the overlaid points make visible.
    """
    import numpy as np

    trials = [t for t in _with_value(study, objective, (TrialState.COMPLETE,))
              if a.name in t.params and b.name in t.params and a.contains(t.params[a.name])
              and b.contains(t.params[b.name])]
    if len(trials) < CONTOUR_MIN_TRIALS:
        return None
    ua = np.array([_unit(a, t.params[a.name]) for t in trials])
    ub = np.array([_unit(b, t.params[b.name]) for t in trials])
    y = np.array([_obj(t, objective) for t in trials], dtype=float)
    ga, va = _axis_points(a)
    gb, vb = _axis_points(b)
    bw = max(0.06, 0.35 * len(trials) ** (-1 / 6))
    da = (np.array(ga)[None, :, None] - ua[None, None, :]) ** 2
    db = (np.array(gb)[:, None, None] - ub[None, None, :]) ** 2
    w = np.exp(-0.5 * (da + db) / bw**2)  # (len(gb), len(ga), n)
    z = (w * y).sum(axis=2) / np.maximum(w.sum(axis=2), 1e-300)
    name = metric_names(study)[objective]
    names = metric_names(study)
    data = [
        {"type": "contour", "x": va, "y": vb, "z": z.tolist(), "colorscale": COLORSCALE,
         "reversescale": _reverse_scale(study.directions[objective]), "ncontours": 14,
         "colorbar": {"title": {"text": name}}, "contours": {"coloring": "heatmap"},
         "hovertemplate": f"{html.escape(a.name)}=%{{x}}<br>{html.escape(b.name)}=%{{y}}<br>~{html.escape(name)}"
                          "=%{z:.4g}<extra></extra>"},
        {"type": "scatter", "mode": "markers", "name": "trials",
         "x": [_display(a, t.params[a.name]) for t in trials], "y": [_display(b, t.params[b.name]) for t in trials],
         "text": [_hover(t, names) for t in trials], "hoverinfo": "text",
         "marker": {"color": "rgba(255,255,255,0.9)", "size": 6, "line": {"color": "#222", "width": 1}}},
    ]
    layout = _layout(f"{a.name} × {b.name}", height=420, xaxis=_axis_for(a), yaxis=_axis_for(b), showlegend=False)
    return {"data": data, "layout": layout}


def intermediate_figure(study: Study) -> Figure | None:
    """Learning curves: one line per trial; pruned dashed orange, failed/interrupted dotted grey.

    All trials of one state form one trace (separated by gaps) so thousands of curves stay fast.
    """
    trials = [t for t in study.trials if t.intermediate][-MAX_CURVES:]
    if not trials:
        return None
    dash = {TrialState.COMPLETE: "solid", TrialState.PRUNED: "dash"}
    data = []
    for state in TrialState:
        ts = [t for t in trials if t.state is state]
        if not ts:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        text: list[Any] = []
        for t in ts:
            steps = sorted(t.intermediate)
            xs += [*steps, None]
            ys += [*(t.intermediate[s] for s in steps), None]
            text += [f"trial {t.number} ({state.value})"] * len(steps) + [None]
        data.append({
            "type": "scatter", "mode": "lines+markers" if len(ts) == 1 else "lines", "name": state.value,
            "x": xs, "y": ys, "text": text, "hovertemplate": "%{text}<br>step %{x}: %{y:.4g}<extra></extra>",
            "line": {"color": STATE_STYLE[state]["color"], "dash": dash.get(state, "dot"), "width": 1.3},
            "opacity": 0.75, "connectgaps": False,
        })
    name = metric_names(study)[0]
    ys_all = [v for t in trials for v in t.intermediate.values()]
    yaxis = _axis(name, type="log" if _log_axis(ys_all) else "linear")
    return {"data": data, "layout": _layout("Intermediate values", xaxis=_axis("step"), yaxis=yaxis)}


def pareto_figures(study: Study) -> list[Figure]:
    """Each pair of objectives: all complete trials, the Pareto front highlighted (joined for 2 objectives)."""
    m = len(study.directions)
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE
                and all(_obj(t, i) is not None for i in range(m))]
    if not complete:
        return []
    front = _front(study)
    on_front = {t.number for t in front}
    names = metric_names(study)
    figs = []
    for i, j in list(combinations(range(m), 2))[:6]:
        rest = [t for t in complete if t.number not in on_front]
        data: list[dict[str, Any]] = [{
            "type": "scatter", "mode": "markers", "name": "dominated", "x": [_obj(t, i) for t in rest],
            "y": [_obj(t, j) for t in rest], "text": [_hover(t, names) for t in rest], "hoverinfo": "text",
            "marker": {"color": "#9aa5b1", "size": 7, "opacity": 0.7},
        }]
        pts = sorted(front, key=lambda t: (_obj(t, i) or 0.0, _obj(t, j) or 0.0))
        data.append({
            "type": "scatter", "mode": "lines+markers" if m == 2 else "markers", "name": "Pareto front",
            "x": [_obj(t, i) for t in pts], "y": [_obj(t, j) for t in pts],
            "text": [_hover(t, names) for t in pts], "hoverinfo": "text",
            "line": {"color": "#d62728", "shape": "hv" if m == 2 else "linear"},
            "marker": {"color": "#d62728", "size": 9, "line": {"color": "#fff", "width": 1}},
        })
        title = f"{names[i]} ({study.directions[i]}) vs {names[j]} ({study.directions[j]})"
        figs.append({"data": data, "layout": _layout(title, height=440, xaxis=_axis(names[i]),
                                                      yaxis=_axis(names[j]))})
    return figs


# --- sections --------------------------------------------------------------------------------------
def _importances(study: Study) -> list[ImportanceResult]:
    from hposweep.analysis.importance import compute_importance

    return [compute_importance(study, objective=i, n_bootstrap=100) for i in range(len(study.directions))]


def build_sections(study: Study) -> list[Section]:
    """Every part of the report, in page order. Figures are plotly.js figure dicts."""
    names = metric_names(study)
    sections = [_overview(study)]
    imps = _importances(study) if study.space.searchable else []
    imp0 = imps[0] if imps else None

    hist = Section("history", "Optimization history")
    for i in range(len(names)):
        fig = history_figure(study, i)
        if fig:
            hist.figures.append(fig)
    if not hist.figures:
        hist.notes.append("No trial has a value yet (none complete or pruned).")
    sections.append(hist)

    if study.is_multi_objective:
        par = Section("pareto", "Pareto front")
        par.figures = pareto_figures(study)
        if not par.figures:
            par.notes.append("No complete trial with every objective yet.")
        sections.append(par)

    imp = Section("importance", "Parameter importance")
    fig = importance_figure(imps)
    if fig:
        imp.figures.append(fig)
    for r in imps:
        if r.message:
            imp.notes.append(f"{r.metric}: {r.message}")
    if not study.space.searchable:
        imp.notes.append("The space has no searchable parameter.")
    imp.notes.append("PED-ANOVA: how differently each parameter is distributed among the best trials "
                     "than among all trials (conditional parameters weighted by how often they are active).")
    sections.append(imp)

    sl = Section("slices", f"Slice plots ({names[0]} against each parameter)", grid=True)
    for p in study.space.searchable:
        fig = slice_figure(study, p, 0)
        if fig:
            sl.figures.append(fig)
    if not sl.figures:
        sl.notes.append("Nothing to plot yet.")
    sections.append(sl)

    pc = Section("parallel", "Parallel coordinates of the best trials")
    best = best_trials_for_parallel(study)
    fig = parallel_figure(study, best, "Pareto-optimal trials" if study.is_multi_objective
                          else f"Best {len(best)} complete trials")
    if fig:
        pc.figures.append(fig)
        pc.notes.append("Drag along an axis to filter; 'inactive' marks conditional parameters a trial did not use.")
    else:
        pc.notes.append("Needs at least two complete trials.")
    sections.append(pc)

    ct = Section("contours", f"Contour plots of {names[0]} over the most important pairs", grid=True)
    for a, b in contour_pairs(study, imp0):
        fig = contour_figure(study, a, b, 0)
        if fig:
            ct.figures.append(fig)
    if not ct.figures:
        ct.notes.append(f"Needs two varying parameters and at least {CONTOUR_MIN_TRIALS} complete trials "
                        "where both are active.")
    else:
        ct.notes.append("Smoothed by kernel regression between the trials (white dots): trust it near the dots.")
    sections.append(ct)

    iv = Section("intermediate", "Intermediate values")
    fig = intermediate_figure(study)
    if fig:
        iv.figures.append(fig)
    else:
        iv.notes.append("No trial reported intermediate values.")
    sections.append(iv)

    sections.append(_best_section(study))
    sections.append(_settings_section(study))
    sections.append(_trials_section(study))
    return sections


def _overview(study: Study) -> Section:
    counts = {s: 0 for s in TrialState}
    for t in study.trials:
        counts[t.state] += 1
    names = metric_names(study)
    rows = [
        ("trials", ", ".join(f"{counts[s]} {s.value}" for s in TrialState if counts[s]) or "none yet"),
        ("objectives", ", ".join(f"{n} ({d})" for n, d in zip(names, study.directions, strict=True))),
        ("parameters", ", ".join(f"{p.name}: {_describe(p)}" for p in study.space) or "none"),
        ("sampler", _fmt(study.sampler.describe() if hasattr(study.sampler, "describe") else study.sampler_spec)),
        ("pruner", _fmt(study.pruner_spec) or "none"),
        ("seed", str(study.seed)),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(study.created_at))),
    ]
    if study.path:
        rows.insert(0, ("checkpoint", study.path))
    return Section("overview", "Overview", html=_kv_table(rows))


def _describe(p: Param) -> str:
    if isinstance(p, CategoricalParam):
        text = "{" + ", ".join(_label(c) for c in p.choices) + "}"
    elif isinstance(p, NumericParam):
        text = f"{p.type} {_fmt(p.low)}..{_fmt(p.high)}" + (" log" if p.log else "") + (
            f" step {_fmt(p.step)}" if p.step is not None else "")
    else:
        text = f"fixed {_label(getattr(p, 'value', None))}"
    if p.when:
        text += " when " + " and ".join(f"{c.parent} in {{{', '.join(map(_label, c.values))}}}" for c in p.when)
    return text


def _best_section(study: Study) -> Section:
    names = metric_names(study)
    sec = Section("best", "Best trial" if not study.is_multi_objective else "Pareto-optimal trials")
    best = _front(study) if study.is_multi_objective else ([study.best_trial] if study.best_trial else [])
    if not best:
        sec.notes.append("No trial completed yet.")
        return sec
    parts = []
    for t in best[:20]:
        rows = [(n, _fmt(v)) for n, v in zip(names, t.values or [], strict=False)]
        rows += [(k, _label(v)) for k, v in t.params.items()]
        if t.duration is not None:
            rows.append(("duration", f"{t.duration:.1f} s"))
        parts.append(f"<h3>trial {t.number}</h3>" + _kv_table(rows))
    if len(best) > 20:
        sec.notes.append(f"{len(best) - 20} more Pareto-optimal trials are in the table below.")
    sec.html = '<div class="cards">' + "".join(f'<div class="card">{p}</div>' for p in parts) + "</div>"
    return sec


def _settings_section(study: Study) -> Section:
    rows = []
    for k, v in sorted(study.settings.items()):
        rows.append((str(k), v if isinstance(v, str) else json.dumps(_clean(v), indent=1, default=str)))
    sec = Section("settings", "Settings", html=_kv_table(rows) if rows else "")
    if not rows:
        sec.notes.append("The study records no settings.")
    return sec


def _trials_section(study: Study) -> Section:
    cols = [c for c in trial_columns(study) if c not in ("started_at", "finished_at")]
    rows = trial_rows(study)
    head = "".join(f'<th data-col="{i}">{html.escape(c)}</th>' for i, c in enumerate(cols))
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            sort_key = v if _finite(v) else ("" if v is None else _label(v))
            shown = f"{v:.2f}" if c == "duration" and _finite(v) else _fmt(v)
            cells.append(f'<td data-v="{html.escape(str(sort_key), quote=True)}">{html.escape(shown)}</td>')
        body.append(f'<tr class="st-{html.escape(str(r["state"]))}">' + "".join(cells) + "</tr>")
    table = (f'<table class="trials sortable"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table>')
    sec = Section("trials", f"All trials ({len(rows)})", html=f'<div class="scroll">{table}</div>' if rows else "")
    if rows:
        sec.notes.append("Click a column header to sort; click again to reverse.")
    else:
        sec.notes.append("The study has no trials yet.")
    return sec


def _kv_table(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


# --- page ----------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d232a;
background:#eef1f4}
header{background:#1d3557;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
nav{padding:8px 28px;background:#fff;border-bottom:1px solid #d8dde3;position:sticky;top:0;z-index:5;font-size:14px}
nav a{margin-right:14px;color:#1d3557;text-decoration:none} nav a:hover{text-decoration:underline}
main{padding:12px 28px 40px;max-width:1400px}
section{background:#fff;border-radius:8px;padding:12px 18px;margin:14px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
h2{font-size:18px;margin:4px 0 10px} h3{font-size:14px;margin:6px 0}
.note{color:#5a6570;font-size:13px;margin:4px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:10px}
.fig{min-height:200px}
table{border-collapse:collapse;font-size:13px}
table.kv th{text-align:left;padding:3px 14px 3px 0;color:#5a6570;font-weight:600;vertical-align:top}
table.kv td{padding:3px 0;white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace}
.cards{display:flex;flex-wrap:wrap;gap:12px} .card{border:1px solid #d8dde3;border-radius:6px;padding:8px 12px}
.scroll{overflow:auto;max-height:640px}
table.trials th{position:sticky;top:0;background:#e4e8ed;cursor:pointer;padding:5px 8px;text-align:left;
white-space:nowrap;user-select:none}
table.trials th.asc:after{content:" \\25B2"} table.trials th.desc:after{content:" \\25BC"}
table.trials td{padding:3px 8px;border-bottom:1px solid #edf0f3;white-space:nowrap;
font-family:ui-monospace,Menlo,Consolas,monospace}
tr.st-pruned td{color:#b35900} tr.st-failed td{color:#8a8f95} tr.st-interrupted td{color:#8a8a00}
"""

# Sort a table by a column: numbers numerically, text alphabetically, empty cells last.
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function(table){
  table.querySelectorAll("th").forEach(function(th, col){
    th.addEventListener("click", function(){
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function(h){h.classList.remove("asc","desc");});
      th.classList.add(asc ? "asc" : "desc");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
        if (x === "" || y === "") return (x === "") - (y === "");
        var nx = Number(x), ny = Number(y), c;
        if (!isNaN(nx) && !isNaN(ny)) c = nx - ny; else c = x < y ? -1 : (x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""

DRAW_JS = """
(function(){
  var figs = JSON.parse(document.getElementById("hposweep-figures").textContent);
  var config = JSON.parse(document.getElementById("hposweep-config").textContent);
  Object.keys(figs).forEach(function(id){
    var el = document.getElementById(id);
    try { Plotly.newPlot(el, figs[id].data, figs[id].layout, config); }
    catch (e) { el.textContent = "could not draw this figure: " + e; }
  });
})();
"""


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ConfigError(
            "the HTML report needs plotly (for its charting library), which is not installed",
            hint=INSTALL_HINT,
        ) from None
    return get_plotlyjs()


def _script_json(obj: Any) -> str:
    """JSON that can sit inside a <script> element: no '</' can close it early."""
    return json.dumps(_clean(obj), separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def render_report(study: Study, *, title: str | None = None) -> str:
    """The report as one HTML string (plotly.js inline; nothing is fetched when it is opened)."""
    plotly_js = _plotly_js()
    sections = build_sections(study)
    title = title or _default_title(study)
    figs: dict[str, Figure] = {}
    body = []
    for sec in sections:
        parts = [f'<section id="{sec.id}"><h2>{html.escape(sec.title)}</h2>']
        parts += [f'<p class="note">{html.escape(n)}</p>' for n in sec.notes]
        divs = []
        for k, fig in enumerate(sec.figures):
            fid = f"fig-{sec.id}-{k}"
            figs[fid] = fig
            divs.append(f'<div class="fig" id="{fid}"></div>')
        if divs:
            parts.append(f'<div class="grid">{"".join(divs)}</div>' if sec.grid else "".join(divs))
        parts.append(sec.html)
        parts.append("</section>")
        body.append("".join(parts))
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title.split(" (")[0])}</a>' for s in sections)
    generated = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    subtitle = f"hposweep report, generated {generated}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style>",
        f'<script type="text/javascript">{plotly_js}</script></head><body>',
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>",
        f"<nav>{nav}</nav><main>{''.join(body)}</main>",
        f'<script type="application/json" id="hposweep-figures">{_script_json(figs)}</script>',
        f'<script type="application/json" id="hposweep-config">{_script_json(PLOT_CONFIG)}</script>',
        f"<script>{DRAW_JS}</script><script>{SORT_JS}</script>",
        "</body></html>\n",
    ])


def _default_title(study: Study) -> str:
    if study.path:
        return f"Sweep report: {os.path.basename(study.path)}"
    return "Sweep report"


def write_report(study: Study, path: str | os.PathLike[str], *, title: str | None = None) -> int:
    """Write the report to ``path`` (atomically: a temp file then a rename) and return its size in bytes.

    Raises :class:`ConfigError` when plotly is missing, :class:`HposweepError` when the file cannot be
    written (with the OS reason), never a traceback for those.
    """
    text = render_report(study, title=title).encode("utf-8")
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise HposweepError(f"cannot write the report to {path}: {exc.strerror or exc}",
                            hint="check that the folder exists and is writable") from None
    return len(text)
