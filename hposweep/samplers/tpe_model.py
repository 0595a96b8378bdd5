"""TPE's model of the history: finished trials encoded once, split into good and bad, weighted.

The sampler (``tpe.py``) asks this module three things per parameter group: which trials are good
(:func:`split_good_bad`, or :func:`split_multi_objective` for MOTPE), how much each one weighs
(:func:`ei_weights`, :func:`recency_weights`), and which candidate to propose (:func:`propose`).
Every value enters through :mod:`hposweep.core.codec` in the *cell* coordinate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hposweep.core.codec import CATEGORICAL, CONTINUOUS, DISCRETE, ParamCodec, SpaceCodec
from hposweep.core.space import Param
from hposweep.core.trial import Trial, TrialState
from hposweep.samplers._parzen import Dim, ParzenEstimator

if TYPE_CHECKING:
    from hposweep.core.space import SearchSpace

#: tiers of :func:`score_key`: complete trials sort before pruned ones, then infeasible ones (by
#: violation), failed ones last. Infeasible and failed trials are never good (c-TPE's feasible-first split).
COMPLETE, PRUNED, INFEASIBLE, FAILED = 0, 1, 2, 3


def parzen_dim(c: ParamCodec) -> Dim:
    """How the Parzen estimator treats one parameter (its cells come from the codec)."""
    if c.kind == CATEGORICAL:
        return Dim(CATEGORICAL, n_choices=c.n_cells)
    if c.kind == CONTINUOUS:
        return Dim(CONTINUOUS)
    return Dim(DISCRETE, cells=c.cells, cell=1.0 / (c.n_values or 1), uniform=c.n_cells > 0)

def _condition_chain(p: Param, by_name: dict[str, Param]) -> frozenset[Any]:
    """Every condition that must hold for ``p`` to be active, its ancestors' included."""
    chain: set[Any] = set(p.when)
    for c in p.when:
        chain |= _condition_chain(by_name[c.parent], by_name)
    return frozenset(chain)


def parameter_groups(space: SearchSpace, multivariate: bool) -> list[list[int]]:
    """Indices (into ``space.searchable``) of parameters modelled jointly, parents' groups first."""
    if not multivariate:
        return [[i] for i in range(len(space.searchable))]
    groups: dict[frozenset[Any], list[int]] = {}
    for i, p in enumerate(space.searchable):
        groups.setdefault(_condition_chain(p, space.params), []).append(i)
    return list(groups.values())


# --- the history, encoded once ----------------------------------------------------------------
@dataclass
class History:
    """Finished trials as arrays, grown in place: each trial is encoded once, when it first appears."""

    d: int
    #: number of objectives
    m: int = 1
    n: int = 0
    numbers: list[int] = field(default_factory=list)
    z: np.ndarray = field(init=False)
    tier: np.ndarray = field(init=False)
    step: np.ndarray = field(init=False)
    loss: np.ndarray = field(init=False)
    #: multi-objective only: each complete trial's values (NaN rows for the others)
    objectives: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self._alloc(64)

    def _alloc(self, cap: int) -> None:
        z, tier, step, loss = np.full((cap, self.d), np.nan), np.zeros(cap, np.int8), np.zeros(cap), np.zeros(cap)
        obj = np.full((cap, self.m), np.nan) if self.m > 1 else np.empty((0, 1))
        if self.n:
            z[: self.n], tier[: self.n] = self.z[: self.n], self.tier[: self.n]
            step[: self.n], loss[: self.n] = self.step[: self.n], self.loss[: self.n]
            if self.m > 1:
                obj[: self.n] = self.objectives[: self.n]
        self.z, self.tier, self.step, self.loss, self.objectives = z, tier, step, loss, obj

    def matches(self, finished: Sequence[Trial]) -> bool:
        """True when ``finished`` extends what is cached (same trials at the same places)."""
        n = self.n
        return len(finished) >= n and (n == 0 or (finished[0].number == self.numbers[0]
                                                  and finished[n - 1].number == self.numbers[-1]))

    def extend(self, trials: Sequence[Trial], codec: SpaceCodec, sign: float,
               violation: Callable[[Trial], float] | None = None) -> None:
        if not trials:
            return
        need = self.n + len(trials)
        if need > len(self.tier):
            self._alloc(max(need, 2 * len(self.tier)))
        rows = slice(self.n, need)
        self.z[rows] = encode_trials(trials, codec)
        keys = np.array([score_key(t, sign, violation) for t in trials], dtype=float).reshape(-1, 3)
        self.tier[rows], self.step[rows], self.loss[rows] = keys[:, 0], keys[:, 1], keys[:, 2]
        if self.m > 1:
            # an infeasible trial is NaN here: mo_split never puts it in the good group
            self.objectives[rows] = [[math.nan] * self.m if violation is not None and violation(t) > 0
                                     else objective_vector(t, self.m) for t in trials]
        self.numbers.extend(t.number for t in trials)
        self.n = need


def encode_trials(trials: Sequence[Trial], codec: SpaceCodec) -> np.ndarray:
    """Trials x parameters in the cell coordinate; NaN where a parameter was inactive (or not encodable)."""
    return codec.encode([t.params for t in trials], "cell")


def score_key(t: Trial, sign: float, violation: Callable[[Trial], float] | None = None) -> tuple[int, float, float]:
    """(tier, -reached step, loss) of a trial; lower sorts better.

    Complete trials first, by value; pruned trials next, the ones that got further first, then by
    their last intermediate value; complete trials breaking a constraint next, by how far (their
    "loss" is the violation); failed trials (and NaN results) last: always in the bad group.
    """
    if t.state == TrialState.COMPLETE and t.value is not None and not math.isnan(t.value):
        if violation is not None:
            v = violation(t)
            if v > 0:
                return INFEASIBLE, 0.0, v
        return COMPLETE, 0.0, sign * t.value
    if t.state == TrialState.PRUNED:
        if t.intermediate:
            last = t.curve_summary().last
            assert last is not None
            v = t.intermediate[last]
            return PRUNED, -float(last), sign * v if v is not None and not math.isnan(v) else math.inf
        if t.value is not None and not math.isnan(t.value):
            return PRUNED, 0.0, sign * t.value
    return FAILED, 0.0, math.inf


def objective_vector(t: Trial, m: int) -> list[float]:
    """A complete trial's ``m`` values (NaN for anything else: such trials are never good)."""
    vals = t.values or []
    if t.state == TrialState.COMPLETE and len(vals) == m and all(v is not None and math.isfinite(v) for v in vals):
        return [float(v) for v in vals]
    return [math.nan] * m


# --- split, weights, acquisition ----------------------------------------------------------
def split_good_bad(tier: np.ndarray, step: np.ndarray, loss: np.ndarray, n_good: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``n_good`` best rows and of the rest (both in their original order).

    Failed and infeasible rows are never good, even when that leaves the good group smaller than asked.
    """
    n_good = min(n_good, int(np.count_nonzero(tier < INFEASIBLE)))
    if n_good <= 0:
        return np.empty(0, dtype=int), np.arange(len(tier))
    if not tier.any():  # all complete: a partial sort is enough
        order = np.argpartition(loss, n_good - 1)[:n_good] if n_good < len(loss) else np.arange(len(loss))
        # argpartition breaks ties arbitrarily: re-rank the tied boundary by position (older first)
        thr = loss[order].max()
        good = np.flatnonzero(loss < thr)
        good = np.concatenate((good, np.flatnonzero(loss == thr)[: n_good - len(good)]))
    else:
        good = np.lexsort((loss, step, tier))[:n_good]
    mask = np.zeros(len(tier), dtype=bool)
    mask[good] = True
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def recency_weights(n: int, flat: int = 25) -> np.ndarray:
    """Weights for rows in finish order: the last ``flat`` weigh 1, older ones ramp down to 1/n."""
    if n <= flat:
        return np.ones(n)
    return np.concatenate((np.linspace(1.0 / n, 1.0, n - flat), np.ones(flat)))


def split_multi_objective(objectives: np.ndarray, directions: Sequence[str],
                          n_good: int) -> tuple[np.ndarray, np.ndarray]:
    """MOTPE's split: whole non-dominated fronts while they fit, the last one thinned by hypervolume.

    Rows with NaN (pruned, failed, incomplete) are always bad. See ``hposweep.analysis.pareto.mo_split``.
    """
    from hposweep.analysis.pareto import mo_split

    return mo_split(objectives, directions, n_good)


def hv_weights(objectives: np.ndarray, directions: Sequence[str], floor: float = 0.1) -> np.ndarray:
    """Good-group weights for MOTPE: each good trial's exclusive hypervolume within the good group.

    The multi-objective analogue of :func:`ei_weights` (Ozaki et al. 2020 weight the good trials by
    their hypervolume contribution): a trial that alone holds a stretch of the front gets more of
    l(x), a trial dominated inside the group keeps ``floor``. Reference: the group's worst values plus
    10% of its spread (the greedy split's reference). Uniform when no trial contributes.
    """
    from hposweep.analysis.pareto import hypervolume_contributions, to_minimize

    n = len(objectives)
    if n <= 1:
        return np.ones(n)
    v = to_minimize(objectives, directions)
    worst, best = v.max(axis=0), v.min(axis=0)
    spread = worst - best
    ref = worst + np.where(spread > 0, 0.1 * spread, np.maximum(0.1 * np.abs(worst), 1e-9))
    c = hypervolume_contributions(v, ref)
    scale = c.max()
    if not scale > 0:
        return np.ones(n)
    return floor + (1.0 - floor) * c / scale


def ei_weights(tier: np.ndarray, loss: np.ndarray, good: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Good-group weights proportional to each trial's improvement over the split threshold.

    The better a good trial, the more of l(x) it gets (Watanabe 2023, "EI weighting"); the trial
    right at the threshold keeps a small share. Uniform when the group holds pruned trials.
    """
    n = len(good)
    if n == 0 or tier[good].any() or not np.isfinite(loss[good]).all():
        return np.ones(n)
    ok_bad = bad[(tier[bad] == COMPLETE) & np.isfinite(loss[bad])]
    thr = loss[ok_bad].min() if len(ok_bad) else loss[good].max()
    gain = thr - loss[good]
    scale = gain.max()
    if not scale > 0:
        return np.ones(n)
    return 0.1 + gain / scale


def propose(good: ParzenEstimator, bad: ParzenEstimator, rng: np.random.Generator, n_candidates: int,
            avoid: Sequence[np.ndarray] = (),
            penalty: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Draw candidates from l(x) and return the one maximizing log l(x) - log g(x).

    ``avoid`` holds arrays of rows already taken, most important first (running trials, then
    finished ones); used for groups of only discrete parameters, where repeats are likely. A
    candidate repeating a row is dropped while some candidate does not: a repeat teaches nothing.
    ``penalty(candidates)`` is added to the scores (``running_penalty``); the candidates and the random
    stream are the same with or without it.
    """
    cand = good.sample(rng, n_candidates)
    score = good.log_pdf(cand) - bad.log_pdf(cand)
    if penalty is not None:
        score = score + penalty(cand)
    for rows in avoid:
        if len(rows):
            dup = (np.abs(cand[:, None, :] - rows[None, :, :]) < 1e-9).all(axis=2).any(axis=1)
            if not (dup | np.isneginf(score)).all():
                score[dup] = -np.inf
    return cand[int(np.argmax(score))]
