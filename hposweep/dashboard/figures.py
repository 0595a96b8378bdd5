"""Figures only a live view has: the timeline of trials by worker, studies compared, one trial's curves.

Built like the report's (:mod:`hposweep.report.figures`): plain plotly.js figure dicts from a study,
with the report's colours, axes and layout (:mod:`hposweep.report.style`), so both read alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import Trial, TrialState
from hposweep.report.format import format_value
from hposweep.report.style import STATE_STYLE, Figure, axis, layout, log_axis
from hposweep.study.summary import best_so_far, metric_names

if TYPE_CHECKING:
    from hposweep.study.api import Study


def lane(t: Trial) -> str:
    """Where a trial ran: its worker and slot (and GPUs), as recorded in the trial's info."""
    worker = t.info.get("node") or t.info.get("worker") or "?"
    text = f"{worker} slot {t.info.get('slot', '?')}"
    if t.info.get("gpus") is not None:
        text += f" gpu {t.info['gpus']}"
    return str(text)


def _iso(ts: float) -> str:
    """A Unix time as the local-time text plotly's date axis reads (millisecond precision)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"


def timeline_figure(study: Study, now: float | None = None) -> Figure | None:
    """One horizontal bar per trial from its start to its finish (running ones: to now), one row per lane.

    Gaps between the bars of a row are time that slot sat idle (sampling, a slow start, a queue).
    """
    now = time.time() if now is None else now
    trials = [t for t in study.trials if t.started_at is not None]
    if not trials:
        return None
    lanes = sorted({lane(t) for t in trials})
    data: list[dict[str, Any]] = []
    for state in TrialState:
        ts = [t for t in trials if t.state is state]
        if not ts:
            continue
        ends = [t.finished_at if t.finished_at is not None else now for t in ts]
        data.append({
            "type": "bar", "orientation": "h", "name": state.value,
            "y": [lane(t) for t in ts],
            "base": [_iso(float(t.started_at or 0.0)) for t in ts],
            "x": [max(1.0, 1000.0 * (end - float(t.started_at or end))) for t, end in zip(ts, ends, strict=True)],
            "text": [str(t.number) for t in ts], "textposition": "inside", "insidetextanchor": "middle",
            "customdata": [[t.number, format_value(end - float(t.started_at or end))] for t, end in
                           zip(ts, ends, strict=True)],
            "hovertemplate": "trial %{customdata[0]} (" + state.value + "): %{customdata[1]} s<extra></extra>",
            "marker": {"color": STATE_STYLE[state]["color"], "line": {"color": "#fff", "width": 1}},
        })
    height = min(900, 140 + 30 * len(lanes))
    fig_layout = layout("Timeline of trials by worker and slot (gaps: idle)", height=height, barmode="overlay",
                        xaxis=axis("time", type="date"),
                        yaxis=axis("", type="category", categoryorder="array", categoryarray=lanes,
                                   automargin=True, autorange="reversed"))
    return {"data": data, "layout": fig_layout}


def compare_figure(studies: Sequence[tuple[str, Study]]) -> Figure | None:
    """The best-so-far curve of each study's first objective, overlaid (the same space, two samplers or seeds)."""
    data: list[dict[str, Any]] = []
    ys: list[float] = []
    for name, study in studies:
        best = best_so_far(study, 0)
        values = with_values(study)
        if values:
            data.append({"type": "scatter", "mode": "markers", "name": f"{name} trials", "legendgroup": name,
                         "x": [n for n, _ in values], "y": [v for _, v in values],
                         "marker": {"size": 5, "opacity": 0.35}, "showlegend": False})
        if best:
            ys += [v for _, v in best]
            data.append({"type": "scatter", "mode": "lines", "name": name, "legendgroup": name,
                         "line": {"shape": "hv", "width": 2},
                         "x": [n for n, _ in best], "y": [v for _, v in best]})
    if not data:
        return None
    metrics = sorted({f"{metric_names(s)[0]} ({s.directions[0]})" for _, s in studies})
    title = "Best so far: " + ", ".join(metrics)
    return {"data": data, "layout": layout(title, height=480, xaxis=axis("trial"),
                                           yaxis=axis(" / ".join(metrics), type="log" if log_axis(ys) else "linear"))}


def with_values(study: Study) -> list[tuple[int, float]]:
    return [(t.number, float(t.values[0])) for t in study.trials
            if t.state is TrialState.COMPLETE and t.values and t.values[0] == t.values[0]]


def curve_figures(curves: Mapping[str, Mapping[float, float]], pruned_at: int | None = None) -> list[Figure]:
    """One small figure per metric of a trial (step → value); the step a trial was pruned at marked."""
    figs = []
    for name, points in curves.items():
        if not points:
            continue
        steps = sorted(points)
        ys = [points[s] for s in steps]
        fig_layout = layout(name, height=300, xaxis=axis("step"), yaxis=axis(name, type="log" if log_axis(ys)
                                                                               else "linear"),
                            showlegend=False, margin={"l": 55, "r": 10, "t": 40, "b": 45})
        data: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines+markers", "name": name, "x": steps,
                                       "y": ys, "marker": {"size": 4}}]
        if pruned_at is not None and pruned_at in points:
            data.append({"type": "scatter", "mode": "markers", "name": "pruned here", "x": [pruned_at],
                         "y": [points[pruned_at]],
                         "marker": {"symbol": "x", "size": 12, "color": STATE_STYLE[TrialState.PRUNED]["color"]}})
        figs.append({"data": data, "layout": fig_layout})
    return figs
