"""The trial to take under noise (``hposweep.analysis.recommend``): the model's pick on noisy values, the best
observed trial on clean ones, and the study-level wrapper the summary and ``best --robust`` use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hposweep.analysis.recommend import MIN_TRIALS, recommend
from hposweep.core.space import SearchSpace
from hposweep.study.api import Study
from hposweep.study.summary import recommend_line, recommended_trial

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "wd": {"type": "float", "low": 0.0, "high": 0.3}}


def bowl(p: dict) -> float:
    return 0.3 + 0.05 * (math.log10(p["lr"]) + 2.5) ** 2 + 0.2 * (p["wd"] - 0.1) ** 2


def sweep(noise: float, n: int = 60, seed: int = 0, direction: str = "minimize") -> tuple[Study, list[float]]:
    """TPE on a broad 2-d bowl plus seeded noise; returns the study and every trial's true value."""
    study = Study(SearchSpace.from_dict(SPACE), direction, sampler="tpe", seed=seed)
    rng = np.random.default_rng(seed)
    sign = 1.0 if direction == "minimize" else -1.0
    true = []
    for _ in range(n):
        t = study.ask()
        f = bowl(t.params)
        true.append(f)
        study.tell(t, sign * (f + float(rng.normal(0, noise))))
    return study, true


def test_clean_values_give_the_best_observed_trial() -> None:
    for seed in range(3):
        study, _ = sweep(0.0, seed=seed)
        found = recommended_trial(study)
        assert found is not None
        trial, rec = found
        assert trial.number == study.best_trial.number and rec.method == "observed" and not rec.differs
        assert recommend_line(study) is None


def test_noisy_values_pick_a_trial_whose_true_value_is_no_worse_on_average() -> None:
    gains, models = [], 0
    for seed in range(6):
        study, true = sweep(0.03, seed=seed)
        trials = list(study.trials)
        rec = recommend(study.space, [t.params for t in trials], [t.value for t in trials])
        models += rec.method == "model"
        gains.append(true[rec.best_index] - true[rec.index])
        assert rec.noise_sd is not None and 0.005 < rec.noise_sd < 0.1
    assert models == 6
    assert np.mean(gains) >= 0.0, gains


def test_the_estimate_is_in_the_user_direction() -> None:
    study, true = sweep(0.03, seed=1, direction="maximize")
    trials = list(study.trials)
    rec = recommend(study.space, [t.params for t in trials], [t.value for t in trials], minimize=False)
    assert rec.method == "model"
    assert -0.45 < rec.estimate < -0.25  # values are -(0.3 + bowl + noise)
    assert rec.estimate <= max(t.value for t in trials) + 1e-9 or rec.differs


def test_few_or_non_finite_values_fall_back_to_the_best_observed() -> None:
    space = SearchSpace.from_dict(SPACE)
    params = [{"lr": 10 ** -(1 + i / 10), "wd": 0.1} for i in range(MIN_TRIALS - 1)]
    values = [float(i % 5) for i in range(MIN_TRIALS - 1)]
    values[3] = math.nan
    rec = recommend(space, params, values)
    assert rec.method == "observed" and values[rec.index] == 0.0
    with pytest.raises(ValueError):
        recommend(space, params[:2], [math.nan, math.inf])


def test_it_is_deterministic() -> None:
    study, _ = sweep(0.03, seed=2)
    trials = list(study.trials)
    a = recommend(study.space, [t.params for t in trials], [t.value for t in trials])
    b = recommend(study.space, [t.params for t in trials], [t.value for t in trials])
    assert a == b


def test_multi_objective_and_repeated_studies_have_no_recommendation() -> None:
    multi = Study(SearchSpace.from_dict(SPACE), directions=["minimize", "minimize"], sampler="tpe", seed=0)
    for _ in range(25):
        t = multi.ask()
        multi.tell(t, [bowl(t.params), t.params["wd"]])
    assert recommended_trial(multi) is None and recommend_line(multi) is None
