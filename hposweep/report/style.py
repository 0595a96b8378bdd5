"""What every figure shares: colours, layout, axes, and which trials carry a value to plot.

The figure builders (``figures``, ``parallel``, ``contours``) return plain plotly.js figure dicts
(``{"data": [...], "layout": {...}}``) from a study and nothing else, so the static report and a
live dashboard draw the same views from the same code. Hover labels use plotly's own markup
(``<br>`` line breaks, escaped text); no page HTML is built here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import Trial, TrialState
from hposweep.report.format import finite, format_param, format_value

if TYPE_CHECKING:
    from hposweep.study.api import Study

Figure = dict[str, Any]

COLORSCALE = "Viridis"
STATE_STYLE = {
    TrialState.COMPLETE: {"color": "#1f77b4", "symbol": "circle"},
    TrialState.PRUNED: {"color": "#ff7f0e", "symbol": "x"},
    TrialState.FAILED: {"color": "#7f7f7f", "symbol": "triangle-down"},
    TrialState.INTERRUPTED: {"color": "#bcbd22", "symbol": "diamond"},
    TrialState.RUNNING: {"color": "#17becf", "symbol": "square"},
}
#: a complete trial that breaks a constraint: its own grey cross and legend entry in every figure
INFEASIBLE = "infeasible"
INFEASIBLE_STYLE = {"color": "#7f7f7f", "symbol": "x"}
#: plotly.js options for every figure (no logo, no "edit in chart studio" link)
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "showLink": False, "showSendToCloud": False}


def objective_value(t: Trial, i: int) -> float | None:
    """Objective ``i`` of a trial, or None when it has none that plots."""
    if t.values is None or i >= len(t.values):
        return None
    v = t.values[i]
    return float(v) if finite(v) else None


def with_value(study: Study, i: int = 0,
               states: Iterable[TrialState] = (TrialState.COMPLETE, TrialState.PRUNED)) -> list[Trial]:
    """Trials in ``states`` whose objective ``i`` plots (pruned ones carry the value they were pruned at)."""
    wanted = set(states)
    return [t for t in study.trials if t.state in wanted and objective_value(t, i) is not None]


def is_infeasible(study: Study, t: Trial) -> bool:
    """A complete trial of a study with constraints that breaks one (pruned, failed, running: neither)."""
    return t.state is TrialState.COMPLETE and bool(study.settings.get("constraints")) and not study.is_feasible(t)


def split_feasible(study: Study, trials: Iterable[Trial]) -> tuple[list[Trial], list[Trial]]:
    """``(the rest, the infeasible ones)`` of ``trials``, each in the order given."""
    rest: list[Trial] = []
    bad: list[Trial] = []
    for t in trials:
        (bad if is_infeasible(study, t) else rest).append(t)
    return rest, bad


def infeasible_marker(size: int = 8) -> dict[str, Any]:
    return {"color": INFEASIBLE_STYLE["color"], "symbol": INFEASIBLE_STYLE["symbol"], "size": size, "opacity": 0.8}


def infeasible_hover(study: Study, t: Trial, names: Sequence[str]) -> str:
    """The hover label of an infeasible trial: the usual one, then which constraint it broke."""
    reason = study.infeasible_reason(t) or "breaks a constraint"
    return f"{hover(t, names)}<br>infeasible: {html.escape(reason)}"


def infeasible_trace(study: Study, trials: Sequence[Trial], x: Sequence[Any], y: Sequence[Any],
                     names: Sequence[str]) -> dict[str, Any]:
    """The grey crosses of complete trials that break a constraint, at ``(x, y)``: one legend entry."""
    return {
        "type": "scatter", "mode": "markers", "name": INFEASIBLE, "x": list(x), "y": list(y),
        "customdata": [t.number for t in trials],
        "text": [infeasible_hover(study, t, names) for t in trials], "hoverinfo": "text",
        "marker": infeasible_marker(),
    }


def front(study: Study) -> list[Trial]:
    """The Pareto front of complete trials (``study.best_trials``)."""
    return list(study.best_trials)


def hover(t: Trial, names: Sequence[str]) -> str:
    """A trial's hover label: number and state, its objective values, its parameters."""
    vals = ", ".join(f"{n}={format_value(v)}" for n, v in zip(names, t.values or [], strict=False))
    params = "<br>".join(f"{html.escape(k)}={html.escape(format_param(v))}" for k, v in t.params.items())
    return f"trial {t.number} ({t.state.value})<br>{html.escape(vals)}<br>{params}"


def reverse_scale(direction: str) -> bool:
    """Colour good trials bright (Viridis yellow) whichever way the objective goes."""
    return direction == "minimize"


def log_axis(values: Sequence[float | None]) -> bool:
    """A log y axis when values are positive and span more than three decades (losses often do)."""
    pos = [v for v in values if v is not None]
    return bool(pos) and min(pos) > 0 and max(pos) / min(pos) > 1e3


def layout(title: str, height: int = 420, **extra: Any) -> dict[str, Any]:
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


def axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "gridcolor": "#e3e6ea", "zeroline": False, **extra}


def linspace(lo: float, hi: float, n: int) -> list[float]:
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]
