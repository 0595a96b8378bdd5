"""NSGA-II: proposals stay in the space, runs are reproducible, and it beats random search on ZDT1."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hposweep import Study
from hposweep.analysis.pareto import hypervolume
from hposweep.core.space import SearchSpace
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError
from hposweep.samplers import SamplingContext, make_sampler
from hposweep.samplers.nsga2 import NSGA2Sampler

MIXED = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    "layers": {"type": "int", "low": 1, "high": 8},
    "width": {"type": "int", "low": 16, "high": 1024, "log": True},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd", None, True]},
    "momentum": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": "sgd"}},
    "nesterov": {"type": "categorical", "choices": [False, True], "when": {"optimizer": "sgd"}},
    "epochs": 3,
}


def fake_objectives(params: dict) -> list[float]:
    """Deterministic, params-dependent values (a hash), so selection has something to chew on."""
    h = zlib.crc32(repr(sorted(params.items())).encode())
    return [(h % 1000) / 1000.0, ((h // 1000) % 1000) / 1000.0]


def run(space: SearchSpace, sampler, seed: int, n: int, directions=("minimize", "minimize"), fn=fake_objectives):
    study = Study(space, directions=list(directions), sampler=sampler, seed=seed)
    for _ in range(n):
        t = study.ask()
        study.tell(t, fn(t.params))
    return study


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    population=st.integers(2, 6),
    crossover=st.sampled_from(["uniform", "sbx", "blx"]),
    mutation=st.sampled_from(["polynomial", "random"]),
)
def test_proposals_are_inside_the_space(seed: int, population: int, crossover: str, mutation: str) -> None:
    space = SearchSpace.from_dict(MIXED)
    sampler = {"name": "nsga2", "population_size": population, "crossover": crossover, "mutation": mutation}
    study = run(space, sampler, seed, 16)
    for t in study.trials:
        space.check(t.params)


def test_child_draws_params_its_parents_lack() -> None:
    """Parents on the `adam` branch have no momentum; an `sgd` child gets one drawn at random."""
    space = SearchSpace.from_dict(MIXED)
    sampler = NSGA2Sampler(population_size=2, mutation_prob=1.0, mutation="random")
    parent = {"lr": 1e-3, "dropout": 0.1, "layers": 2, "width": 64, "optimizer": "adam", "epochs": 3}
    children = [sampler._child(space, parent, parent, np.random.default_rng(i)) for i in range(40)]
    sgd = [c for c in children if c["optimizer"] == "sgd"]
    assert sgd and all(0.5 <= c["momentum"] <= 0.99 and "nesterov" in c for c in sgd)
    for c in children:
        space.check(space.complete(c))


def test_same_seed_same_sweep_other_seed_other_sweep() -> None:
    space = SearchSpace.from_dict(MIXED)
    a = [t.params for t in run(space, {"name": "nsga2", "population_size": 5}, 7, 30).trials]
    b = [t.params for t in run(space, {"name": "nsga2", "population_size": 5}, 7, 30).trials]
    c = [t.params for t in run(space, {"name": "nsga2", "population_size": 5}, 8, 30).trials]
    assert a == b
    assert a != c


def test_proposal_depends_only_on_rng_and_finished_trials() -> None:
    """A warm sampler (cache built step by step) and a fresh one propose the same child."""
    space = SearchSpace.from_dict(MIXED)
    study = run(space, {"name": "nsga2", "population_size": 4}, 3, 23)
    finished = study.finished_trials
    warm = study.sampler
    fresh = NSGA2Sampler(population_size=4)
    ctx = SamplingContext(number=23, finished=finished, running=[], directions=study.directions)
    got_warm = warm.sample(space, ctx, np.random.default_rng([3, 23]))
    got_fresh = fresh.sample(space, ctx, np.random.default_rng([3, 23]))
    assert got_warm == got_fresh
    # a fresh sampler that saw only a prefix first, then everything, agrees too
    other = NSGA2Sampler(population_size=4)
    other.sample(space, SamplingContext(number=9, finished=finished[:9], running=[]), np.random.default_rng(0))
    assert other.sample(space, ctx, np.random.default_rng([3, 23])) == got_warm


def test_parallel_asks_never_duplicate_running_trials() -> None:
    # 3 x 3 = 9 configurations: children of a 3-trial population collide often
    space = SearchSpace.from_dict({"a": {"type": "categorical", "choices": [1, 2, 3]},
                                   "b": {"type": "categorical", "choices": ["x", "y", "z"]}})
    study = Study(space, directions=["minimize", "maximize"], sampler={"name": "nsga2", "population_size": 3}, seed=1)
    for _ in range(3):
        t = study.ask()
        study.tell(t, [t.params["a"], len(t.params["b"])])
    running = [study.ask() for _ in range(5)]
    keys = [tuple(sorted(t.params.items())) for t in running]
    assert len(set(keys)) == len(keys)
    finished = {tuple(sorted(t.params.items())) for t in study.finished_trials}
    assert not finished & set(keys)


def test_single_objective_converges() -> None:
    space = SearchSpace.from_dict({"x": {"type": "float", "low": -5.0, "high": 5.0},
                                   "y": {"type": "float", "low": -5.0, "high": 5.0}})

    def sphere(p: dict) -> list[float]:
        return [(p["x"] - 1.0) ** 2 + (p["y"] + 2.0) ** 2]

    study = run(space, {"name": "nsga2", "population_size": 10}, 0, 120, directions=["minimize"], fn=sphere)
    first = min(t.value for t in study.trials[:10])
    assert study.best_trial.value < min(first, 0.1)


def test_failed_trials_do_not_break_it() -> None:
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    study = Study(space, directions=["minimize", "minimize"], sampler={"name": "nsga2", "population_size": 3}, seed=0)
    for i in range(15):
        t = study.ask()
        if i % 3 == 0:
            study.tell(t, state="failed")
        else:
            study.tell(t, [t.params["x"], 1 - t.params["x"]])
    assert all(0.0 <= t.params["x"] <= 1.0 for t in study.trials)
    # all failing: falls back to random draws, still legal
    study = Study(space, directions=["minimize", "minimize"], sampler={"name": "nsga2", "population_size": 2}, seed=0)
    for _ in range(6):
        study.tell(study.ask(), state="failed")
    assert len({t.params["x"] for t in study.trials}) == 6


def test_elite_orders_complete_before_failed() -> None:
    sampler = NSGA2Sampler(population_size=3)
    trials = [Trial(0, {"x": 0.1}, TrialState.FAILED),
              Trial(1, {"x": 0.2}, TrialState.COMPLETE, values=[1.0, 2.0]),
              Trial(2, {"x": 0.3}, TrialState.COMPLETE, values=[2.0, 1.0]),
              Trial(3, {"x": 0.4}, TrialState.COMPLETE, values=[3.0, 3.0])]
    elite = sampler.elite(SamplingContext(number=4, finished=trials, running=[], directions=("minimize",) * 2))
    assert [m.trial.number for m in elite] == [1, 2, 3]
    assert [m.rank for m in elite] == [0, 0, 1]


def test_bad_options_are_config_errors() -> None:
    for spec in ({"name": "nsga2", "population_size": 1}, {"name": "nsga2", "crossover": "onepoint"},
                 {"name": "nsga2", "mutation_prob": 2.0}, {"name": "nsga2", "tie_break": "random"}):
        with pytest.raises(ConfigError):
            make_sampler(spec)


def zdt1(p: dict) -> list[float]:
    x = np.array([p[f"x{i}"] for i in range(6)])
    g = 1.0 + 9.0 * x[1:].mean()
    return [x[0], g * (1.0 - math.sqrt(x[0] / g))]


def test_last_front_is_cut_keeping_the_spread() -> None:
    # 5 mutually non-dominated trials, room for 3: both rules keep the two ends
    rows = [[0, 10], [5, 5], [5.01, 4.99], [4.99, 5.01], [10, 0]]
    trials = [Trial(i, {"x": i}, TrialState.COMPLETE, values=v) for i, v in enumerate(rows)]
    ctx = SamplingContext(number=5, finished=trials, running=[], directions=("minimize",) * 2)
    for tie_break in ("crowding", "hypervolume"):
        kept = {m.trial.number for m in NSGA2Sampler(population_size=3, tie_break=tie_break).elite(ctx)}
        assert {0, 4} <= kept and len(kept) == 3


def test_beats_random_on_zdt1() -> None:
    space = SearchSpace.from_dict({f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(6)})
    nsga, rand = [], []
    for seed in range(3):
        spec = {"name": "nsga2", "population_size": 12}
        nsga.append(hypervolume([t.values for t in run(space, spec, seed, 100, fn=zdt1).trials], [11, 11]))
        rand.append(hypervolume([t.values for t in run(space, "random", seed, 100, fn=zdt1).trials], [11, 11]))
    assert np.mean(nsga) > np.mean(rand) + 1.0


def test_resumed_study_proposes_what_an_uninterrupted_one_would(tmp_path) -> None:
    space = SearchSpace.from_dict(MIXED)
    spec = {"name": "nsga2", "population_size": 4, "crossover": "sbx"}
    straight = [t.params for t in run(space, spec, 11, 24).trials]
    study = run(space, spec, 11, 13)
    study.save(tmp_path / "s.json")
    study.close()
    resumed = Study.load(tmp_path / "s.json")
    for _ in range(11):
        t = resumed.ask()
        resumed.tell(t, fake_objectives(t.params))
    assert [t.params for t in resumed.trials] == straight
    resumed.close()
