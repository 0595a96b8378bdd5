"""Tree-structured Parzen Estimator (TPE): hposweep's default sampler.

How it works (Bergstra et al. 2011; Watanabe 2023): the finished trials are split into a small
*good* group (the best ``gamma(n)``) and a *bad* group (the rest, plus failed trials, and with
``constant_liar`` the trials still running). A Parzen estimator (kernel mixture, ``_parzen.py``) is
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

* ``multivariate=True`` (what the default ``None`` means for one objective): one joint kernel per
  group. Univariate was last or nearly last (benchmark rank 14.75 of 16 at 100 trials, own problems
  12.1 of 14), far behind on problems whose parameters interact (hartmann6, ackley5, mixed12).
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
* Multimodal check (issue 18; ``scripts/tpe_quality.py``, 10 seeds, mean best after 100 trials, this
  default vs Optuna 5's TPESampler, whose default is already multivariate, so ``multivariate=True``
  gives the same numbers): hartmann6 -3.217 vs -3.180, levy8 8.24 vs 10.09, rastrigin6 36.4 vs
  37.8, ackley5 4.08 vs 7.09: ahead on all four. Rank among 7 variants at 25/50/100: default
  3.75/3.25/3.0, Optuna 3.5/5.0/6.0; prior weight 2 and 64 candidates within noise (4.0/3.25/3.0,
  3.5/4.25/3.0); ``min_bandwidth=0.08`` more than halves levy8 (3.59) but loses ackley5 (6.76);
  ``gamma=0.2`` is last at 25 (6.25). Nothing was changed: no option is better on all of them.
* Categorical kernels put 1 + prior/(n+1) on the observed choice and prior/(n+1) on the others
  (sharpening as data grows); a fixed smoothing of 0.1-0.25 was clearly worse on the conditional
  problem.
* ``constant_liar=False``: running trials do not join the bad group (Optuna's ``constant_liar``,
  offered as the option); they still count as taken for ``avoid_duplicates``. Measured with 4
  simulated workers against one (``scripts/bench_parallel.py asks --samplers tpe --variants``, 6
  problems x 20 seeds, best among the first 25/50/100 *finished* trials), the liar made parallel TPE
  worse, not better: mean rank among sequential / liar / no liar / delayed reference (below) 1.00/2.83/
  2.83/3.33, 1.17/3.50/2.33/3.00, 1.33/3.00/2.67/3.00; against sequential at 100 the liar loses on
  4 of 6 problems at Wilcoxon p <= 0.05 (ackley5 0.00, tabular_like 0.01, styblinski8 0.05, netlike
  0.04), no liar on none of them. Why: the gap is the information lag, not duplicate proposals.
  Without the liar a new ask lands as far from the 3 running points (median distance 0.108 in the
  unit cube) as a sequential ask from the 3 previous trials (0.104), so concurrent asks already
  differ; the liar pushes them to 0.177, away from the best region (hartmann6 at 25 trials: -1.98
  with it, -2.30 without, -2.40 sequential). A sequential run whose sampler never sees the newest 3
  results (``tpe+delayed``) is as far from sequential as 4 workers without the liar, so what is left
  is what asking before the results are in must cost: parallel TPE is within noise at 100 finished
  trials (Wilcoxon p >= 0.06 on all 6; 4 of 6 worse in the mean) but clearly behind at 25 (target
  of 0.3 mean rank not met at 25/50). Also measured and no better than no liar: running trials in
  g at a weight of 0.2 or 0.03 (20 seeds, 4 problems), and starting the model once 10 trials have
  *finished* instead of at trial 10 (worse on all 4: later model, random points past the design).
* ``running_penalty=0`` (off): with a radius r > 0, a candidate's log l(x) - log g(x) gets
  sum over running trials of log(1 - exp(-q/2)), q its squared distance to the running trial in the
  unit cube over (r x the mean width of the good kernels) per numeric dimension (another categorical
  choice: no penalty). GP's local penalty without lying about values; the candidates and the random
  stream are those of ``propose``, so sequential asks are bit-for-bit unchanged. Measured with 4
  simulated workers (``scripts/bench_parallel.py asks --samplers tpe --variants``, 6 problems, budget
  100; "pair" = seed-by-seed mean rank against sequential, 1.5 = even, at 25/50/100 finished trials;
  W = problems worse than sequential at 100, paired Wilcoxon p <= 0.05; the 20-seed column:
  ``--samplers tpe,tpe:running_penalty=0.5 --seeds 20``):

  4 workers                 pair, 10 seeds   W, 10 seeds   pair, 20 seeds   W, 20 seeds
  default (no penalty)      1.59/1.61/1.60   1             1.66/1.57/1.57   0
  ``running_penalty`` 0.5   1.67/1.74/1.73   2             1.68/1.71/1.72   3
  ``running_penalty`` 1     1.68/1.76/1.75   4
  ``running_penalty`` 2     1.72/1.69/1.72   2
  constant liar             1.66/1.74/1.70   3
  ``tpe+delayed``           1.68/1.68/1.67   3

  Against the default directly (20 seeds, radius 0.5) it is significantly better nowhere (pair rank
  1.52/1.57/1.58 for the penalty; tabular_like worse at 50 and 100, p <= 0.03), and with 10 seeds every
  radius was worse on hartmann6 at 25 (p <= 0.05). Why: as with the liar, the asks get further from the
  running trials (radius 1, hartmann6, 5 seeds x 60 trials: median distance 0.148 -> 0.181) but also
  from the best trial so far (0.150 -> 0.177; netlike 0.161 -> 0.196):
  concurrent TPE asks were already diverse, since each draws its own candidates, and pushing them
  apart only moves them out of the good region. So the gap to sequential is the information lag, which
  no rescoring of the same candidates removes; the option stays off.
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
complete trials with every value finite can be good. Measured with ``scripts/bench_multiobjective.py
--seeds 10 --budget 100`` (ZDT1-3, DTLZ1/2/7, a mixed int/log/categorical problem and a numpy MLP's
validation loss vs size; normalised hypervolume, paired Wilcoxon over the seeds, issue 18):

* ``multivariate=None`` (the default) means joint kernels with one objective and one kernel per
  parameter with several. Per parameter, every coordinate of a candidate comes from a different good
  trial, which recombines good trials the way NSGA-II's crossover does; a joint kernel only perturbs one
  good trial. Against joint kernels: mean +0.033 over the 8 problems, DTLZ1 (multimodal, separable)
  0.698 vs 0.477 (p=0.01), ZDT3 0.942 vs 0.901, no problem significantly worse (DTLZ7 0.442 vs 0.465,
  p=0.56; MLP 0.684 vs 0.686). At 50 trials it is ahead on ZDT1 and ZDT3 (p<=0.04) but behind on the MLP
  (0.585 vs 0.641, p=0.01: its size depends on width and depth together, which a joint kernel keeps).
  Optuna's TPESampler makes the same choice for several objectives. Single-objective behaviour is
  unchanged (``tests/test_mo_tpe.py`` pins it). Cost: one split per ask shared by the groups, then one
  estimator pair per parameter: a 2-objective ask on 10 parameters after 1,000 trials takes about 6.3 ms
  instead of 2.5 ms (CPU time; 14.6 vs 11.4 ms after 10,000, where the non-dominated sort dominates).
* Also measured and not taken (mean change over the 8 problems; * = significantly worse somewhere):
  on top of per-parameter kernels, good trials weighted by their hypervolume contribution
  (``mo_weighting: hv``, the original MOTPE's weights) -0.006*, ``gamma`` 0.05 -0.022*, 48 candidates
  +0.005, 5 start-up trials -0.003, ``min_bandwidth`` 0.01 -0.013; with joint kernels, ``gamma`` 0.2
  -0.046*, hypervolume weights -0.004*, 48 candidates -0.011, 20 start-up trials -0.034*.

Warm start: the prior observations (``ctx.prior``) come before the finished trials in the history,
so they enter both groups like any trial, and they count towards the start-up trials. Constraints
(c-TPE's rule, as Optuna's ``constraints_func``): an infeasible trial is never good; it goes to the
bad group, ranked after the feasible ones by its violation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from hposweep.core.codec import SpaceCodec
from hposweep.errors import ConfigError
from hposweep.samplers._parzen import CONTINUOUS, Bandwidth, Dim, ParzenEstimator
from hposweep.samplers.base import Sampler, SamplingContext, observations
from hposweep.samplers.random import sample_space
from hposweep.samplers.tpe_model import (
    INFEASIBLE,
    History,
    ei_weights,
    encode_trials,
    hv_weights,
    parameter_groups,
    parzen_dim,
    propose,
    recency_weights,
    split_good_bad,
    split_multi_objective,
)

if TYPE_CHECKING:
    from hposweep.core.space import SearchSpace


def _check_options(o: dict[str, Any]) -> None:
    """Raise ValueError (the registry turns it into a ConfigError) for an option out of range."""
    for name in ("n_startup_trials", "n_candidates", "max_good", "max_bad"):
        low = 0 if name == "n_startup_trials" else 1
        if isinstance(o[name], bool) or not isinstance(o[name], int) or o[name] < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {o[name]!r}")
    choices = {"bandwidth": ("gap", "scott"), "startup": ("lhs", "sobol", "random"), "weighting": ("ei", "uniform"),
               "mo_weighting": ("uniform", "hv")}
    for name, allowed in choices.items():
        if o[name] not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {o[name]!r}")
    ranges = {"gamma": (0.0, 1.0), "min_bandwidth": (0.0, 1.0), "magic_clip_exponent": (0.0, 10.0),
              "prior_weight": (0.0, 1e6), "min_cells": (1.0, 1e6), "running_penalty": (0.0, 100.0)}
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
        multivariate: bool | None = None,
        n_candidates: int = 24,
        gamma: float = 0.1,
        max_good: int = 25,
        bandwidth: str = "gap",
        min_bandwidth: float = 0.03,
        magic_clip_exponent: float = 2.0,
        prior_weight: float = 1.0,
        constant_liar: bool = False,
        running_penalty: float = 0.0,
        max_bad: int = 500,
        categorical_smoothing: float | None = None,
        min_cells: float = 1.0,
        avoid_duplicates: bool = True,
        startup: str = "lhs",
        weighting: str = "ei",
        mo_weighting: str = "uniform",
        gap_prior: bool = False,
        gap_endpoints: bool = False,
    ) -> None:
        self._record_options(locals())
        _check_options(locals())
        self.n_startup_trials = n_startup_trials
        #: None (the default): joint kernels with one objective, one per parameter with several
        self.multivariate = None if multivariate is None else bool(multivariate)
        self.n_candidates = n_candidates
        self.gamma = float(gamma)
        self.max_good = int(max_good)
        self.constant_liar = bool(constant_liar)
        #: radius, in widths of the good kernels, within which a candidate near a running trial scores lower
        self.running_penalty = float(running_penalty)
        self.max_bad = int(max_bad)
        self.weighting = weighting
        self.mo_weighting = mo_weighting
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
        self._codec: SpaceCodec | None = None
        self._dims: list[Dim] = []
        self._groups: list[list[int]] = []
        self._history: History | None = None
        self._sign = 1.0
        self._directions: tuple[str, ...] = ()
        self._violation: Any = None
        #: this ask's multi-objective splits, by (history length, rows): see ``_sample_group``
        self._mo_splits: dict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] = {}

    def bind_seed(self, seed: int | None) -> None:
        """The study's seed: start-up point k is row k of a design fixed by it (None: random start-up)."""
        self._seed = int(seed) if seed is not None else None

    def describe(self) -> str:
        if self.multivariate is None:
            kind = "multivariate; univariate with several objectives"
        else:
            kind = "multivariate" if self.multivariate else "univariate"
        return f"tpe ({kind}, {self.n_startup_trials} start-up trials: {self.startup})"

    def joint_kernels(self, n_objectives: int) -> bool:
        """Whether parameters are modelled jointly: ``multivariate``, or by default only with one objective."""
        return self.multivariate if self.multivariate is not None else n_objectives == 1

    # --- state kept between asks ----------------------------------------------------------
    def _prepare(self, space: SearchSpace, ctx: SamplingContext) -> History:
        bad = [d for d in ctx.directions if d not in ("minimize", "maximize")]
        if not ctx.directions or bad:
            raise ConfigError(f"direction must be 'minimize' or 'maximize', got {ctx.directions!r}")
        sign = -1.0 if ctx.directions[0] == "maximize" else 1.0
        if space is not self._space or sign != self._sign or tuple(ctx.directions) != self._directions:
            self._space, self._sign, self._directions = space, sign, tuple(ctx.directions)
            self._codec = SpaceCodec(space)
            self._dims = [parzen_dim(c) for c in self._codec.params]
            self._groups = parameter_groups(space, self.joint_kernels(len(self._directions)))
            self._history = None
        seen = observations(ctx)  # warm-start priors first, then this study's finished trials
        if self._history is None or not self._history.matches(seen) or ctx.violation is not self._violation:
            self._history = History(len(space.searchable), len(self._directions))
            self._violation = ctx.violation
        h = self._history
        assert self._codec is not None
        h.extend(seen[h.n:], self._codec, self._sign, ctx.violation)
        return h

    # --- sampling ---------------------------------------------------------------------------
    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        h = self._prepare(space, ctx)
        if not space.searchable:
            return {}
        # Warm-start priors count as start-up points already seen; start-up ends when trials plus priors
        # reach n_startup_trials and something feasible (or pruned) is known.
        if ctx.number + len(ctx.prior) < self.n_startup_trials or not np.any(h.tier[: h.n] < INFEASIBLE):
            return self._startup_point(space, ctx.number, rng)
        running = [t for t in ctx.running if t.number != ctx.number]
        assert self._codec is not None
        z_run = encode_trials(running, self._codec)  # taken points (avoid_duplicates); bad ones with the liar
        chosen: dict[str, Any] = {}
        self._mo_splits.clear()
        for group in self._groups:
            params = [space.searchable[i] for i in group]
            if not params[0].is_active(chosen):
                continue
            for i, z in zip(group, self._sample_group(h, z_run, group, rng), strict=True):
                chosen[space.searchable[i].name] = self._codec.params[i].decode(float(z), "cell")
        return chosen

    def _startup_point(self, space: SearchSpace, number: int, rng: np.random.Generator) -> dict[str, Any]:
        """Start-up point ``number``: uniform random, or row ``number`` of a design fixed by the study seed.

        ``lhs``: a Latin hypercube of ``n_startup_trials`` rows (each parameter's range cut into that
        many strata, one point in each); ``sobol``: point ``number`` of a scrambled Sobol sequence.
        Either way the point depends only on the seed and the trial number, as the seeding rule asks.
        """
        if self.startup == "random" or self._seed is None or number >= self.n_startup_trials:
            return sample_space(space, rng)
        assert self._codec is not None
        return self._codec.from_uniform(self._design(number))

    def _design(self, number: int) -> np.ndarray:
        """Row ``number`` of the start-up design in [0, 1)^d (no global state: rebuilt from the seed)."""
        d = len(self._dims)
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

    def _sample_group(self, h: History, z_run: np.ndarray, group: list[int], rng: np.random.Generator) -> np.ndarray:
        """Fit l and g on the trials where this group was active, and propose one point for it."""
        z = h.z[: h.n, group]
        rows = np.flatnonzero(~np.isnan(z).any(axis=1)) if np.isnan(z).any() else np.arange(h.n)
        if h.m > 1:
            key = (h.n, rows.tobytes())
            if key not in self._mo_splits:  # groups active on the same trials share one split (one sort per ask)
                obj = h.objectives[rows]
                n_ok = int((~np.isnan(obj).any(axis=1)).sum())
                self._mo_splits[key] = split_multi_objective(obj, self._directions, self._n_good(n_ok))
            good_idx, bad_idx = self._mo_splits[key]
        else:
            good_idx, bad_idx = split_good_bad(h.tier[rows], h.step[rows], h.loss[rows], self._n_good(len(rows)))
        good_z = z[rows[good_idx]]
        bad_z = z[rows[bad_idx]]
        if len(z_run) and self.constant_liar:
            zr = z_run[:, group]
            bad_z = np.concatenate((bad_z, zr[~np.isnan(zr).any(axis=1)]))
        bad_z = bad_z[-self.max_bad:]
        dims = [self._dims[i] for i in group]
        good_w = np.ones(len(good_z))
        if self.weighting == "ei" and h.m == 1:
            good_w = ei_weights(h.tier[rows], h.loss[rows], good_idx, bad_idx)
        elif self.mo_weighting == "hv" and h.m > 1:
            good_w = hv_weights(h.objectives[rows[good_idx]], self._directions)
        l_est = ParzenEstimator(good_z, good_w, dims, self.bandwidth)
        g_est = ParzenEstimator(bad_z, recency_weights(len(bad_z)), dims, self.bandwidth)
        avoid: list[np.ndarray] = []
        if self.avoid_duplicates and all(d.kind != CONTINUOUS for d in dims):
            zr = z_run[:, group]
            avoid = [zr[~np.isnan(zr).any(axis=1)], z[rows]]
        if self.running_penalty > 0 and len(z_run):
            zr = z_run[:, group]
            zr = zr[~np.isnan(zr).any(axis=1)]
            if len(zr):
                radius = self.running_penalty
                return propose(l_est, g_est, rng, self.n_candidates, avoid,
                               penalty=lambda cand: running_log_penalty(l_est, cand, zr, radius))
        return propose(l_est, g_est, rng, self.n_candidates, avoid)

    def _n_good(self, n: int) -> int:
        """Size of the good group among ``n`` trials: ``gamma`` of them, at most ``max_good``."""
        return min(math.ceil(self.gamma * n), self.max_good)


def running_log_penalty(good: ParzenEstimator, cand: np.ndarray, running: np.ndarray, radius: float) -> np.ndarray:
    """Per candidate, the sum over running trials of log(1 - exp(-q / 2)); q = squared scaled distance.

    The scale per numeric dimension is ``radius`` times the mean width of the good kernels (the prior's
    excluded): where the good density is narrow (the model is sure) two asks that close would measure
    nearly the same thing, where it is wide the penalty fades. Categorical dimensions count as far apart
    unless they match, so a candidate with another choice than a running trial is not penalised by it.
    The local penalty of Gonzalez et al. (2016) in spirit, without lying about any value.
    """
    num, cat = good.num, good.cat
    n_obs = len(good.weights) - 1
    if num:
        width = good.sigma[:n_obs, num].mean(axis=0) if n_obs else np.ones(len(num))
        diff = (cand[:, None, num] - running[None, :, num]) / (radius * width)
        q = 0.5 * (diff * diff).sum(axis=2)
    else:
        q = np.zeros((len(cand), len(running)))
    if cat:
        differs = (np.abs(cand[:, None, cat] - running[None, :, cat]) > 0.5).any(axis=2)
        q = np.where(differs, np.inf, q)
    return np.log(np.maximum(-np.expm1(-q), 1e-12)).sum(axis=1)

