"""Is the best trial likely luck? An estimate of the objective's noise from the sweep itself.

Real training is noisy: the same configuration run twice gives two values. A sweep of one run per
configuration then tends to crown the configuration that was lucky once, and the user cannot tell from
the best value alone. ``hposweep repeat`` settles it by measurement; this module says *when* to.

How the noise is estimated, without repeats: a converging sampler (TPE, GP, CMA-ES) puts many trials
close together near the best region. Two trials that are near neighbours in the unit cube (the one codec
of :mod:`hposweep.core.codec`) differ by the noise plus the objective's change over their small distance,
so the median absolute difference of the closest pairs, scaled as for a normal distribution
(``|a - b| ~ sqrt(2) sd |Z|``, median ``0.6745 sqrt(2) sd``), bounds the noise from above; exact repeats
(``hposweep repeat``) give it without the bias. Only pairs whose distance is below ``radius`` (a share of
the cube's diagonal) count, and at least ``min_pairs`` of them are needed, else no verdict.

The verdict: how many other trials lie within chance of the best value (:data:`LEVEL_SDS` noise sds, the
spread of a difference of two single runs). With two or more, one run each cannot tell them apart: "likely
luck", and the report says to repeat the top ones. A noise estimate that is tiny against the values' spread
(:data:`RELATIVE_NOISE`), or differences that shrink with the distance between the pair
(:data:`SMOOTH_RATIO`), are taken as no noise: near a smooth optimum, neighbours differ by a little.

Measured on TPE sweeps of 60 trials on a broad 2-d bowl (``tests/test_luck.py``, 12 seeds each): with noise
sd 0.05 the estimate was 0.039-0.108 and with sd 0.01 it was 0.007-0.017, and every such sweep was flagged;
without noise the estimate was 0 and none was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: pairs of trials closer than this share of the unit cube's diagonal count as near repeats
NEAR_RADIUS = 0.05
#: fewer near pairs than this give no noise estimate (a median of two differences says little)
MIN_PAIRS = 5
#: a noise sd below this share of the values' spread (median minus best) is no noise to speak of: near the
#: optimum of a smooth objective, neighbours differ by tiny amounts that are not chance
RELATIVE_NOISE = 0.02
#: when the closer half of the near pairs differ by less than this share of the farther half, the
#: differences are the objective's slope, not noise (noise does not shrink with the distance). Measured on
#: the sweeps of tests/test_luck.py: 0.01-0.09 without noise, 0.53-4.6 with noise sd 0.003-0.05.
SMOOTH_RATIO = 0.3
#: two single runs differ by chance (about 95 %) within 2 sd of their difference, 2 sqrt(2) noise sds
LEVEL_SDS = 2.0 * math.sqrt(2.0)
#: 0.6745 * sqrt(2): the median of |a - b| for two draws of a unit normal
_MEDIAN_ABS_DIFF = 0.6745 * math.sqrt(2.0)


@dataclass(frozen=True)
class Luck:
    """The noise estimate and how many trials it leaves level with the best."""

    noise_sd: float
    #: near pairs the estimate came from
    pairs: int
    #: other trials within chance (:data:`LEVEL_SDS` noise sds) of the best value
    level: int
    #: best value minus the runner-up's (minimization), in noise sds
    gap_sds: float

    @property
    def likely(self) -> bool:
        return self.level >= 2


def noise_estimate(x: np.ndarray, y: np.ndarray, *, radius: float = NEAR_RADIUS,
                   min_pairs: int = MIN_PAIRS) -> tuple[float, int] | None:
    """``(noise sd, pairs)`` from near pairs of rows of ``x`` (unit cube, NaN for inactive) and their values
    ``y``; None with fewer than ``min_pairs`` pairs. Each trial pairs with its nearest neighbour only, so one
    crowded spot does not count many times."""
    ok = np.isfinite(y)
    x, y = np.nan_to_num(x[ok], nan=-1.0), y[ok]
    n, d = x.shape if x.ndim == 2 else (len(x), 1)
    if n < 2 or d == 0:
        return None
    limit = radius * math.sqrt(d)
    near: list[tuple[float, float]] = []  # (distance, |difference|) of each near pair
    seen: set[tuple[int, int]] = set()
    for i in range(n):
        dist = np.sqrt(((x - x[i]) ** 2).sum(axis=1))
        dist[i] = np.inf
        j = int(np.argmin(dist))
        pair = (min(i, j), max(i, j))
        if dist[j] <= limit and pair not in seen:
            seen.add(pair)
            near.append((float(dist[j]), abs(float(y[i] - y[j]))))
    if len(near) < min_pairs:
        return None
    near.sort()
    diffs = [d for _, d in near]
    half = len(diffs) // 2
    closer, farther = float(np.median(diffs[:half])), float(np.median(diffs[half:]))
    if farther > 0 and closer < SMOOTH_RATIO * farther:
        return 0.0, len(diffs)  # the differences shrink with the distance: the objective's slope, not noise
    return float(np.median(diffs)) / _MEDIAN_ABS_DIFF, len(diffs)


def best_luck(x: np.ndarray, y: Sequence[float], *, minimize: bool = True) -> Luck | None:
    """The verdict for the best of ``y`` (see the module docstring); None when the noise cannot be told."""
    values = np.asarray(y, dtype=float)
    est = noise_estimate(np.asarray(x, dtype=float), values)
    if est is None:
        return None
    sd, pairs = est
    v = values if minimize else -values
    v = v[np.isfinite(v)]
    order = np.sort(v)
    spread = float(np.median(order) - order[0]) if len(order) else 0.0
    if len(order) < 2 or sd <= RELATIVE_NOISE * spread:
        return Luck(sd, pairs, 0, math.inf)  # noise-free, for what the sweep can tell
    level = int(np.sum(order[1:] <= order[0] + LEVEL_SDS * sd))
    return Luck(sd, pairs, level, float((order[1] - order[0]) / sd))
