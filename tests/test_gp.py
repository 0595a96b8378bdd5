"""The `gp` sampler: GP numerics against closed forms, proposals, determinism, and that it learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime
from scipy.stats import norm

from hposweep.core.space import CategoricalParam, FloatParam, IntParam, SearchSpace
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError
from hposweep.samplers import SamplingContext, _gp, make_sampler
from hposweep.samplers.gp import Encoder, GPSampler, select_points, warp_outputs
from hposweep.study.api import Study


def _space_2d() -> SearchSpace:
    return SearchSpace([FloatParam("x", low=0.0, high=1.0), FloatParam("y", low=0.0, high=1.0)])


def _bowl(p: dict) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] - 0.7) ** 2


def _run(space: SearchSpace, f, sampler, n: int, seed: int = 0, direction: str = "minimize") -> Study:
    study = Study(space, direction=direction, sampler=sampler, seed=seed)
    for _ in range(n):
        t = study.ask()
        study.tell(t, f(t.params))
    return study


# --- the model ----------------------------------------------------------------------------------
def test_posterior_interpolates_noise_free_data_and_is_uncertain_far_away() -> None:
    X = np.array([[0.1], [0.3], [0.5], [0.7]])
    y = np.sin(6 * X[:, 0])
    theta = np.array([math.log(0.3), 0.0, math.log(1e-6)])
    model = _gp.GPModel(X, y, np.array([0]), theta)
    mu, sd = model.predict(X)
    assert np.allclose(mu, y, atol=1e-3)
    assert sd.max() < 1e-2
    _, sd_near = model.predict(np.array([[0.4]]))
    _, sd_far = model.predict(np.array([[1.0]]))
    assert sd.max() < sd_near[0] < sd_far[0]
    assert sd_far[0] == pytest.approx(1.0, abs=0.2)  # back to the prior far from the data


def test_fitted_model_predicts_held_out_points() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    f = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    y = (f - f.mean()) / f.std()
    groups = np.array([0, 1])
    theta = _gp.fit_hyperparameters(X, y, groups, _gp.Prior.for_dim(2), rng)
    model = _gp.GPModel(X, y, groups, theta)
    Xt = rng.random((50, 2))
    ft = (np.sin(3 * Xt[:, 0]) + Xt[:, 1] ** 2 - f.mean()) / f.std()
    mu, _ = model.predict(Xt)
    assert np.corrcoef(mu, ft)[0, 1] > 0.98


def test_marginal_likelihood_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    X = rng.random((15, 4))
    groups = np.array([0, 1, 2, 2])  # a categorical's two one-hot columns share one length scale
    y = rng.standard_normal(15)
    sq = _gp.group_sq_diffs(X, groups)
    prior = _gp.Prior.for_dim(3)
    theta = np.array([-0.5, 0.2, 0.1, 0.3, -3.0])
    _, grad = _gp.neg_log_posterior(theta, sq, y, prior)
    numeric = approx_fprime(theta, lambda t: _gp.neg_log_posterior(t, sq, y, prior)[0], 1e-6)
    assert np.allclose(grad, numeric, rtol=1e-3, atol=1e-3)


# --- acquisition functions ----------------------------------------------------------------------
@pytest.mark.parametrize("mu,sigma,best", [(0.0, 1.0, 0.0), (1.0, 0.5, 0.2), (-1.0, 2.0, 0.5), (3.0, 0.3, 0.0)])
def test_acquisitions_match_closed_forms(mu: float, sigma: float, best: float) -> None:
    z = (best - mu) / sigma
    ei = (best - mu) * norm.cdf(z) + sigma * norm.pdf(z)
    m, s = np.array([mu]), np.array([sigma])
    assert math.exp(_gp.log_expected_improvement(m, s, best)[0]) == pytest.approx(ei, rel=1e-9)
    assert math.exp(_gp.log_probability_of_improvement(m, s, best)[0]) == pytest.approx(norm.cdf(z), rel=1e-9)
    assert _gp.negative_lcb(m, s, 4.0)[0] == pytest.approx(-(mu - 2.0 * sigma))


def test_log_ei_is_finite_and_monotone_where_ei_underflows() -> None:
    z = np.array([-1e8, -1e4, -200.0, -40.0, -10.0, -1.0, 0.0, 5.0])
    h = _gp.log_h(z)
    assert np.all(np.isfinite(h))
    assert np.all(np.diff(h) > 0)
    # asymptotics: log h(z) ~ log phi(z) - 2 log|z| for very negative z
    assert h[2] == pytest.approx(norm.logpdf(-200.0) - 2 * math.log(200.0), rel=1e-4)


# --- encoding and observations ------------------------------------------------------------------
def test_encoder_round_trips_and_snaps() -> None:
    space = SearchSpace([
        FloatParam("lr", low=1e-4, high=1.0, log=True), IntParam("n", low=1, high=256, log=True),
        FloatParam("s", low=0.0, high=1.0, step=0.25), CategoricalParam("c", choices=("a", "b", "c")),
    ])
    enc = Encoder(space)
    assert enc.n_features == 6 and list(enc.groups) == [0, 1, 2, 3, 3, 3]
    params = {"lr": 0.01, "n": 17, "s": 0.75, "c": "b"}
    back = enc.decode(enc.encode(params))
    assert back["c"] == "b" and back["n"] == 17 and back["s"] == 0.75 and back["lr"] == pytest.approx(0.01)
    rows = enc.from_unit(np.random.default_rng(0).random((200, 4)))
    for row in rows:
        assert space.contains(enc.decode(row))
        assert np.allclose(enc.encode(enc.decode(row)), row)  # candidates are legal points already


def test_warp_keeps_order_and_tames_outliers() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 1e6])
    w = warp_outputs(y)
    assert np.all(np.diff(w) > 0)
    assert abs(w.mean()) < 1e-9 and w.std() == pytest.approx(1.0)
    assert w[3] - w[0] > 0.1  # still told apart (without the squash: 1e-5)


def test_select_points_keeps_best_and_recent() -> None:
    y = np.arange(1000, dtype=float)[::-1]  # the most recent are the best here
    keep = select_points(y, 300, 200)
    assert len(keep) == 300 and 999 in keep and 0 not in keep


# --- the sampler --------------------------------------------------------------------------------
def test_gp_beats_random_on_a_smooth_2d_problem() -> None:
    space = _space_2d()
    gp = [min(t.value for t in _run(space, _bowl, {"name": "gp", "n_startup_trials": 5}, 12, seed).trials)
          for seed in range(2)]
    rnd = [min(t.value for t in _run(space, _bowl, "random", 12, seed).trials) for seed in range(2)]
    assert np.mean(gp) < 1e-3
    assert np.mean(gp) < np.mean(rnd) / 10


def test_same_seed_same_trials_and_a_new_sampler_reproduces_an_ask() -> None:
    space = _space_2d()
    spec = {"name": "gp", "n_startup_trials": 4, "acquisition": "lcb"}
    a, b = _run(space, _bowl, spec, 8, seed=3), _run(space, _bowl, spec, 8, seed=3)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    # a fresh sampler (as after a resume) proposes trial 7 from the 7 finished ones exactly as before
    fresh = GPSampler(n_startup_trials=4, acquisition="lcb")
    fresh.bind_seed(3)
    ctx = SamplingContext(number=7, finished=a.trials[:7], running=[])
    assert fresh.sample(space, ctx, np.random.default_rng([3, 7])) == a.trials[7].params


def test_hyperparameters_refit_on_a_schedule_that_a_resumed_study_repeats() -> None:
    from hposweep.samplers.gp import REFIT_ALL_UNTIL, refit_point

    assert [refit_point(n) for n in (10, REFIT_ALL_UNTIL)] == [10, REFIT_ALL_UNTIL]
    assert refit_point(101) == 100 and refit_point(103) == 100 and refit_point(104) == 104
    assert all(n - refit_point(n) < max(1, n // 25) for n in range(1, 400))
    space = _space_2d()
    spec = {"name": "gp", "n_startup_trials": 4}
    study = _run(space, _bowl, spec, 57, seed=2)
    # trial 56 uses hyperparameters fitted on the first 56 - (56 % 2) = 56 trials, 55 on those of trial 54:
    # a fresh sampler (a resume) refits on that prefix and proposes the same point
    for number in (55, 56):
        fresh = GPSampler(n_startup_trials=4)
        fresh.bind_seed(2)
        ctx = SamplingContext(number=number, finished=study.trials[:number], running=[])
        assert fresh.sample(space, ctx, np.random.default_rng([2, number])) == study.trials[number].params


def test_analytic_acquisition_gradient_matches_finite_differences() -> None:
    from hposweep.samplers.gp import _Fit

    rng = np.random.default_rng(0)
    X = rng.random((30, 4))
    y = np.sin(3 * X).sum(1)
    y = (y - y.mean()) / y.std()
    groups = np.array([0, 1, 2, 2])
    model = _gp.GPModel(X, y, groups, _gp.fit_hyperparameters(X, y, groups, _gp.Prior.for_dim(3), rng))
    Q = rng.random((5, 4))
    mu, sd, _, _ = model.predict_with_gradient(Q)
    assert np.allclose((mu, sd), model.predict(Q), atol=1e-7)
    for acq in ("ei", "pi", "lcb"):
        sampler, fit = GPSampler(acquisition=acq), _Fit(30, model, float(y.min()))
        _, grad = sampler._score_and_gradient(model, fit, Q)
        numeric = np.zeros_like(grad)
        for f in range(4):
            step = np.zeros(4)
            step[f] = 1e-6
            numeric[:, f] = (sampler._score(model, fit, Q + step) - sampler._score(model, fit, Q - step)) / 2e-6
        assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-4 * np.abs(numeric).max())


def test_parallel_asks_differ_and_failures_count_as_bad() -> None:
    space = _space_2d()
    study = _run(space, _bowl, {"name": "gp", "n_startup_trials": 4}, 6)
    t1, t2 = study.ask(), study.ask()
    assert t1.params != t2.params
    study.tell(t1, state="failed")
    study.tell(t2, _bowl(t2.params))
    t3 = study.ask()
    assert space.contains(t3.params)


def test_maximize_and_pi() -> None:
    def f(p: dict) -> float:
        return -_bowl(p)

    gp = _run(_space_2d(), f, {"name": "gp", "n_startup_trials": 5, "acquisition": "pi"}, 12, direction="maximize")
    rnd = _run(_space_2d(), f, "random", 12, direction="maximize")
    assert gp.best_trial.value > -0.02
    assert gp.best_trial.value > rnd.best_trial.value


def test_multi_objective_is_a_config_error() -> None:
    study = Study(_space_2d(), directions=["minimize", "minimize"], sampler="gp", seed=0)
    with pytest.raises(ConfigError, match="gp supports one objective; use tpe or nsga2"):
        study.ask()


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="acquisition"):
        make_sampler({"name": "gp", "acquisition": "ucb"})
    with pytest.raises(ConfigError, match="valid options"):
        make_sampler({"name": "gp", "n_candidates": 5})


@st.composite
def _spaces(draw: st.DrawFn) -> SearchSpace:
    params = []
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["float", "log", "int", "logint", "step", "cat"]))
        name = f"p{i}"
        if kind == "float":
            params.append(FloatParam(name, low=-2.0, high=3.0))
        elif kind == "log":
            params.append(FloatParam(name, low=1e-5, high=10.0, log=True))
        elif kind == "int":
            params.append(IntParam(name, low=-3, high=draw(st.integers(-2, 40))))
        elif kind == "logint":
            params.append(IntParam(name, low=1, high=draw(st.integers(2, 5000)), log=True))
        elif kind == "step":
            params.append(FloatParam(name, low=0.0, high=1.0, step=draw(st.sampled_from([0.1, 0.25, 0.5]))))
        else:
            params.append(CategoricalParam(name, choices=tuple(range(draw(st.integers(1, 4))))))
    if draw(st.booleans()) and any(isinstance(p, CategoricalParam) for p in params):
        parent = next(p for p in params if isinstance(p, CategoricalParam))
        from hposweep.core.space import Condition

        params.append(FloatParam("child", low=0.0, high=1.0, when=(Condition(parent.name, (parent.choices[0],)),)))
    return SearchSpace(params)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=_spaces(), seed=st.integers(0, 1000))
def test_proposals_are_inside_the_space(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    study = Study(space, sampler={"name": "gp", "n_startup_trials": 3}, seed=seed)
    for _ in range(5):
        t = study.ask()
        assert space.contains(t.params)
        study.tell(t, float(rng.standard_normal()))


def test_startup_points_are_sobol_and_cover_the_square() -> None:
    study = _run(_space_2d(), _bowl, {"name": "gp", "n_startup_trials": 8}, 8, seed=5)
    pts = np.array([[t.params["x"], t.params["y"]] for t in study.trials])
    quadrants = {(int(x > 0.5), int(y > 0.5)) for x, y in pts}
    assert len(quadrants) == 4  # a scrambled Sobol sequence puts 2 of 8 points in each quadrant


def test_cost_cap_keeps_at_most_max_points() -> None:
    space = _space_2d()
    rng = np.random.default_rng(0)
    finished = []
    for i in range(320):
        p = {"x": float(rng.random()), "y": float(rng.random())}
        finished.append(Trial(i, p, TrialState.COMPLETE, [_bowl(p)]))
    sampler = GPSampler()
    out = sampler.sample(space, SamplingContext(number=320, finished=finished, running=[]), rng)
    assert space.contains(out)
    assert sampler._fit is not None and sampler._fit.model.X.shape[0] == 300
