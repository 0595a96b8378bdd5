"""Property tests for the `random` and `grid` samplers: every proposal lies in the space.

The space checker here is written independently of ``SearchSpace.check`` so that a bug shared by
the sampler and the space's own check cannot hide itself.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hposweep.core.space import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    SearchSpace,
    value_key,
)
from hposweep.errors import ConfigError
from hposweep.samplers.random import sample_space
from hposweep.study.api import Study

CHOICE_POOL: list[Any] = ["a", "b", "c", 1, 2, 2.5, True, False, None]


# --- an independent checker --------------------------------------------------------------
def _in_domain(p: Param, v: Any) -> bool:
    if isinstance(p, FixedParam):
        return value_key(v) == value_key(p.value)
    if isinstance(p, CategoricalParam):
        return any(value_key(v) == value_key(c) for c in p.choices)
    if isinstance(p, IntParam):
        step = int(p.step or 1)
        return type(v) is int and p.low <= v <= p.high and (v - p.low) % step == 0
    assert isinstance(p, FloatParam)
    if type(v) is not float or not math.isfinite(v) or not (p.low <= v <= p.high):
        return False
    if p.step is not None:
        k = (v - p.low) / p.step
        return abs(k - round(k)) < 1e-6
    return True


def assert_in_space(space: SearchSpace, params: dict[str, Any]) -> None:
    """Bounds, types, steps and choices hold; a parameter is present exactly when its conditions hold."""
    assert set(params) <= set(space.params), f"unknown params in {params}"
    for p in space.params.values():
        active = all(
            c.parent in params and any(value_key(params[c.parent]) == value_key(v) for v in c.values)
            for c in p.when
        )
        assert (p.name in params) == active, f"{p.name}: present={p.name in params} active={active} in {params}"
        if active:
            assert _in_domain(p, params[p.name]), f"{p.name}={params[p.name]!r} outside {p}"
    space.check(params)  # the space's own check must agree


# --- strategies ----------------------------------------------------------------------------
@st.composite
def float_params(draw: st.DrawFn, name: str, finite: bool) -> FloatParam:
    kind = draw(st.sampled_from(["step"] if finite else ["plain", "log", "step"]))
    if kind == "log":
        low = draw(st.floats(1e-6, 10.0))
        return FloatParam(name, low=low, high=low * draw(st.floats(1.5, 1e5)), log=True)
    low = draw(st.integers(-40, 40)) / 4
    if kind == "plain":
        return FloatParam(name, low=low, high=low + draw(st.floats(1e-3, 100.0)))
    step = draw(st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.0]))
    return FloatParam(name, low=low, high=float(f"{low + draw(st.integers(1, 12)) * step:.12g}"), step=step)


@st.composite
def int_params(draw: st.DrawFn, name: str) -> IntParam:
    if draw(st.booleans()):
        low = draw(st.integers(1, 100))
        return IntParam(name, low=low, high=low + draw(st.integers(1, 1000)), log=True)
    low = draw(st.integers(-20, 20))
    step = draw(st.sampled_from([None, 1, 2, 3, 5]))
    return IntParam(name, low=low, high=low + draw(st.integers(1, 8)) * (step or 1), step=step)


@st.composite
def spaces(draw: st.DrawFn, finite: bool = False) -> SearchSpace:
    """Up to 6 parameters; each may depend on an earlier discrete one (so conditions nest)."""
    params: list[Param] = []
    for i in range(draw(st.integers(1, 6))):
        name = f"p{i}"
        kind = draw(st.sampled_from(["float", "int", "cat", "cat", "fixed"]))
        discrete_parents = [p for p in params if isinstance(p, (CategoricalParam, IntParam, FixedParam))]
        when: tuple[Condition, ...] = ()
        if discrete_parents and draw(st.booleans()):
            parent = draw(st.sampled_from(discrete_parents))
            domain = list(parent.values())[:6]  # type: ignore[attr-defined]
            values = draw(st.lists(st.sampled_from(domain), min_size=1, max_size=3, unique_by=value_key))
            when = (Condition(parent.name, tuple(values)),)
        if kind == "float":
            p: Param = draw(float_params(name, finite))
        elif kind == "int":
            p = draw(int_params(name))
        elif kind == "cat":
            choices = draw(st.lists(st.sampled_from(CHOICE_POOL), min_size=1, max_size=5, unique_by=value_key))
            p = CategoricalParam(name, choices=tuple(choices))
        else:
            p = FixedParam(name, value=draw(st.sampled_from(CHOICE_POOL)))
        params.append(type(p)(**{**p.__dict__, "when": when}))
    return SearchSpace(params)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- random --------------------------------------------------------------------------------
@SETTINGS
@given(space=spaces(), seed=st.integers(0, 2**32 - 1))
def test_random_proposals_lie_in_the_space(space: SearchSpace, seed: int) -> None:
    study = Study(space, direction="minimize", sampler="random", seed=seed)
    for i in range(6):
        trial = study.ask()
        assert trial.number == i
        assert_in_space(space, trial.params)
        study.tell(trial, float(i))


def test_random_covers_every_int_and_step_value() -> None:
    space = SearchSpace([IntParam("n", low=-2, high=4, step=2), FloatParam("x", low=0.5, high=1.5, step=0.25)])
    study = Study(space, sampler="random", seed=1)
    seen: dict[str, set] = {"n": set(), "x": set()}
    for _ in range(200):
        t = study.ask()
        study.tell(t, 0.0)
        for k in seen:
            seen[k].add(t.params[k])
    assert seen["n"] == {-2, 0, 2, 4}
    assert seen["x"] == {0.5, 0.75, 1.0, 1.25, 1.5}


def test_random_log_params_are_uniform_in_log_space() -> None:
    """Half the draws of a log range 1e-4..1 fall below 1e-2 (the log midpoint), not 1%."""
    import numpy as np

    space = SearchSpace([FloatParam("lr", low=1e-4, high=1.0, log=True), IntParam("k", low=1, high=4, log=True)])
    rng = np.random.default_rng(3)
    draws = [sample_space(space, rng) for _ in range(4000)]
    below = sum(d["lr"] < 1e-2 for d in draws) / len(draws)
    assert 0.45 < below < 0.55
    # Log-uniform over ints: every value reachable, the small ones more often than the large ones.
    ks = Counter(d["k"] for d in draws)
    assert set(ks) == {1, 2, 3, 4}
    assert ks[1] > ks[2] > ks[4]


# --- grid ----------------------------------------------------------------------------------
def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted((k, value_key(v)) for k, v in params.items()))


@SETTINGS
@given(space=spaces(finite=True), seed=st.integers(0, 2**32 - 1))
def test_grid_visits_every_point_once_then_is_exhausted(space: SearchSpace, seed: int) -> None:
    n = space.n_configs()
    if n is None or n > 60:
        return  # keep the test fast: big grids run the same code path as small ones
    points = {_key(p) for p in space.grid()}
    assert n == len(points)
    study = Study(space, sampler="grid", seed=seed)
    seen = set()
    for _ in range(n):
        assert not study.sampler_exhausted()
        t = study.ask()
        assert_in_space(space, t.params)
        seen.add(_key(t.params))
        study.tell(t, 1.0)
    assert seen == points
    assert study.sampler_exhausted()


def test_grid_skips_running_trials_and_enqueued_points() -> None:
    space = SearchSpace([CategoricalParam("a", choices=("x", "y", "z")), IntParam("b", low=0, high=3)])
    study = Study(space, sampler="grid", seed=5)
    study.enqueue({"a": "y", "b": 2})
    running = [study.ask() for _ in range(12)]  # all asked before any is told: no duplicates either
    assert len({_key(t.params) for t in running}) == 12
    assert running[0].params == {"a": "y", "b": 2}
    assert study.sampler_exhausted()


def test_grid_order_follows_the_seed() -> None:
    space = SearchSpace([IntParam("b", low=0, high=20)])

    def order(seed: int) -> list[int]:
        study = Study(space, sampler="grid", seed=seed)
        return [study.ask().params["b"] for _ in range(21)]

    assert order(7) == order(7)
    assert sorted(order(7)) == list(range(21))
    assert order(7) != order(8)


def test_grid_rejects_a_float_range_without_step() -> None:
    space = SearchSpace([CategoricalParam("a", choices=("x", "y")), FloatParam("lr", low=1e-4, high=1.0, log=True)])
    study = Study(space, sampler="grid", seed=0)
    with pytest.raises(ConfigError) as err:
        study.ask()
    assert "lr" in str(err.value) and "step" in str(err.value)
    assert err.value.hint
    assert study.trials == []  # the failed ask left nothing behind


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_nested_conditions(sampler: str) -> None:
    """opt -> momentum_kind -> nesterov_gamma: grandchildren appear only when the whole chain holds."""
    space = SearchSpace([
        CategoricalParam("opt", choices=("adam", "sgd")),
        CategoricalParam("mkind", choices=("plain", "nesterov"), when=(Condition("opt", ("sgd",)),)),
        FloatParam("gamma", low=0.5, high=0.9, step=0.1, when=(Condition("mkind", ("nesterov",)),)),
        IntParam("warm", low=0, high=2, when=(Condition("opt", ("adam",)),)),
    ])
    study = Study(space, sampler=sampler, seed=2)
    shapes = set()
    for _ in range(9 if sampler == "grid" else 40):  # the grid has 9 points
        t = study.ask()
        assert_in_space(space, t.params)
        shapes.add(tuple(t.params))
        study.tell(t, 0.0)
    assert shapes >= {("opt", "warm"), ("opt", "mkind"), ("opt", "mkind", "gamma")}


def test_grid_point_of_an_interrupted_trial_is_offered_again() -> None:
    space = SearchSpace([CategoricalParam("a", choices=("x", "y")), IntParam("b", low=0, high=1)])
    study = Study(space, sampler="grid", seed=3)
    lost = study.ask()
    study.tell(lost, state="interrupted")  # neither running nor finished: its point is free again
    later = [study.ask() for _ in range(4)]
    assert lost.params == later[0].params
    assert {_key(t.params) for t in later} == {_key(p) for p in space.grid()}


class CountingList(list):
    """A list that counts the items read out of it (indexing, slicing, iterating)."""

    reads = 0

    def __getitem__(self, i: Any) -> Any:
        out = super().__getitem__(i)
        self.reads += len(out) if isinstance(i, slice) else 1
        return out

    def __iter__(self) -> Any:
        for x in super().__iter__():
            self.reads += 1
            yield x


def test_grid_ask_stays_cheap_on_a_large_grid() -> None:
    """Regression: every ask used to rescan all finished trials; each one must be read once, and the
    incremental state must propose exactly what a fresh sampler given the same history proposes."""
    import numpy as np

    from hposweep.core.trial import Trial, TrialState
    from hposweep.samplers import SamplingContext
    from hposweep.samplers.grid import GridSampler

    space = SearchSpace([IntParam("a", low=0, high=99), IntParam("b", low=0, high=49), CategoricalParam(
        "c", choices=("x", "y"))])
    sampler = GridSampler()
    sampler.bind_seed(0)
    finished = CountingList()
    seen = set()
    for k in range(300):
        ctx = SamplingContext(number=k, finished=finished, running=[])
        params = space.complete(sampler.sample(space, ctx, np.random.default_rng(k)))
        assert not sampler.exhausted(space, ctx)
        seen.add(_key(params))
        finished.append(Trial(k, params, TrialState.COMPLETE, [0.0]))
    assert len(seen) == 300
    assert finished.reads == 299  # each finished trial once (a rescan per ask reads ~45,000)
    ctx = SamplingContext(number=300, finished=list(finished), running=[])
    fresh = GridSampler()
    fresh.bind_seed(0)
    assert sampler.sample(space, ctx, np.random.default_rng(0)) == fresh.sample(space, ctx, np.random.default_rng(0))


def test_n_configs_over_the_limit_is_none() -> None:
    space = SearchSpace([
        CategoricalParam("a", choices=tuple(range(8))),
        CategoricalParam("b", choices=tuple(range(8))),
        FixedParam("x", value=1, when=(Condition("a", (0,)),)),
        FixedParam("y", value=1, when=(Condition("b", (0,)),)),
    ])
    assert space.n_configs() == len(list(space.grid())) == 64
    assert space.n_configs(limit=60) is None
