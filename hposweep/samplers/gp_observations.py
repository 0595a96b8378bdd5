"""Which finished trials the GP models, with what value, and when its hyperparameters are refitted.

Kept apart from the sampler (``gp.py``) because these are the bookkeeping rules a reader checks on their own:
what a failed, pruned or infeasible trial counts as, how one diverged run is kept from flattening the model,
which observations a long sweep keeps, and the refit schedule that a resumed study must repeat exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hposweep.core.trial import Trial, TrialState

#: the model keeps at most this many observations: the best ``_KEEP_BEST`` and the most recent others
MAX_POINTS = 300
#: hyperparameters are fitted on at most this many of them (the best two thirds + the most recent)
MAX_FIT_POINTS = 150
_KEEP_BEST = 200
#: hyperparameters are refitted at every ask up to this many observations; past it one fit serves up to
#: n // REFIT_STEPS asks (see :func:`refit_point`)
REFIT_ALL_UNTIL = 50
REFIT_STEPS = 25


def objective_value(t: Trial, sign: float) -> float | None:
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.values:
        v = t.values[0]
        if v is not None and math.isfinite(v):
            return sign * float(v)
    return None


def feasible_objective(violation: Callable[[Trial], float]) -> Callable[[Trial, float], float | None]:
    """Like :func:`objective_value`, but an infeasible trial has no value: the fit then gives it the worst
    value seen, as it does a failed trial (c-TPE's "infeasible is bad" rule, applied to the GP)."""
    def objective(t: Trial, sign: float) -> float | None:
        if t.state is TrialState.COMPLETE and violation(t) > 0:
            return None
        return objective_value(t, sign)
    return objective


def warp_outputs(y: np.ndarray) -> np.ndarray:
    """Squash values far above the bulk (log beyond q75 + 3 IQR), then standardize.

    Monotone, so the best point stays the best; a diverged run at 1e6 no longer makes every
    other difference look like zero.
    """
    q25, q75 = np.percentile(y, [25, 75])
    iqr = q75 - q25
    if iqr > 0:
        cap = q75 + 3.0 * iqr
        y = np.where(y > cap, cap + iqr * np.log1p(np.maximum(y - cap, 0.0) / iqr), y)
    sd = float(y.std())
    return (y - y.mean()) / (sd if sd > 0 else 1.0)


def select_points(y: np.ndarray, max_points: int = MAX_POINTS, keep_best: int = _KEEP_BEST) -> np.ndarray:
    """Indices the model keeps: all of them, or the best ``keep_best`` plus the most recent others."""
    n = y.shape[0]
    if n <= max_points:
        return np.arange(n)
    best = np.argsort(y, kind="stable")[:keep_best]
    rest = np.setdiff1d(np.arange(n), best)
    return np.sort(np.concatenate([best, rest[-(max_points - keep_best):]]))


def refit_point(n: int) -> int:
    """How many of the ``n`` observations the hyperparameters are fitted on.

    All of them up to ``REFIT_ALL_UNTIL``; past it, the last multiple of ``m // REFIT_STEPS`` not above
    ``n``, so one fit serves up to ``n // REFIT_STEPS`` asks (the model is still conditioned on every
    observation). A function of ``n`` alone, so a resumed study refits exactly where an uninterrupted
    one did and proposes the same points.
    """
    m = n
    while m > REFIT_ALL_UNTIL and m % max(1, m // REFIT_STEPS):
        m -= 1
    return m
