"""Figures of one objective over the trials: history, importance, slices, learning curves, Pareto front.

In a study with constraints, complete trials that break one are drawn apart as grey crosses under one
legend entry, "infeasible" (:func:`~hposweep.report.style.infeasible_trace`), in every figure that plots
trials; they never make the best-so-far line nor the Pareto front.

Each builder is a pure function of a study (or of importance results) that returns a plotly.js
figure dict, or None / [] when there is nothing to draw; the report and a live dashboard call
the same ones. Building the dicts directly (not through ``plotly.graph_objects``) keeps large
studies fast; the tests validate every figure against plotly's schema.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Any

from hposweep.core.space import CategoricalParam, NumericParam, Param
from hposweep.core.trial import Trial, TrialState
from hposweep.report.format import format_param
from hposweep.report.style import (
    COLORSCALE,
    STATE_STYLE,
    Figure,
    axis,
    front,
    hover,
    infeasible_trace,
    layout,
    log_axis,
    objective_value,
    split_feasible,
    with_value,
)
from hposweep.study.summary import best_so_far, metric_names

if TYPE_CHECKING:
    from hposweep.analysis.importance import ImportanceResult
    from hposweep.study.api import Study

#: intermediate curves drawn at most (the latest trials), to keep the file and the browser light
MAX_CURVES = 500
#: metrics other than the objective drawn at most, one figure each
MAX_METRIC_FIGURES = 12
IMPORTANCE_TITLE = "Parameter importance (PED-ANOVA; bar: estimate on all trials, whisker: bootstrap 5-95%)"


def history_figure(study: Study, objective: int = 0) -> Figure | None:
    """Objective value of each trial against its number, pruned ones marked, with the best so far."""
    names = metric_names(study)
    name = names[objective]
    direction = study.directions[objective]
    data: list[dict[str, Any]] = []
    ys: list[float] = []
    for state in (TrialState.COMPLETE, TrialState.PRUNED):
        trials, infeasible = split_feasible(study, with_value(study, objective, (state,)))
        if trials:
            y = [objective_value(t, objective) for t in trials]
            ys += [v for v in y if v is not None]
            style = STATE_STYLE[state]
            data.append({
                "type": "scatter", "mode": "markers", "name": state.value,
                "x": [t.number for t in trials], "y": y,
                "text": [hover(t, names) for t in trials], "hoverinfo": "text",
                "marker": {"color": style["color"], "symbol": style["symbol"], "size": 7,
                           "opacity": 0.85 if state is TrialState.COMPLETE else 0.6},
            })
        if infeasible:
            y = [objective_value(t, objective) for t in infeasible]
            ys += [v for v in y if v is not None]
            data.append(infeasible_trace(study, infeasible, [t.number for t in infeasible], y, names))
    if not data:
        return None
    best = best_so_far(study, objective)  # feasible complete trials only
    if best:
        data.append({
            "type": "scatter", "mode": "lines", "name": "best so far", "line": {"shape": "hv", "color": "#d62728"},
            "x": [n for n, _ in best] + [max(t.number for t in study.trials)],
            "y": [v for _, v in best] + [best[-1][1]],
        })
    yaxis = axis(f"{name} ({direction})", type="log" if log_axis(ys) else "linear")
    return {"data": data, "layout": layout(f"Optimization history: {name}", xaxis=axis("trial"), yaxis=yaxis)}


def importance_figure(results: Sequence[ImportanceResult]) -> Figure | None:
    """Horizontal bars of each parameter's share (%), with its bootstrap 5-95% range as a whisker.

    The whisker is drawn where the bootstrap put it, even when the estimate lies outside it (see
    :func:`outside_interval`): clamping it to the bar would show an interval nobody computed.
    """
    results = [r for r in results if r.params and r.total_raw > 0]
    if not results:
        return None
    order = [p.name for p in results[0].params]
    data: list[dict[str, Any]] = []
    for k, r in enumerate(results):
        by_name = {p.name: p for p in r.params}
        ps = [by_name[n] for n in order if n in by_name]
        group = str(k)
        data.append({
            "type": "bar", "orientation": "h", "name": r.metric, "offsetgroup": group, "legendgroup": group,
            "y": [p.name for p in ps], "x": [100 * p.importance for p in ps],
            "hovertemplate": "%{y}: %{x:.1f}%<extra>" + html.escape(r.metric) + "</extra>",
        })
        # (name, low, high, estimate) of the parameters that have a bootstrap interval
        cis = [(p.name, p.low, p.high, p.importance) for p in ps if p.low is not None and p.high is not None]
        if cis:
            # A marker-less point at the interval's middle carries a symmetric whisker over [low, high].
            data.append({
                "type": "scatter", "mode": "markers", "orientation": "h", "name": f"{r.metric} 5-95%",
                "offsetgroup": group, "legendgroup": group, "showlegend": False,
                "y": [c[0] for c in cis], "x": [50 * (lo + hi) for _, lo, hi, _ in cis],
                "marker": {"size": 1, "opacity": 0},
                "error_x": {"type": "data", "symmetric": True, "array": [50 * (hi - lo) for _, lo, hi, _ in cis],
                            "visible": True,
                            "color": "#333", "thickness": 1.2, "width": 4},
                "customdata": [[100 * lo, 100 * hi, 100 * est] for _, lo, hi, est in cis],
                "hovertemplate": "%{y}: bootstrap 5-95% %{customdata[0]:.1f}-%{customdata[1]:.1f}%"
                                 " (estimate %{customdata[2]:.1f}%)<extra>" + html.escape(r.metric) + "</extra>",
            })
    height = 120 + 28 * len(order) * max(1, len(results))
    fig_layout = layout(
        IMPORTANCE_TITLE, height=min(height, 1400),
        xaxis=axis("share of importance (%)", rangemode="tozero"),
        yaxis=axis("", autorange="reversed", automargin=True),
        barmode="group", scattermode="group", showlegend=len(results) > 1,
    )
    return {"data": data, "layout": fig_layout}


def outside_interval(results: Sequence[ImportanceResult]) -> list[str]:
    """``metric: name`` of each parameter whose estimate lies outside its own bootstrap 5-95% range."""
    out = []
    for r in results:
        for p in r.params:
            if p.low is not None and p.high is not None and not p.low <= p.importance <= p.high:
                out.append(f"{r.metric}: {p.name}" if len(results) > 1 else p.name)
    return out


def slice_figure(study: Study, param: Param, objective: int = 0) -> Figure | None:
    """The objective against one parameter's value, on the trials where it is active.

    Complete trials are coloured by trial number (the colour bar says so), so drift of the sampler
    toward a region shows; pruned ones are orange crosses (the legend says so).
    """
    trials = [t for t in with_value(study, objective) if param.name in t.params]
    if not trials:
        return None
    names = metric_names(study)
    is_cat = isinstance(param, CategoricalParam)
    data = []
    trials, infeasible = split_feasible(study, trials)
    for state in (TrialState.COMPLETE, TrialState.PRUNED):
        ts = [t for t in trials if t.state is state]
        if not ts:
            continue
        marker: dict[str, Any] = {"size": 7, "symbol": STATE_STYLE[state]["symbol"]}
        if state is TrialState.COMPLETE:
            marker.update(color=[t.number for t in ts], colorscale=COLORSCALE, showscale=True, opacity=0.8,
                          colorbar={"title": {"text": "trial"}, "thickness": 10, "len": 0.85})
        else:
            marker.update(color=STATE_STYLE[state]["color"], opacity=0.6)
        data.append({
            "type": "scatter", "mode": "markers", "name": state.value,
            "x": [format_param(t.params[param.name]) if is_cat else t.params[param.name] for t in ts],
            "y": [objective_value(t, objective) for t in ts],
            "text": [hover(t, names) for t in ts], "hoverinfo": "text", "marker": marker,
        })
    if infeasible:
        data.append(infeasible_trace(
            study, infeasible, [format_param(t.params[param.name]) if is_cat else t.params[param.name]
                                for t in infeasible], [objective_value(t, objective) for t in infeasible], names))
    xaxis = axis(param.name)
    if isinstance(param, CategoricalParam):
        xaxis.update(type="category", categoryorder="array", categoryarray=[format_param(c) for c in param.choices])
    elif isinstance(param, NumericParam) and param.log:
        xaxis["type"] = "log"
    ys = [v for tr in data for v in tr["y"]]
    yaxis = axis(names[objective], type="log" if log_axis(ys) else "linear")
    fig_layout = layout(param.name, height=320, xaxis=xaxis, yaxis=yaxis, showlegend=len(data) > 1,
                        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
                        margin={"l": 55, "r": 10, "t": 40, "b": 45})
    return {"data": data, "layout": fig_layout}


def intermediate_figure(study: Study) -> Figure | None:
    """Learning curves of the first objective: one line per trial (see :func:`curves_figure`)."""
    curves = [(t, sorted(t.intermediate.items())) for t in study.trials if t.intermediate]
    return curves_figure(curves, metric_names(study)[0], "Intermediate values")


def metric_history_figures(study: Study) -> list[Figure]:
    """One figure per metric other than the first objective whose history some trial recorded.

    The study keeps every metric's bounded per-step history (checkpoint format 3); a metric only ever
    reported once per trial has no curve and is left out. Metrics in order of first appearance, at most
    ``MAX_METRIC_FIGURES`` of them.
    """
    first = metric_names(study)[0]
    by_metric: dict[str, list[tuple[Trial, list[tuple[float, float]]]]] = {}
    for t in study.trials:
        for name, points in study.metric_history(t).items():
            if name != first and points:
                by_metric.setdefault(name, []).append((t, [(float(s), v) for s, v in points]))
    figs = []
    for name, curves in by_metric.items():
        if not any(len(pts) > 1 for _, pts in curves):
            continue
        fig = curves_figure(curves, name, f"History of {name}")
        if fig is not None:
            figs.append(fig)
        if len(figs) == MAX_METRIC_FIGURES:
            break
    return figs


def curves_figure(curves: Sequence[tuple[Trial, Sequence[tuple[float, float]]]], name: str,
                  title: str) -> Figure | None:
    """Per-step curves of one metric: one line per trial; pruned dashed orange, failed/interrupted dotted grey.

    All trials of one state form one trace (separated by gaps) so thousands of curves stay fast; the
    latest ``MAX_CURVES`` trials are drawn.
    """
    curves = list(curves)[-MAX_CURVES:]
    if not curves:
        return None
    dash = {TrialState.COMPLETE: "solid", TrialState.PRUNED: "dash"}
    data = []
    for state in TrialState:
        mine = [(t, pts) for t, pts in curves if t.state is state]
        if not mine:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        text: list[Any] = []
        for t, pts in mine:
            xs += [*(s for s, _ in pts), None]
            ys += [*(v for _, v in pts), None]
            text += [f"trial {t.number} ({state.value})"] * len(pts) + [None]
        data.append({
            "type": "scatter", "mode": "lines+markers" if len(mine) == 1 else "lines", "name": state.value,
            "x": xs, "y": ys, "text": text, "hovertemplate": "%{text}<br>step %{x}: %{y:.4g}<extra></extra>",
            "line": {"color": STATE_STYLE[state]["color"], "dash": dash.get(state, "dot"), "width": 1.3},
            "opacity": 0.75, "connectgaps": False,
        })
    ys_all = [v for _, pts in curves for _, v in pts]
    yaxis = axis(name, type="log" if log_axis(ys_all) else "linear")
    return {"data": data, "layout": layout(title, xaxis=axis("step"), yaxis=yaxis)}


def pareto_figures(study: Study) -> list[Figure]:
    """Each pair of objectives: all complete trials, the Pareto front highlighted (joined for 2 objectives)."""
    m = len(study.directions)
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE
                and all(objective_value(t, i) is not None for i in range(m))]
    if not complete:
        return []
    best = front(study)
    on_front = {t.number for t in best}
    names = metric_names(study)
    figs = []
    feasible, infeasible = split_feasible(study, complete)
    for i, j in list(combinations(range(m), 2))[:6]:
        rest = [t for t in feasible if t.number not in on_front]
        data: list[dict[str, Any]] = [{
            "type": "scatter", "mode": "markers", "name": "dominated",
            "x": [objective_value(t, i) for t in rest], "y": [objective_value(t, j) for t in rest],
            "text": [hover(t, names) for t in rest], "hoverinfo": "text",
            "marker": {"color": "#9aa5b1", "size": 7, "opacity": 0.7},
        }]
        if infeasible:  # constrained domination: never on the front, whatever their values
            data.append(infeasible_trace(study, infeasible, [objective_value(t, i) for t in infeasible],
                                         [objective_value(t, j) for t in infeasible], names))
        pts = sorted(best, key=lambda t: (objective_value(t, i) or 0.0, objective_value(t, j) or 0.0))
        data.append({
            "type": "scatter", "mode": "lines+markers" if m == 2 else "markers", "name": "Pareto front",
            "x": [objective_value(t, i) for t in pts], "y": [objective_value(t, j) for t in pts],
            "text": [hover(t, names) for t in pts], "hoverinfo": "text",
            "line": {"color": "#d62728", "shape": "hv" if m == 2 else "linear"},
            "marker": {"color": "#d62728", "size": 9, "line": {"color": "#fff", "width": 1}},
        })
        title = f"{names[i]} ({study.directions[i]}) vs {names[j]} ({study.directions[j]})"
        figs.append({"data": data, "layout": layout(title, height=440, xaxis=axis(names[i]), yaxis=axis(names[j]))})
    return figs
