"""Terminal-sized views of a study: a convergence sparkline, the top importances.

The trial-row schema lives in :mod:`hposweep.study.rows`; ``metric_names``, ``trial_columns`` and
``trial_rows`` are re-exported here because the report imports them from this module.
Nothing here imports numpy at module import; ``importance_lines`` does (lazily) because it runs
the importance analysis, which is why it refuses to do so on tiny studies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hposweep.core.trial import Trial, TrialState
from hposweep.study.rows import metric_names, trial_columns, trial_rows, value_columns

if TYPE_CHECKING:
    from hposweep.study.api import Study

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
#: below this many complete trials an importance estimate is noise, so the summary leaves it out
MIN_TRIALS_FOR_IMPORTANCE = 10

__all__ = ["best_so_far", "convergence_sparkline", "importance_lines", "metric_names", "sparkline",
           "trial_columns", "trial_rows", "value_columns"]


def best_so_far(study: Study, objective: int = 0) -> list[tuple[int, float]]:
    """``(trial number, best value so far)`` at each complete trial, in trial-number order.

    Only complete trials count, as for ``study.best_trial``: a pruned trial's value is a partial one, and
    a complete trial that breaks a constraint (infeasible) is never the best.
    """
    direction = study.directions[objective]
    sign = 1.0 if direction == "minimize" else -1.0
    out: list[tuple[int, float]] = []
    best: float | None = None
    for t in sorted(study.trials, key=lambda t: t.number):
        v = _value(t, objective)
        if t.state is not TrialState.COMPLETE or v is None or not study.is_feasible(t):
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


def digest_lines(study: Study, convergence_label: str = "convergence") -> list[str]:
    """The convergence sparkline and the top importances as printed lines: what ``best`` and the end of a
    sweep show under the best trial (empty parts are left out)."""
    lines: list[str] = []
    spark = convergence_sparkline(study)
    if spark:
        lines.append(f"{convergence_label}: {spark}")
    top = importance_lines(study)
    if top:
        lines.append("most important parameters:")
        lines += ["  " + text for text in top]
    return lines
