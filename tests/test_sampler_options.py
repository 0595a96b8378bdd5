"""Sampler and pruner hooks: ``options()``/``spec()`` record what ``__init__`` was given, so that
``make_sampler(s.spec())`` (and ``make_pruner``) rebuild an equal object from a checkpoint."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from hposweep.pruners import PRUNERS, make_pruner
from hposweep.samplers import SAMPLERS, make_sampler
from hposweep.samplers.tpe import TPESampler

SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {
    "random": {},
    "auto": {},
    "grid": {"shuffle": False},
    "tpe": {"n_startup_trials": 5, "multivariate": False, "bandwidth": "scott", "categorical_smoothing": 0.2},
    "nsga2": {"population_size": 10, "crossover": "sbx", "mutation_prob": 0.2},
    "gp": {"acquisition": "lcb", "n_startup_trials": 7, "beta": 2.0},
    "cmaes": {"sigma0": 0.3, "population_size": 6, "restart_strategy": "none"},
}
PRUNER_OPTIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "median": {"n_startup_trials": 2, "n_warmup_steps": 3},
    "percentile": {"percentile": 10.0, "interval_steps": 2},
    "asha": {"min_resource": 2, "reduction_factor": 4},
    "hyperband": {"min_resource": 1, "max_resource": 27},
}


def public_state(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def test_every_registered_class_has_a_case() -> None:
    assert set(SAMPLER_OPTIONS) == set(SAMPLERS)
    assert set(PRUNER_OPTIONS) == set(PRUNERS)


@pytest.mark.parametrize("name", sorted(SAMPLER_OPTIONS))
def test_sampler_spec_rebuilds_an_equal_sampler(name: str) -> None:
    if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        pytest.skip("cmaes not installed")
    opts = SAMPLER_OPTIONS[name]
    s = make_sampler({"name": name, **opts})
    assert s.options() == opts
    assert s.spec() == ({"name": name, **opts} if opts else name)
    rebuilt = make_sampler(json.loads(json.dumps(s.spec())))  # through the checkpoint's JSON
    assert type(rebuilt) is type(s)
    assert public_state(rebuilt) == public_state(s)
    assert public_state(make_sampler(name)) != public_state(s) or not opts  # the options made a difference


@pytest.mark.parametrize("name", sorted(PRUNER_OPTIONS))
def test_pruner_spec_rebuilds_an_equal_pruner(name: str) -> None:
    opts = PRUNER_OPTIONS[name]
    p = make_pruner({"name": name, **opts})
    assert p.options() == opts
    assert p.spec() == ({"name": name, **opts} if opts else name)
    rebuilt = make_pruner(json.loads(json.dumps(p.spec())))
    assert type(rebuilt) is type(p)
    assert public_state(rebuilt) == public_state(p)
    assert public_state(make_pruner(name)) != public_state(p) or not opts


def test_options_keep_only_what_differs_from_the_defaults() -> None:
    assert TPESampler(n_startup_trials=5).spec() == {"name": "tpe", "n_startup_trials": 5}
    assert TPESampler(n_startup_trials=10, gamma=0.1).spec() == "tpe"  # both are the defaults
    assert make_pruner({"name": "median", "n_warmup_steps": "auto"}).spec() == "median"
