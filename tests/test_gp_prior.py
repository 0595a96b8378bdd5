"""The one-sided length-scale prior (``_gp.LS_PRIOR_SD_LONG``): its density and the analytic gradient the fit uses.

The fit is L-BFGS-B on analytic gradients, so a prior term whose gradient is wrong would silently move every
fitted length scale; these tests check it against finite differences on both sides of the median.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from hposweep.samplers import _gp


def _problem(n_params: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    X = rng.random((12, n_params + 1))
    groups = np.array([*range(n_params), n_params - 1])  # the last parameter has two one-hot columns
    return _gp.group_sq_diffs(X, groups), rng.standard_normal(12)


def one_sided(n_params: int, sd_long: float = 0.5) -> _gp.Prior:
    base = _gp.Prior.for_dim(n_params)
    return _gp.Prior(log_ls_mean=base.log_ls_mean, log_ls_sd=1.0, log_ls_sd_long=sd_long,
                     log_noise_mean=base.log_noise_mean, log_noise_sd=base.log_noise_sd)


@pytest.mark.parametrize("offsets", [(-0.8, 0.6, 1.5), (0.3, -1.2, -0.1), (2.0, 1.0, 0.4)])
def test_one_sided_prior_gradient_matches_finite_differences(offsets: tuple[float, float, float]) -> None:
    sq, y = _problem()
    prior = one_sided(3)
    theta = np.array([prior.log_ls_mean + o for o in offsets] + [0.2, -4.0])
    _, grad = _gp.neg_log_posterior(theta, sq, y, prior)
    numeric = approx_fprime(theta, lambda t: _gp.neg_log_posterior(t, sq, y, prior)[0], 1e-6)
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-4)


def test_one_sided_prior_restrains_only_long_length_scales() -> None:
    sq, y = _problem()
    sym, half = _gp.Prior.for_dim(3), one_sided(3)
    mu = sym.log_ls_mean

    def penalty_gap(offset: float) -> float:  # extra negative log posterior of the one-sided prior at mu + offset
        theta = np.array([mu + offset, mu, mu, 0.0, -4.0])
        return _gp.neg_log_posterior(theta, sq, y, half)[0] - _gp.neg_log_posterior(theta, sq, y, sym)[0]

    assert penalty_gap(-1.0) == pytest.approx(0.0, abs=1e-12)  # short side: the same density
    assert penalty_gap(1.0) == pytest.approx(0.5 * (1 / 0.25 - 1), rel=1e-9)  # long side: z = 2 instead of 1
    # continuous at the median, value and slope: a smooth objective for L-BFGS-B
    assert penalty_gap(1e-7) == pytest.approx(0.0, abs=1e-12)


def test_equal_sds_are_the_symmetric_prior_bit_for_bit() -> None:
    sq, y = _problem()
    sym = _gp.Prior(log_ls_mean=math.log(0.5), log_ls_sd=1.0)
    same = _gp.Prior(log_ls_mean=math.log(0.5), log_ls_sd=1.0, log_ls_sd_long=1.0)
    theta = np.array([0.9, -1.5, 0.1, 0.3, -3.0])
    a, b = _gp.neg_log_posterior(theta, sq, y, sym), _gp.neg_log_posterior(theta, sq, y, same)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


def test_for_dim_reads_the_module_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _gp.Prior.for_dim(4).log_ls_sd_long == _gp.LS_PRIOR_SD_LONG
    monkeypatch.setattr(_gp, "LS_PRIOR_SD_LONG", 0.5)
    assert _gp.Prior.for_dim(4).log_ls_sd_long == 0.5
