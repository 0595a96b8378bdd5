"""Asks made while other trials run: the samplers see the running trials and propose something else."""

from __future__ import annotations

import numpy as np
import pytest

from hposweep.core.space import CategoricalParam, FloatParam, IntParam, SearchSpace
from hposweep.samplers import _gp
from hposweep.samplers.tpe import TPESampler
from hposweep.study.api import Study


def _space() -> SearchSpace:
    return SearchSpace([FloatParam("x", low=0.0, high=1.0), FloatParam("y", low=0.0, high=1.0)])


def _bowl(p: dict) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] - 0.7) ** 2


def _four_in_flight(sampler: object, seed: int, n: int) -> tuple[Study, list]:
    """``n`` trials finished one at a time, then four asked with none of them told."""
    study = Study(_space(), direction="minimize", sampler=sampler, seed=seed)
    for _ in range(n):
        t = study.ask()
        study.tell(t, _bowl(t.params))
    return study, [study.ask() for _ in range(4)]


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_concurrent_asks_differ_and_repeat_with_the_seed(sampler: str) -> None:
    _, a = _four_in_flight(sampler, 5, 14)
    _, b = _four_in_flight(sampler, 5, 14)
    points = [tuple(t.params.values()) for t in a]
    assert len(set(points)) == 4
    assert [t.params for t in a] == [t.params for t in b]
    if sampler == "tpe":  # no liar by default, yet each ask draws its own candidates: no near-duplicates
        gaps = [np.hypot(p[0] - q[0], p[1] - q[1]) for i, p in enumerate(points) for q in points[i + 1:]]
        assert min(gaps) > 1e-3


def test_tpe_never_repeats_a_running_configuration_in_a_small_discrete_space() -> None:
    """Without the constant liar (the default) running trials still count as taken for avoid_duplicates."""
    space = SearchSpace([IntParam("a", low=0, high=2), CategoricalParam("b", choices=["x", "y"])])
    for liar in (False, True):
        study = Study(space, direction="minimize", sampler=TPESampler(constant_liar=liar), seed=3)
        for _ in range(12):
            t = study.ask()
            study.tell(t, abs(t.params["a"] - 1) + (t.params["b"] == "y"))
        asked = [tuple(study.ask().params.values()) for _ in range(4)]
        assert len(set(asked)) == 4, (liar, asked)


def test_gp_pending_points_collapse_the_variance_and_a_liar_raises_the_mean() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((12, 2))
    y = np.sin(4 * X[:, 0]) + X[:, 1]
    y = (y - y.mean()) / y.std()
    theta = np.array([np.log(0.3), np.log(0.3), 0.0, np.log(1e-6)])
    model = _gp.GPModel(X, y, np.array([0, 1]), theta)
    q = np.array([[0.5, 0.5]])
    mu0, sd0 = model.predict(q)
    mu_kb, sd_kb = model.with_fantasies(q).predict(q)
    mu_cl, _ = model.with_fantasies(q, float(y.max())).predict(q)
    assert sd_kb[0] < 0.05 * sd0[0]
    assert mu_kb[0] == pytest.approx(mu0[0], abs=1e-3)
    assert mu_cl[0] == pytest.approx(float(y.max()), abs=1e-2) and mu_cl[0] > mu0[0]


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_concurrent_gp_asks_on_a_well_fitted_bowl_do_not_pile_up(seed: int) -> None:
    """On a bowl the model is so sure of the minimum that a fantasy at the posterior mean changes nothing:
    with the kriging believer alone the four asks landed within 1e-5..1e-3 of each other (three workers
    wasted). The local penalty keeps them apart in the unit cube."""
    _, asked = _four_in_flight("gp", seed, 14)
    points = [np.array([t.params["x"], t.params["y"]]) for t in asked]
    gaps = [float(np.linalg.norm(p - q)) for i, p in enumerate(points) for q in points[i + 1:]]
    assert min(gaps) > 5e-3, gaps


def test_local_penalty_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    rows, pending, inv_ls = rng.random((5, 3)), rng.random((3, 3)), np.array([2.0, 1.0, 3.0])
    val, grad = _gp.log_local_penalty(rows, pending, inv_ls, 0.3)
    assert np.all(val < 0)
    for f in range(3):
        step = np.zeros(3)
        step[f] = 1e-6
        num = (_gp.log_local_penalty(rows + step, pending, inv_ls, 0.3)[0]
               - _gp.log_local_penalty(rows - step, pending, inv_ls, 0.3)[0]) / 2e-6
        assert np.allclose(num, grad[:, f], rtol=1e-4, atol=1e-6)
    far, _ = _gp.log_local_penalty(pending + 10.0, pending, inv_ls, 0.3)
    assert np.allclose(far, 0.0)
