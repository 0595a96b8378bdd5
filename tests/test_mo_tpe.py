"""Multi-objective TPE (MOTPE): good-group weights, options, and single-objective TPE left as it was."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from hposweep import SearchSpace, Study
from hposweep.errors import ConfigError
from hposweep.samplers import make_sampler
from hposweep.samplers.tpe_model import hv_weights

MIN2 = ("minimize", "minimize")


def test_hv_weights_follow_each_good_trials_exclusive_hypervolume() -> None:
    # (0, 3) and (3, 0) hold the ends of the front, (1, 1) the middle; (2, 2) is dominated by (1, 1)
    obj = np.array([[0.0, 3.0], [1.0, 1.0], [3.0, 0.0], [2.0, 2.0]])
    w = hv_weights(obj, MIN2)
    assert w[3] == pytest.approx(0.1)  # dominated inside the group: the floor
    assert w.max() == pytest.approx(1.0) and np.all(w[:3] > 0.1)
    # the same front with the second objective maximized (values negated) weighs the same
    flipped = obj * np.array([1.0, -1.0])
    assert np.allclose(hv_weights(flipped, ("minimize", "maximize")), w)


def test_hv_weights_edge_cases_are_uniform() -> None:
    assert hv_weights(np.empty((0, 2)), MIN2).tolist() == []
    assert hv_weights(np.array([[1.0, 2.0]]), MIN2).tolist() == [1.0]
    assert hv_weights(np.array([[1.0, 2.0], [1.0, 2.0]]), MIN2).tolist() == [1.0, 1.0]  # duplicates: no one contributes


def test_hv_weights_three_objectives() -> None:
    obj = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    w = hv_weights(obj, ("minimize",) * 3)
    assert w[3] == pytest.approx(0.1) and np.allclose(w[:3], 1.0)


def test_mo_weighting_option_is_checked() -> None:
    assert make_sampler({"name": "tpe", "mo_weighting": "hv"}).options() == {"mo_weighting": "hv"}
    with pytest.raises(ConfigError):
        make_sampler({"name": "tpe", "mo_weighting": "ei"})


def _zdt1(p: dict[str, float], n: int) -> list[float]:
    g = 1.0 + 9.0 * sum(p[f"x{i}"] for i in range(1, n)) / (n - 1)
    return [p["x0"], g * (1.0 - math.sqrt(p["x0"] / g))]


@pytest.mark.parametrize("spec", ["tpe", {"name": "tpe", "multivariate": True}, {"name": "tpe", "mo_weighting": "hv"}])
def test_motpe_weightings_run_and_are_deterministic(spec: object) -> None:
    space = SearchSpace.from_dict({f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(4)})

    def run() -> list[list[float]]:
        study = Study(space, directions=list(MIN2), sampler=spec, seed=3)
        out = []
        for _ in range(30):
            t = study.ask()
            v = _zdt1(dict(t.params), 4)
            study.tell(t, v)
            out.append(v)
        return out

    a = run()
    assert a == run()
    assert all(0.0 <= v[0] <= 1.0 for v in a)


def test_single_objective_tpe_proposals_are_unchanged() -> None:
    """Seeded single-objective proposals pinned from before the multi-objective changes (issue 18)."""
    space = SearchSpace.from_dict({
        "x": {"type": "float", "low": -5.0, "high": 5.0},
        "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
        "n": {"type": "int", "low": 1, "high": 9},
        "c": {"type": "categorical", "choices": ["a", "b", "c"]},
    })
    study = Study(space, directions=["minimize"], sampler="tpe", seed=7)
    out = []
    for _ in range(40):
        t = study.ask()
        p = t.params
        v = (p["x"] - 1) ** 2 + abs(math.log10(p["lr"]) + 2) + abs(p["n"] - 4) + {"a": 1, "b": 0, "c": 2}[p["c"]]
        study.tell(t, v)
        out.append([round(p["x"], 9), round(p["lr"], 9), p["n"], p["c"]])
    assert out[-1] == [1.22590692, 0.01762324, 4, "a"]
    assert hashlib.sha256(json.dumps(out).encode()).hexdigest()[:16] == SO_DIGEST


SO_DIGEST = "f683826d510ff0b8"


def test_default_models_parameters_jointly_with_one_objective_and_separately_with_several() -> None:
    from hposweep.samplers.tpe import TPESampler

    s = TPESampler()
    assert s.multivariate is None and s.joint_kernels(1) and not s.joint_kernels(2)
    assert TPESampler(multivariate=True).joint_kernels(3) and not TPESampler(multivariate=False).joint_kernels(1)
    assert "univariate with several objectives" in s.describe()
    space = SearchSpace.from_dict({f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(3)})
    for directions, n_groups in ((["minimize"], 1), (list(MIN2), 3)):
        study = Study(space, directions=directions, sampler="tpe", seed=0)
        for _ in range(12):
            t = study.ask()
            study.tell(t, _zdt1(dict(t.params), 3)[: len(directions)])
        sampler = study.sampler
        assert isinstance(sampler, TPESampler) and len(sampler._groups) == n_groups
