"""`cmaes` (optional package) and `auto` (the rule that picks a sampler)."""

from __future__ import annotations

import builtins
import importlib.util

import numpy as np
import pytest

from hposweep.core.space import CategoricalParam, Condition, FloatParam, IntParam, SearchSpace
from hposweep.errors import ConfigError
from hposweep.samplers import SamplingContext, make_sampler
from hposweep.samplers.auto import AutoSampler, choose
from hposweep.study.api import Study

HAS_CMAES = importlib.util.find_spec("cmaes") is not None
needs_cmaes = pytest.mark.skipif(not HAS_CMAES, reason="the optional package 'cmaes' is not installed "
                                 "(pip install 'hposweep[cmaes]')")


def _floats(d: int) -> SearchSpace:
    return SearchSpace([FloatParam(f"x{i}", low=-2.0, high=2.0) for i in range(d)])


def _sphere(p: dict) -> float:
    return sum((v - 0.5) ** 2 for k, v in p.items() if k.startswith("x"))


def _run(space: SearchSpace, f, sampler, n: int, seed: int = 0) -> Study:
    study = Study(space, sampler=sampler, seed=seed)
    for _ in range(n):
        t = study.ask()
        study.tell(t, f(t.params))
    return study


# --- cmaes --------------------------------------------------------------------------------------
def test_cmaes_missing_package_is_a_config_error_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_cmaes(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "cmaes":
            raise ImportError("No module named 'cmaes'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cmaes)
    with pytest.raises(ConfigError, match=r"pip install \"hposweep\[cmaes\]\""):
        make_sampler("cmaes")


@needs_cmaes
def test_cmaes_beats_random_on_a_sphere() -> None:
    space = _floats(3)
    cma = [_run(space, _sphere, "cmaes", 80, seed).best_trial.value for seed in range(2)]
    rnd = [_run(space, _sphere, "random", 80, seed).best_trial.value for seed in range(2)]
    assert np.mean(cma) < np.mean(rnd) / 3


@needs_cmaes
def test_cmaes_state_is_rebuilt_from_finished_trials() -> None:
    space = SearchSpace([FloatParam("x0", low=1e-3, high=1.0, log=True), IntParam("x1", low=0, high=9),
                         CategoricalParam("c", choices=("a", "b"))])
    study = _run(space, lambda p: _sphere(p) + (p["c"] == "b"), {"name": "cmaes", "population_size": 4}, 23, seed=4)
    assert all(space.contains(t.params) for t in study.trials)
    again = _run(space, lambda p: _sphere(p) + (p["c"] == "b"), {"name": "cmaes", "population_size": 4}, 23, seed=4)
    assert [t.params for t in study.trials] == [t.params for t in again.trials]
    # a fresh sampler object (as after a resume) replays the 20 finished trials and asks trial 20 the same
    fresh = make_sampler({"name": "cmaes", "population_size": 4})
    fresh.bind_seed(4)  # type: ignore[attr-defined]
    ctx = SamplingContext(number=20, finished=study.trials[:20], running=[])
    assert fresh.sample(space, ctx, np.random.default_rng([4, 20])) == study.trials[20].params


@needs_cmaes
def test_cmaes_restarts_with_a_larger_population_when_it_stalls() -> None:
    space = SearchSpace([IntParam("x0", low=0, high=3), IntParam("x1", low=0, high=3)])
    study = _run(space, lambda p: float(p["x0"] + p["x1"]), {"name": "cmaes", "population_size": 4}, 150)
    replay = study.sampler._replay  # type: ignore[attr-defined]
    assert replay.restarts >= 1 and replay.popsize >= 8


@needs_cmaes
def test_cmaes_rejects_several_objectives_and_bad_options() -> None:
    study = Study(_floats(2), directions=["minimize", "maximize"], sampler="cmaes", seed=0)
    with pytest.raises(ConfigError, match="one objective"):
        study.ask()
    with pytest.raises(ConfigError, match="restart_strategy"):
        make_sampler({"name": "cmaes", "restart_strategy": "bipop"})


# --- auto ---------------------------------------------------------------------------------------
def _mixed(n_num: int, n_cat: int) -> SearchSpace:
    return SearchSpace([FloatParam(f"x{i}", low=0.0, high=1.0) for i in range(n_num)]
                       + [CategoricalParam(f"c{i}", choices=("a", "b", "c")) for i in range(n_cat)])


@pytest.mark.parametrize("space,n_trials,n_jobs,expected", [
    (_mixed(6, 0), 50, 1, "gp"),
    (_mixed(4, 1), None, 1, "gp"),                      # unknown budget is taken as 100
    (_mixed(3, 2), 300, 4, "gp"),
    (_mixed(6, 0), 2000, 1, "cmaes" if HAS_CMAES else "tpe"),
    (_mixed(6, 0), 400, 32, "tpe"),                     # many parallel workers
    (_mixed(30, 0), 100, 1, "tpe"),                     # high dimension
    (_mixed(2, 4), 100, 1, "tpe"),                      # categorical-heavy
    (_mixed(0, 3), 50, 1, "tpe"),                       # only categoricals
    (_mixed(4, 1), 1000, 1, "tpe"),                     # long run with a categorical
])
def test_auto_rule(space: SearchSpace, n_trials: int | None, n_jobs: int, expected: str) -> None:
    assert choose(space, n_trials, n_jobs).name == expected


def test_auto_rule_conditional_and_multi_objective() -> None:
    cond = SearchSpace([CategoricalParam("opt", choices=("sgd", "adam")),
                        FloatParam("momentum", low=0.0, high=1.0, when=(Condition("opt", ("sgd",)),))])
    assert choose(cond, 50).name == "tpe"
    assert choose(_mixed(3, 0), 50, directions=("minimize", "maximize")).name == "tpe"
    assert choose(SearchSpace([]), 10).name == "random"


def test_auto_decides_once_and_says_what_it_chose() -> None:
    sampler = make_sampler("auto")
    assert isinstance(sampler, AutoSampler)
    assert "chooses" in sampler.describe()
    study = Study(_mixed(2, 0), sampler=sampler, seed=0, settings={"trials": 40})
    t = study.ask()
    study.tell(t, _sphere(t.params))
    assert sampler.describe() == "auto -> gp (2 numeric params, budget 40)"
    delegate = sampler.prepare(study.space, SamplingContext(number=9, finished=[], running=[], n_trials=5000))
    assert delegate.name == "gp"  # the budget seen later does not change the choice
