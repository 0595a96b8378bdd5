"""Tree-structured Parzen Estimator (TPE): hposweep's default sampler.

How it works (Bergstra et al. 2011; Watanabe 2023): the finished trials are split into a small
*good* group (the best ``gamma(n)``) and a *bad* group (the rest, plus failed trials and, as a
"constant liar", the trials still running). A Parzen estimator (kernel mixture, ``_parzen.py``) is
fitted to each: l(x) on the good group, g(x) on the bad one. Candidates are drawn from l(x) and the
one with the largest log l(x) - log g(x) is proposed: it looks like good trials and unlike bad ones.

Conditional spaces: parameters are modelled in *groups* that are always active together (same
chain of ``when:`` conditions). A group's estimators use only the trials where the group was
active, so a parameter absent from a trial never distorts the model of the others. With
``multivariate: true`` (the default) each group has one joint kernel (keeps correlations between
parameters); with ``false`` each parameter has its own density.

Defaults, and why. Each was measured on the shared benchmark (branin, hartmann6, ackley5,
tabular_like; ``../shared/bench``, 20-30 seeds, mean rank among all variants at 25/50/100 trials)
and on ``scripts/tpe_quality.py`` (8 more problems: 2-20 dims, log scales, ints, steps,
categoricals, a conditional space; 30-50 seeds). Later rounds re-tested earlier choices:

* ``multivariate=True``: one joint kernel per group. Univariate was last or nearly last
  (benchmark rank 14.75 of 16 at 100 trials, own problems 12.1 of 14), far behind on problems
  whose parameters interact (hartmann6, ackley5, mixed12).
* ``bandwidth="gap"`` with ``gap_prior=False, gap_endpoints=False``: each kernel as wide as the
  larger gap to its neighbouring observations (the outermost ones use their inner gap), and
  ``min_bandwidth=0.03`` of the range with ``magic_clip_exponent=2`` (the clip ``1/min(100, n+1)**2``
  then only matters before 6 trials). This one change took TPE from behind Optuna's to ahead of
  it (benchmark rank at 25/50/100: 7.3/6.3/6.5 -> 1.3/1.3/2.0 of 12; own problems 7.0/5.8/6.0 ->
  2.8/2.9/1.9). Counting the prior's centre or the bounds as neighbours widens kernels and
  explores too much; Scott's rule (one width per dimension) was worst. 0.02 and 0.05 were within
  noise of 0.03 (Watanabe 2023's value).
* ``weighting="ei"``: good trials weigh in proportion to how far they beat the split threshold.
  Better than uniform weights in both suites (final round: benchmark 1.5 vs 3.25 of 6, own 1.9
  vs 2.25).
* ``startup="lhs"``, ``n_startup_trials=10``: a Latin hypercube seeded by the study seed (row k
  for trial k) beat random start-up points and matched scrambled Sobol (``"sobol"``) without
  importing scipy.stats; 6 or 15 start-up trials were no better than 10.
* ``gamma=0.1`` (at most ``max_good=25`` good trials): 0.15 was worse on the benchmark (rank 11
  vs 5.25 of 16 at 100 trials).
* ``n_candidates=24``, ``prior_weight=1``: 12/48 candidates and prior weights 0.5/2 were within
  noise, so the usual values stay.
* Categorical kernels put 1 + prior/(n+1) on the observed choice and prior/(n+1) on the others
  (sharpening as data grows); a fixed smoothing of 0.1-0.25 was clearly worse on the conditional
  problem.
* ``avoid_duplicates=True``: for groups of only ints/categoricals, a candidate repeating a running
  or finished configuration is dropped while another one is left (repeats teach nothing, and
  concurrent asks then differ even in tiny discrete spaces).
* ``max_bad=500``: g(x) uses the most recent 500 bad trials (the good group always comes from the
  whole history), down-weighted by a linear ramp past the newest 25; it changes nothing before
  about 525 trials and keeps an ask at a near-constant cost: sampler alone about 2 ms after
  1,000 or 10,000 trials with a cap of 500, 2.5-2.9 ms with 1,000 (``scripts/bench_sampler.py
  --direct``; Optuna 5's default TPE takes 40-77 ms after 1,000 trials and 150-190 ms after
  10,000 on the same machine).

Multi-objective studies (MOTPE): the good group is built from whole non-dominated fronts, the last
front that does not fit thinned greedily by hypervolume (``hposweep.pareto.mo_split``), so it stays
spread along the front; good trials weigh the same (EI weighting is single-objective); only
complete trials with every value finite can be good.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hposweep.core.space import CategoricalParam, NumericParam, Param
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError
from hposweep.samplers._parzen import CATEGORICAL, CONTINUOUS, DISCRETE, Bandwidth, Dim, ParzenEstimator
from hposweep.samplers.base import Sampler, SamplingContext
from hposweep.samplers.random import sample_param

if TYPE_CHECKING:
    from hposweep.core.space import SearchSpace

_COMPLETE, _PRUNED, _FAILED = 0, 1, 2


# --- encoding: parameter values <-> the unit interval ----------------------------------------
@dataclass
class _ParamCodec:
    """Maps one parameter's values to [0, 1] (numeric) or a choice index (categorical), and back.

    Ints and stepped floats get a cell each: the range is widened by half a step on both sides
    (half a unit in log space for log ints), so the end values are as likely as the inner ones.
    """

    param: Param
    kind: int
    lo: float = 0.0
    span: float = 1.0
    #: number of cells of a linear discrete parameter (0 otherwise)
    m: int = 0

    @classmethod
    def of(cls, p: Param) -> _ParamCodec:
        if isinstance(p, CategoricalParam):
            return cls(p, CATEGORICAL)
        assert isinstance(p, NumericParam)
        n = p.n_values()
        if n is None:
            return cls(p, CONTINUOUS, p.internal_low, p.internal_high - p.internal_low)
        if p.log:  # log int: cells [log(v - 1/2), log(v + 1/2)]
            lo, hi = math.log(p.low - 0.5) if p.low > 0.5 else math.log(p.low), math.log(p.high + 0.5)
            return cls(p, DISCRETE, lo, hi - lo)
        step = float(p.step or 1)
        return cls(p, DISCRETE, p.low - step / 2, n * step, n)

    def dim(self) -> Dim:
        if self.kind == CATEGORICAL:
            return Dim(CATEGORICAL, n_choices=len(self.param.choices))  # type: ignore[attr-defined]
        if self.kind == CONTINUOUS:
            return Dim(CONTINUOUS)
        return Dim(DISCRETE, cells=self.cells, cell=1.0 / (self.param.n_values() or 1), uniform=self.m > 0)

    def encode(self, value: Any) -> float:
        p = self.param
        if self.kind == CATEGORICAL:
            return float(p.index(value))  # type: ignore[attr-defined]
        z = (p.to_internal(value) - self.lo) / self.span  # type: ignore[attr-defined]
        if self.m:
            z = (math.floor(z * self.m) + 0.5) / self.m
        return min(max(z, 0.0), 1.0)

    def cells(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cell holding each z: low edge, high edge, and the z of the legal value itself."""
        if self.m:
            i = np.minimum(np.maximum(np.floor(z * self.m), 0.0), self.m - 1.0)
            return i / self.m, (i + 1) / self.m, (i + 0.5) / self.m
        p = self.param
        v = np.minimum(np.maximum(np.round(np.exp(self.lo + z * self.span)), p.low), p.high)  # type: ignore[attr-defined]
        a = (np.log(np.maximum(v - 0.5, 1e-300)) - self.lo) / self.span
        b = (np.log(v + 0.5) - self.lo) / self.span
        return np.maximum(a, 0.0), np.minimum(b, 1.0), (np.log(v) - self.lo) / self.span

    def decode(self, z: float) -> Any:
        p = self.param
        if self.kind == CATEGORICAL:
            choices = p.choices  # type: ignore[attr-defined]
            return choices[int(min(max(round(z), 0), len(choices) - 1))]
        if self.m:
            i = int(min(max(math.floor(z * self.m), 0), self.m - 1))
            return p.snap(p.low + i * float(p.step or 1))  # type: ignore[attr-defined]
        return p.from_internal(self.lo + z * self.span)  # type: ignore[attr-defined]


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
class _History:
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

    def extend(self, trials: Sequence[Trial], codecs: Sequence[_ParamCodec], sign: float) -> None:
        if not trials:
            return
        need = self.n + len(trials)
        if need > len(self.tier):
            self._alloc(max(need, 2 * len(self.tier)))
        rows = slice(self.n, need)
        self.z[rows] = encode_trials(trials, codecs)
        keys = np.array([score_key(t, sign) for t in trials], dtype=float).reshape(-1, 3)
        self.tier[rows], self.step[rows], self.loss[rows] = keys[:, 0], keys[:, 1], keys[:, 2]
        if self.m > 1:
            self.objectives[rows] = [objective_vector(t, self.m) for t in trials]
        self.numbers.extend(t.number for t in trials)
        self.n = need


def encode_trials(trials: Sequence[Trial], codecs: Sequence[_ParamCodec]) -> np.ndarray:
    """Trials x parameters in normalized coordinates; NaN where a parameter was inactive."""
    out = np.full((len(trials), len(codecs)), np.nan)
    for j, c in enumerate(codecs):
        name = c.param.name
        for i, t in enumerate(trials):
            v = t.params.get(name)
            if v is not None or name in t.params:
                try:
                    out[i, j] = c.encode(v)
                except (ValueError, TypeError, OverflowError):
                    pass  # a value outside the space (edited space on resume): leave it out
    return out


def score_key(t: Trial, sign: float) -> tuple[int, float, float]:
    """(tier, -reached step, loss) of a trial; lower sorts better.

    Complete trials first, by value; pruned trials next, the ones that got further first, then by
    their last intermediate value; failed trials (and NaN results) last: always in the bad group.
    """
    if t.state == TrialState.COMPLETE and t.value is not None and not math.isnan(t.value):
        return _COMPLETE, 0.0, sign * t.value
    if t.state == TrialState.PRUNED:
        if t.intermediate:
            last = max(t.intermediate)
            v = t.intermediate[last]
            return _PRUNED, -float(last), sign * v if v is not None and not math.isnan(v) else math.inf
        if t.value is not None and not math.isnan(t.value):
            return _PRUNED, 0.0, sign * t.value
    return _FAILED, 0.0, math.inf


def objective_vector(t: Trial, m: int) -> list[float]:
    """A complete trial's ``m`` values (NaN for anything else: such trials are never good)."""
    vals = t.values or []
    if t.state == TrialState.COMPLETE and len(vals) == m and all(v is not None and math.isfinite(v) for v in vals):
        return [float(v) for v in vals]
    return [math.nan] * m


# --- split, weights, acquisition ----------------------------------------------------------
def split_good_bad(tier: np.ndarray, step: np.ndarray, loss: np.ndarray, n_good: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``n_good`` best rows and of the rest (both in their original order).

    Failed rows are never good, even when that leaves the good group smaller than asked.
    """
    n_good = min(n_good, int(np.count_nonzero(tier != _FAILED)))
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

    Rows with NaN (pruned, failed, incomplete) are always bad. See ``hposweep.pareto.mo_split``.
    """
    from hposweep.analysis.pareto import mo_split

    return mo_split(objectives, directions, n_good)


def ei_weights(tier: np.ndarray, loss: np.ndarray, good: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Good-group weights proportional to each trial's improvement over the split threshold.

    The better a good trial, the more of l(x) it gets (Watanabe 2023, "EI weighting"); the trial
    right at the threshold keeps a small share. Uniform when the group holds pruned trials.
    """
    n = len(good)
    if n == 0 or tier[good].any() or not np.isfinite(loss[good]).all():
        return np.ones(n)
    ok_bad = bad[(tier[bad] == _COMPLETE) & np.isfinite(loss[bad])]
    thr = loss[ok_bad].min() if len(ok_bad) else loss[good].max()
    gain = thr - loss[good]
    scale = gain.max()
    if not scale > 0:
        return np.ones(n)
    return 0.1 + gain / scale


def propose(good: ParzenEstimator, bad: ParzenEstimator, rng: np.random.Generator, n_candidates: int,
            avoid: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Draw candidates from l(x) and return the one maximizing log l(x) - log g(x).

    ``avoid`` holds arrays of rows already taken, most important first (running trials, then
    finished ones); used for groups of only discrete parameters, where repeats are likely. A
    candidate repeating a row is dropped while some candidate does not: a repeat teaches nothing.
    """
    cand = good.sample(rng, n_candidates)
    score = good.log_pdf(cand) - bad.log_pdf(cand)
    for rows in avoid:
        if len(rows):
            dup = (np.abs(cand[:, None, :] - rows[None, :, :]) < 1e-9).all(axis=2).any(axis=1)
            if not (dup | np.isneginf(score)).all():
                score[dup] = -np.inf
    return cand[int(np.argmax(score))]


# --- the sampler ------------------------------------------------------------------------------
def _check_options(o: dict[str, Any]) -> None:
    """Raise ValueError (the registry turns it into a ConfigError) for an option out of range."""
    for name in ("n_startup_trials", "n_candidates", "max_good", "max_bad"):
        low = 0 if name == "n_startup_trials" else 1
        if isinstance(o[name], bool) or not isinstance(o[name], int) or o[name] < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {o[name]!r}")
    choices = {"bandwidth": ("gap", "scott"), "startup": ("lhs", "sobol", "random"), "weighting": ("ei", "uniform")}
    for name, allowed in choices.items():
        if o[name] not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {o[name]!r}")
    ranges = {"gamma": (0.0, 1.0), "min_bandwidth": (0.0, 1.0), "magic_clip_exponent": (0.0, 10.0),
              "prior_weight": (0.0, 1e6), "min_cells": (1.0, 1e6)}
    for name, (lo, hi) in ranges.items():
        v = o[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi or (name == "gamma" and v == 0):
            span = "(0, 1]" if name == "gamma" else f"[{lo:g}, {hi:g}]"
            raise ValueError(f"{name} must be a number in {span}, got {v!r}")
    cs = o["categorical_smoothing"]
    if cs is not None and (isinstance(cs, bool) or not isinstance(cs, (int, float)) or not 0 <= cs < 1):
        raise ValueError(f"categorical_smoothing must be null or a number in [0, 1), got {cs!r}")


class TPESampler(Sampler):
    """Tree-structured Parzen Estimator; options are the keyword arguments (all optional).

    The defaults and the measurements behind them are in the module docstring. Boolean options:
    ``multivariate``, ``constant_liar``, ``avoid_duplicates``, ``gap_prior``, ``gap_endpoints``.
    """

    name = "tpe"
    #: handles several objectives (MOTPE), so it stays the default for multi-objective studies
    multi_objective = True

    def __init__(
        self,
        n_startup_trials: int = 10,
        multivariate: bool = True,
        n_candidates: int = 24,
        gamma: float = 0.1,
        max_good: int = 25,
        bandwidth: str = "gap",
        min_bandwidth: float = 0.03,
        magic_clip_exponent: float = 2.0,
        prior_weight: float = 1.0,
        constant_liar: bool = True,
        max_bad: int = 500,
        categorical_smoothing: float | None = None,
        min_cells: float = 1.0,
        avoid_duplicates: bool = True,
        startup: str = "lhs",
        weighting: str = "ei",
        gap_prior: bool = False,
        gap_endpoints: bool = False,
    ) -> None:
        _check_options(locals())
        self.n_startup_trials = n_startup_trials
        self.multivariate = bool(multivariate)
        self.n_candidates = n_candidates
        self.gamma = float(gamma)
        self.max_good = int(max_good)
        self.constant_liar = bool(constant_liar)
        self.max_bad = int(max_bad)
        self.weighting = weighting
        self.avoid_duplicates = bool(avoid_duplicates)
        self.startup = startup
        self._seed: int | None = None
        self.bandwidth = Bandwidth(
            rule=bandwidth, min_width=float(min_bandwidth), clip_exponent=float(magic_clip_exponent),
            prior_weight=float(prior_weight),
            cat_smoothing=None if categorical_smoothing is None else float(categorical_smoothing),
            min_cells=float(min_cells), gap_prior=bool(gap_prior), gap_endpoints=bool(gap_endpoints),
        )
        self._space: SearchSpace | None = None
        self._codecs: list[_ParamCodec] = []
        self._dims: list[Dim] = []
        self._groups: list[list[int]] = []
        self._history: _History | None = None
        self._sign = 1.0
        self._directions: tuple[str, ...] = ()

    def bind_seed(self, seed: int) -> None:
        """The study's seed: start-up point k is point k of a Sobol sequence scrambled by it."""
        self._seed = int(seed)

    def describe(self) -> str:
        kind = "multivariate" if self.multivariate else "univariate"
        return f"tpe ({kind}, {self.n_startup_trials} start-up trials: {self.startup})"

    # --- state kept between asks ----------------------------------------------------------
    def _prepare(self, space: SearchSpace, ctx: SamplingContext) -> _History:
        bad = [d for d in ctx.directions if d not in ("minimize", "maximize")]
        if not ctx.directions or bad:
            raise ConfigError(f"direction must be 'minimize' or 'maximize', got {ctx.directions!r}")
        sign = -1.0 if ctx.directions[0] == "maximize" else 1.0
        if space is not self._space or sign != self._sign or tuple(ctx.directions) != self._directions:
            self._space, self._sign, self._directions = space, sign, tuple(ctx.directions)
            self._codecs = [_ParamCodec.of(p) for p in space.searchable]
            self._dims = [c.dim() for c in self._codecs]
            self._groups = parameter_groups(space, self.multivariate)
            self._history = None
        if self._history is None or not self._history.matches(ctx.finished):
            self._history = _History(len(self._codecs), len(self._directions))
        h = self._history
        h.extend(ctx.finished[h.n:], self._codecs, self._sign)
        return h

    # --- sampling ---------------------------------------------------------------------------
    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        h = self._prepare(space, ctx)
        if not space.searchable:
            return {}
        if ctx.number < self.n_startup_trials or not np.any(h.tier[: h.n] != _FAILED):
            return self._startup_point(space, ctx.number, rng)
        running = [t for t in ctx.running if t.number != ctx.number] if self.constant_liar else []
        z_run = encode_trials(running, self._codecs)
        chosen: dict[str, Any] = {}
        for group in self._groups:
            params = [space.searchable[i] for i in group]
            if not params[0].is_active(chosen):
                continue
            for i, z in zip(group, self._sample_group(h, z_run, group, rng), strict=True):
                chosen[space.searchable[i].name] = self._codecs[i].decode(float(z))
        return chosen

    def _startup_point(self, space: SearchSpace, number: int, rng: np.random.Generator) -> dict[str, Any]:
        """Start-up point ``number``: uniform random, or row ``number`` of a design fixed by the study seed.

        ``lhs``: a Latin hypercube of ``n_startup_trials`` rows (each parameter's range cut into that
        many strata, one point in each); ``sobol``: point ``number`` of a scrambled Sobol sequence.
        Either way the point depends only on the seed and the trial number, as the seeding rule asks.
        """
        if self.startup == "random" or self._seed is None or number >= self.n_startup_trials:
            return {p.name: sample_param(p, rng) for p in space.searchable}
        u = self._design(number)
        out = {}
        for c, x in zip(self._codecs, u, strict=True):
            if c.kind == CATEGORICAL:
                out[c.param.name] = c.decode(math.floor(x * len(c.param.choices)))  # type: ignore[attr-defined]
            elif c.kind == DISCRETE:
                out[c.param.name] = c.decode(float(c.cells(np.array([x]))[2][0]))
            else:
                out[c.param.name] = c.decode(float(x))
        return out

    def _design(self, number: int) -> np.ndarray:
        """Row ``number`` of the start-up design in [0, 1)^d (no global state: rebuilt from the seed)."""
        d = len(self._codecs)
        if self.startup == "sobol":
            from scipy.stats import qmc

            engine = qmc.Sobol(d, scramble=True, seed=self._seed)
            if number:
                engine.fast_forward(number)
            return engine.random(1)[0]
        gen = np.random.default_rng([self._seed or 0, 0x7E5])
        n = self.n_startup_trials
        strata = np.argsort(gen.random((n, d)), axis=0)  # a random permutation of the strata per column
        return (strata[number] + gen.random((n, d))[number]) / n

    def _sample_group(self, h: _History, z_run: np.ndarray, group: list[int], rng: np.random.Generator) -> np.ndarray:
        """Fit l and g on the trials where this group was active, and propose one point for it."""
        z = h.z[: h.n, group]
        rows = np.flatnonzero(~np.isnan(z).any(axis=1)) if np.isnan(z).any() else np.arange(h.n)
        if h.m > 1:
            obj = h.objectives[rows]
            n_ok = int((~np.isnan(obj).any(axis=1)).sum())
            good_idx, bad_idx = split_multi_objective(obj, self._directions, self._n_good(n_ok))
        else:
            good_idx, bad_idx = split_good_bad(h.tier[rows], h.step[rows], h.loss[rows], self._n_good(len(rows)))
        good_z = z[rows[good_idx]]
        bad_z = z[rows[bad_idx]]
        if len(z_run):
            zr = z_run[:, group]
            bad_z = np.concatenate((bad_z, zr[~np.isnan(zr).any(axis=1)]))
        bad_z = bad_z[-self.max_bad:]
        dims = [self._dims[i] for i in group]
        good_w = np.ones(len(good_z))
        if self.weighting == "ei" and h.m == 1:
            good_w = ei_weights(h.tier[rows], h.loss[rows], good_idx, bad_idx)
        l_est = ParzenEstimator(good_z, good_w, dims, self.bandwidth)
        g_est = ParzenEstimator(bad_z, recency_weights(len(bad_z)), dims, self.bandwidth)
        avoid: list[np.ndarray] = []
        if self.avoid_duplicates and all(d.kind != CONTINUOUS for d in dims):
            zr = z_run[:, group]
            avoid = [zr[~np.isnan(zr).any(axis=1)], z[rows]]
        return propose(l_est, g_est, rng, self.n_candidates, avoid)

    def _n_good(self, n: int) -> int:
        """Size of the good group among ``n`` trials: ``gamma`` of them, at most ``max_good``."""
        return min(math.ceil(self.gamma * n), self.max_good)
