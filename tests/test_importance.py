"""PED-ANOVA importance on synthetic objectives whose answer is known."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from hposweep.analysis.importance import MIN_TRIALS, RELIABLE_TRIALS, compute_importance, top_count
from hposweep.core.space import CategoricalParam, Condition, FixedParam, FloatParam, IntParam, SearchSpace
from hposweep.errors import ConfigError
from hposweep.study.api import Study

SEEDS = range(5)


def make_study(space: SearchSpace, f: Callable[[dict[str, Any]], Any], n: int, seed: int = 0,
               direction: str = "minimize", **kwargs: Any) -> Study:
    study = Study(space, direction=direction, sampler="random", seed=seed, **kwargs)
    for _ in range(n):
        t = study.ask()
        study.tell(t, f(t.params))
    return study


def strong_weak_space() -> SearchSpace:
    return SearchSpace([
        FloatParam("strong", low=0.0, high=1.0),
        FloatParam("weak", low=0.0, high=1.0),
        FloatParam("noise_f", low=0.0, high=1.0),
        IntParam("noise_i", low=0, high=100),
        CategoricalParam("noise_c", choices=("a", "b", "c")),
        FloatParam("noise_log", low=1e-4, high=1.0, log=True),
        FixedParam("epochs", value=3),
    ])


def strong_weak(p: dict[str, Any]) -> float:
    return 3.0 * abs(p["strong"] - 0.3) + 1.2 * abs(p["weak"] - 0.6)


def ranking(study: Study, **kwargs: Any) -> list[str]:
    return [p.name for p in compute_importance(study, n_bootstrap=0, **kwargs).params]


def test_strong_first_and_weak_above_irrelevant_across_seeds() -> None:
    weak_second = 0
    for seed in SEEDS:
        names = ranking(make_study(strong_weak_space(), strong_weak, 100, seed))
        assert names[0] == "strong", (seed, names)
        weak_second += names[1] == "weak"
    assert weak_second >= len(SEEDS) - 1


def test_shares_sum_to_one_and_fixed_params_are_left_out() -> None:
    result = compute_importance(make_study(strong_weak_space(), strong_weak, 60), n_bootstrap=20)
    assert math.isclose(sum(p.importance for p in result.params), 1.0)
    assert "epochs" not in result.as_dict()
    assert [p.importance for p in result.params] == sorted((p.importance for p in result.params), reverse=True)
    assert result.reliable and result.message is None
    assert result.n_trials == 60 and result.n_top == top_count(60, 0.1) == 10


def test_maximize_is_the_mirror_of_minimize() -> None:
    lo = compute_importance(make_study(strong_weak_space(), strong_weak, 80, seed=3), n_bootstrap=0)
    hi = compute_importance(
        make_study(strong_weak_space(), lambda p: -strong_weak(p), 80, seed=3, direction="maximize"), n_bootstrap=0)
    assert hi.direction == "maximize"
    assert lo.as_dict() == pytest.approx(hi.as_dict())
    assert next(iter(hi.as_dict())) == "strong"


def test_log_scale_parameter_found() -> None:
    space = SearchSpace([
        FloatParam("lr", low=1e-6, high=1.0, log=True),
        FloatParam("a", low=0.0, high=1.0),
        IntParam("b", low=1, high=16, log=True),
    ])
    for seed in SEEDS:
        names = ranking(make_study(space, lambda p: abs(math.log10(p["lr"]) + 3.0), 60, seed))
        assert names[0] == "lr", (seed, names)


def test_categorical_and_small_int_parameters_found() -> None:
    space = SearchSpace([
        CategoricalParam("opt", choices=("adam", "sgd", "rmsprop", "adagrad")),
        IntParam("layers", low=1, high=6),
        FloatParam("noise", low=0.0, high=1.0),
        CategoricalParam("flag", choices=(True, False)),
    ])

    def f(p: dict[str, Any]) -> float:
        return (0.0 if p["opt"] == "adam" else 2.0) + 0.5 * abs(p["layers"] - 3)

    for seed in SEEDS:
        result = compute_importance(make_study(space, f, 80, seed), n_bootstrap=0)
        names = [p.name for p in result.params]
        assert names[0] == "opt", (seed, names)
        assert names.index("layers") < names.index("noise") or result.as_dict()["noise"] < 0.15


def test_conditional_parameter_weighted_by_activity() -> None:
    cond_sgd = (Condition("opt", ("sgd",)),)
    cond_adam = (Condition("opt", ("adam",)),)
    space = SearchSpace([
        CategoricalParam("opt", choices=("adam", "sgd")),
        FloatParam("momentum", low=0.0, high=1.0, when=cond_sgd),
        FloatParam("beta", low=0.0, high=1.0, when=cond_adam),
        FloatParam("x", low=0.0, high=1.0),
    ])

    def f(p: dict[str, Any]) -> float:
        base = 2.0 * abs(p["x"] - 0.5)
        return base + (3.0 * abs(p["momentum"] - 0.9) if p["opt"] == "sgd" else 0.8)

    for seed in SEEDS:
        result = compute_importance(make_study(space, f, 100, seed), n_bootstrap=0)
        shares = result.as_dict()
        assert next(iter(shares)) == "momentum", (seed, shares)
        assert shares["beta"] < 0.05
        by_name = {p.name: p for p in result.params}
        assert by_name["momentum"].n_active + by_name["beta"].n_active == 100
        assert by_name["opt"].n_active == 100


def test_pruned_trials_count_failed_ones_do_not() -> None:
    space = SearchSpace([FloatParam("x", low=0.0, high=1.0), FloatParam("y", low=0.0, high=1.0)])
    study = Study(space, direction="minimize", sampler="random", seed=1)
    for i in range(45):
        t = study.ask()
        if i % 3 == 0:
            study.report(t, 1, 5.0 + t.params["x"])
            study.tell(t, state="pruned")
        elif i % 3 == 1:
            study.tell(t, state="failed")
        else:
            study.tell(t, abs(t.params["x"] - 0.2))
    result = compute_importance(study, n_bootstrap=0)
    assert result.n_trials == 30
    assert result.params[0].name == "x"


def test_too_few_trials() -> None:
    space = strong_weak_space()
    tiny = compute_importance(make_study(space, strong_weak, MIN_TRIALS - 1), n_bootstrap=10)
    assert tiny.params == [] and not tiny.reliable and "at least" in (tiny.message or "")
    few = compute_importance(make_study(space, strong_weak, RELIABLE_TRIALS - 5), n_bootstrap=10)
    assert few.params and not few.reliable and "rough" in (few.message or "")
    empty = compute_importance(Study(space, sampler="random", seed=0))
    assert empty.n_trials == 0 and empty.params == []


def test_constant_objective_has_no_signal() -> None:
    result = compute_importance(make_study(strong_weak_space(), lambda p: 1.0, 30), n_bootstrap=5)
    assert result.params == [] and "same" in (result.message or "")


def test_bootstrap_gives_spread_and_is_seeded() -> None:
    study = make_study(strong_weak_space(), strong_weak, 60)
    a = compute_importance(study, n_bootstrap=30, seed=7)
    b = compute_importance(study, n_bootstrap=30, seed=7)
    assert a == b
    for p in a.params:
        assert p.std is not None and p.std >= 0
        assert p.low is not None and p.high is not None and 0 <= p.low <= p.high <= 1
    strong = a.params[0]
    assert strong.name == "strong" and strong.low > a.params[-1].high
    assert all(p.std is None for p in compute_importance(study, n_bootstrap=0).params)


def test_multi_objective_by_index_and_name() -> None:
    space = SearchSpace([FloatParam("x", low=0.0, high=1.0), FloatParam("y", low=0.0, high=1.0),
                         FloatParam("z", low=0.0, high=1.0)])
    study = Study(space, directions=["minimize", "maximize"], sampler="random", seed=2,
                  settings={"metrics": [{"name": "loss", "direction": "minimize"},
                                        {"name": "acc", "direction": "maximize"}]})
    for _ in range(60):
        t = study.ask()
        study.tell(t, [abs(t.params["x"] - 0.5), -abs(t.params["y"] - 0.5)])
    assert ranking(study)[0] == "x"
    assert ranking(study, objective=1)[0] == "y"
    res = compute_importance(study, objective="acc", n_bootstrap=0)
    assert res.metric == "acc" and res.direction == "maximize" and res.params[0].name == "y"
    with pytest.raises(ConfigError, match="out of range"):
        compute_importance(study, objective=2)
    with pytest.raises(ConfigError, match="unknown objective"):
        compute_importance(study, objective="f1")


def test_json_and_table() -> None:
    result = compute_importance(make_study(strong_weak_space(), strong_weak, 40), n_bootstrap=10)
    data = json.loads(json.dumps(result.to_json()))
    assert data["method"] == "ped-anova" and data["params"][0]["name"] == "strong"
    table = result.format_table()
    assert table.splitlines()[2].startswith("strong")
    assert "40 trials" in table
