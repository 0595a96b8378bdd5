"""TPE's ``running_penalty``: concurrent asks scored lower near running trials, sequential asks untouched."""

from __future__ import annotations

import numpy as np
import pytest

from hposweep.core.space import CategoricalParam, FloatParam, SearchSpace
from hposweep.errors import ConfigError
from hposweep.samplers import make_sampler
from hposweep.samplers._parzen import CATEGORICAL, CONTINUOUS, Bandwidth, Dim, ParzenEstimator
from hposweep.samplers.tpe import TPESampler, running_log_penalty
from hposweep.study.api import Study


def _space() -> SearchSpace:
    return SearchSpace([FloatParam("x", low=0.0, high=1.0), FloatParam("y", low=0.0, high=1.0),
                        CategoricalParam("c", choices=("a", "b", "c"))])


def _f(p: dict) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] - 0.7) ** 2 + 0.1 * (p["c"] != "b")


def _sequential(sampler: TPESampler, n: int = 30) -> list[dict]:
    study = Study(_space(), direction="minimize", sampler=sampler, seed=11)
    out = []
    for _ in range(n):
        t = study.ask()
        study.tell(t, _f(t.params))
        out.append(dict(t.params))
    return out


def test_sequential_proposals_are_bit_for_bit_those_without_the_option() -> None:
    assert _sequential(TPESampler(running_penalty=1.0)) == _sequential(TPESampler())


def _in_flight(sampler: TPESampler, n: int = 16) -> list[dict]:
    study = Study(_space(), direction="minimize", sampler=sampler, seed=4)
    for _ in range(n):
        t = study.ask()
        study.tell(t, _f(t.params))
    return [dict(study.ask().params) for _ in range(4)]


def test_concurrent_asks_repeat_with_the_seed_and_the_first_is_unchanged() -> None:
    a, b = _in_flight(TPESampler(running_penalty=1.0)), _in_flight(TPESampler(running_penalty=1.0))
    assert a == b
    plain = _in_flight(TPESampler())
    assert a[0] == plain[0]  # nothing was running yet: the same proposal


def test_the_penalty_is_strong_at_a_running_trial_and_fades_away_from_it() -> None:
    rng = np.random.default_rng(0)
    dims = [Dim(CONTINUOUS), Dim(CONTINUOUS), Dim(CATEGORICAL, n_choices=3)]
    obs = np.column_stack((rng.random((8, 2)) * 0.2 + 0.4, rng.integers(0, 3, 8)))
    good = ParzenEstimator(obs, np.ones(8), dims, Bandwidth(rule="gap", min_width=0.03, clip_exponent=2.0))
    running = np.array([[0.5, 0.5, 1.0]])
    cand = np.array([[0.5, 0.5, 1.0], [0.5, 0.5, 2.0], [0.95, 0.05, 1.0]])
    pen = running_log_penalty(good, cand, running, 1.0)
    assert pen[0] < -20  # on top of a running trial
    assert pen[1] == 0.0  # another choice: not penalised by it
    assert -1e-3 < pen[2] <= 0.0  # far away in the unit cube


@pytest.mark.parametrize("bad", [-0.5, "wide", True])
def test_running_penalty_out_of_range_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError):
        make_sampler({"name": "tpe", "running_penalty": bad})
