"""Which trial to take when the values are noisy: the observed trial a smooth model of all of them thinks best.

A sweep of one run per configuration crowns the trial that was best *once*. With noisy values (real training:
another seed, another shuffle, another value) that trial is, among the near-best, the one whose noise happened
to be lowest, and its value flatters it (the winner's curse). What a user wants is the configuration whose
*expected* value is best. Its neighbours tell: a trial whose value is confirmed by the trials around it is a
safer pick than a lone lucky one.

How (:func:`recommend`): a Gaussian process (the ``gp`` sampler's numerics, :mod:`hposweep.samplers._gp`, on its
features, :mod:`hposweep.samplers.gp_encoder`) is fitted to all complete trials with a *learned* noise. The noise
prior is centred on the sweep's own noise estimate from near pairs (:func:`hposweep.analysis.luck.noise_estimate`)
when there is one, so the model neither interpolates the noise nor smooths away a real optimum. Only observed
trials are candidates (a configuration nobody ran is not a pick), and the one taken minimizes the mean of its
posterior mean and its observed value (:data:`OBSERVED_WEIGHT`); the posterior mean is the estimated value.

Why half and half: without repeats, noise and a rugged but deterministic objective look the same to any model
(ackley5's ripples are "noise" to a GP at 50 trials). Under noise the posterior mean is the better guess; under
roughness the observed value is exact. Weighting both equally is the pick that expects the same loss either way,
and it is what keeps the recommendation from losing on noise-free problems.

When the noise is negligible (the near-pair estimate is zero or tiny against the values' spread, the same test as
the luck verdict), or cannot be told (fewer than :data:`MIN_TRIALS` trials), the recommendation is the best
observed trial: on a noise-free objective the best observed value *is* the best configuration.

Measured for issue 18 (``scripts/bench_compare.py --pick recommend``: the *true* value of the recommended trial
against the best observed one, ``auto`` sweeps, 10 seeds, paired Wilcoxon; mean over seeds, lower is better):

  problem (noise sd)          budget   best observed   model only (w=0)      half and half (w=0.5, default)
  hartmann6_noisy (0.1)       25/50/100  -2.275/-2.933/-2.991  -2.306/-2.938/-3.004  -2.284/-2.935/-3.001 (p>=0.25)
  branin_noisy (1.0)          25/50/100  .5537/.5153/.4879     .5296/.5285/.4907     same picks as observed
  tabular_like_noisy (0.01)   50/100     .006825/.004644       .007535/.004098       .006278/.004300 (p=1.0)
  mixed12_noisy (0.05)        25/50/100  2.004/.2300/.0687     2.078/.2279/.0659     same picks as observed
  ackley5 (none, rugged)      25/50/100  16.15/5.867/3.050     16.59/6.278/3.217     16.15/5.880/3.050
  hartmann6, branin (none)    25/50/100  the same picks (the noise is judged negligible), to within 0.0002

The model alone gained most on hartmann6_noisy (-0.03 at 25) but lost on ackley5 (+0.44 at 25, p = 0.06), so the
default is the half-and-half pick: never worse than the best observed trial by more than 0.013 on any problem,
better on three of the four noisy ones, no difference significant. The gains are small because ``gp`` already
takes the lowest posterior mean as its incumbent and crowds its trials around it: the best observed trial of such
a sweep is seldom a lone lucky one. The value for a user is the estimate, which says how much of the best value is
luck (``best --robust`` prints it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hposweep.analysis.luck import RELATIVE_NOISE, noise_estimate

if TYPE_CHECKING:
    from hposweep.core.space import SearchSpace

__all__ = ["MIN_TRIALS", "Recommendation", "recommend"]

#: below this many valued trials neither the noise nor a model of it can be told apart from the objective
MIN_TRIALS = 20
#: the model keeps the best of these many trials, and as many of the others again (most recent), so a
#: 10,000-trial study is recommended on in well under a second; the pick is near the best anyway
MAX_MODEL_TRIALS = 100
#: the pick minimizes ``(1 - w) * model estimate + w * observed value``: see the module docstring
OBSERVED_WEIGHT = 0.5
#: without a near-pair estimate, the noise prior (standardized variance) is centred here, wide
_NOISE_CENTRE_UNKNOWN = 1e-2
_NOISE_SD_UNKNOWN = 3.0
#: with one, centred on it with this log sd (the estimate bounds the noise from above: pairs also differ by slope)
_NOISE_SD_KNOWN = 1.0


@dataclass(frozen=True)
class Recommendation:
    """The trial to take (an index into the values given), why, and what it is expected to score."""

    index: int
    #: the model's estimate of the recommended trial's value (its observed value when ``method == "observed"``)
    estimate: float
    #: the best observed trial's index, and the model's estimate of its value (its observed value without a model)
    best_index: int
    best_estimate: float
    #: ``"model"``: lowest posterior mean under a learned noise; ``"observed"``: the best observed value
    method: str
    #: the noise sd the recommendation assumed (the model's when fitted, else the near-pair estimate); None: unknown
    noise_sd: float | None

    @property
    def differs(self) -> bool:
        """True when the recommendation is not the best observed trial."""
        return self.index != self.best_index


def recommend(space: SearchSpace, params: Sequence[Mapping[str, Any]], values: Sequence[float], *,
              minimize: bool = True, seed: int = 0) -> Recommendation:
    """The trial a user should take from noisy single-objective ``values`` (see the module docstring).

    ``params[i]`` and ``values[i]`` describe complete trial ``i`` (non-finite values are skipped); the
    returned indices point into them. Deterministic for a given input and ``seed``.
    """
    from hposweep.core.codec import SpaceCodec

    v = np.asarray(values, dtype=float)
    ok = np.flatnonzero(np.isfinite(v))
    if ok.size == 0:
        raise ValueError("recommend needs at least one finite value")
    sign = 1.0 if minimize else -1.0
    y = sign * v[ok]
    best = int(ok[int(np.argmin(y))])

    def observed(noise_sd: float | None = None) -> Recommendation:
        return Recommendation(best, float(v[best]), best, float(v[best]), "observed", noise_sd)

    if ok.size < MIN_TRIALS or not space.searchable:
        return observed()
    est = noise_estimate(SpaceCodec(space).encode([params[int(i)] for i in ok]), y)
    spread = float(np.median(y) - y.min())
    if est is not None and est[0] <= RELATIVE_NOISE * spread:
        return observed(est[0])
    fitted = _posterior_means(space, [params[int(i)] for i in ok], y, None if est is None else est[0], seed)
    if fitted is None:
        return observed()
    keep, mu, noise_sd = fitted
    if est is None and noise_sd <= RELATIVE_NOISE * spread:
        return observed(noise_sd)
    pick = int(np.argmin((1.0 - OBSERVED_WEIGHT) * mu + OBSERVED_WEIGHT * y[keep]))
    index = int(ok[keep[pick]])
    where_best = np.flatnonzero(ok[keep] == best)
    best_estimate = float(sign * mu[where_best[0]]) if where_best.size else float(v[best])
    return Recommendation(index, float(sign * mu[pick]), best, best_estimate, "model", noise_sd)


def _posterior_means(space: SearchSpace, params: Sequence[Mapping[str, Any]], y: np.ndarray,
                     noise_sd: float | None, seed: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(kept indices, posterior mean at each kept trial in y's units, the fitted noise sd)``; None when the
    values do not vary. ``y`` is to be minimized."""
    from hposweep.samplers import _gp
    from hposweep.samplers.gp_encoder import Encoder
    from hposweep.samplers.gp_observations import select_points

    keep = select_points(y, 2 * MAX_MODEL_TRIALS, MAX_MODEL_TRIALS)  # the best ones and the most recent others
    yk = y[keep]
    centre, scale = _robust_scale(yk)
    if scale <= 0:
        return None
    z = _squash((yk - centre) / scale)
    zm, zs = float(z.mean()), float(z.std())
    if zs <= 0:
        return None
    z = (z - zm) / zs
    enc = Encoder(space)
    X = enc.impute_inactive(np.array([enc.encode(dict(params[int(i)])) for i in keep]))
    base = _gp.Prior.for_dim(enc.n_params)
    if noise_sd is None:
        log_noise, sd = math.log(_NOISE_CENTRE_UNKNOWN), _NOISE_SD_UNKNOWN
    else:
        log_noise, sd = math.log(max((noise_sd / (scale * zs)) ** 2, _gp.NOISE_FLOOR)), _NOISE_SD_KNOWN
    prior = _gp.Prior(log_ls_mean=base.log_ls_mean, log_ls_sd=base.log_ls_sd,
                      log_noise_mean=log_noise, log_noise_sd=sd)
    theta = _gp.fit_hyperparameters(X, z, enc.groups, prior, np.random.default_rng([seed, 0x7EC]), n_restarts=0)
    model = _gp.GPModel(X, z, enc.groups, theta)
    mu, _ = model.predict(X)
    # back to y's units: the squash leaves the near-best region (below the upper cap) linear
    return keep, _unsquash(mu * zs + zm) * scale + centre, math.sqrt(model.noise) * zs * scale


def _robust_scale(y: np.ndarray) -> tuple[float, float]:
    """Median and interquartile range (the standard deviation when the IQR is zero)."""
    q25, q50, q75 = np.percentile(y, [25, 50, 75])
    iqr = float(q75 - q25)
    return float(q50), iqr if iqr > 0 else float(y.std())


#: values (in IQRs above the median) beyond this are squashed logarithmically: one diverged run must not
#: flatten the model around the best (as the ``gp`` sampler's ``warp_outputs`` does)
_CAP = 3.0


def _squash(u: np.ndarray) -> np.ndarray:
    return np.where(u > _CAP, _CAP + np.log1p(np.maximum(u - _CAP, 0.0)), u)


def _unsquash(u: np.ndarray) -> np.ndarray:
    return np.where(u > _CAP, _CAP + np.expm1(np.maximum(u - _CAP, 0.0)), u)
