"""Warm start: priors matched by name, dropped values, objective checks, checkpoint, samplers."""

from __future__ import annotations

import pytest

from hposweep.core.space import SearchSpace
from hposweep.errors import ConfigError
from hposweep.study.api import Study


def _old(tmp_path: object, n: int = 20, high: float = 1.0) -> str:
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": high}})
    s = Study(space, sampler="random", seed=0)
    path = f"{tmp_path}/old.json"
    s.save(path)
    for _ in range(n):
        t = s.ask()
        s.tell(t, (t.params["x"] - 0.3) ** 2)
    s.close()
    return path


@pytest.mark.parametrize("sampler", ["tpe", "gp", "nsga2", "random"])
def test_priors_are_observations_not_trials(tmp_path: object, sampler: str) -> None:
    old = _old(tmp_path)
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1},
                                   "y": {"type": "int", "low": 0, "high": 3}})
    s = Study(space, sampler=sampler, seed=1, warm_start=[old])
    assert len(s.prior_trials) == 20 and all(t.number < 0 for t in s.prior_trials)
    assert all("y" not in t.params for t in s.prior_trials)
    for _ in range(3):
        t = s.ask()
        s.tell(t, 1.0)
    assert len(s.trials) == 3
    s.save(f"{tmp_path}/new.json")
    s.close()
    assert len(Study.load(f"{tmp_path}/new.json", readonly=True).prior_trials) == 20


def test_out_of_range_drops_trial_with_note(tmp_path: object) -> None:
    old = _old(tmp_path, high=2.0)
    s = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), seed=0, warm_start=[old])
    dropped = 20 - len(s.prior_trials)
    assert dropped > 0
    assert any(f"dropped {dropped} trial(s)" in n and "outside" in n for n in s.warm_start_notes)


def test_direction_mismatch_is_an_error_unless_mapped(tmp_path: object) -> None:
    old = _old(tmp_path)
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})
    with pytest.raises(ConfigError, match="minimizes"):
        Study(space, direction="maximize", warm_start=[old])
    s = Study(space, direction="maximize", warm_start=[old], warm_start_metric=["value"])
    assert all(t.values[0] <= 0 for t in s.prior_trials)  # negated: better stays better


def test_tpe_warm_start_skips_startup(tmp_path: object) -> None:
    old = _old(tmp_path, n=40)
    s = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), sampler="tpe", seed=3,
              warm_start=[old])
    xs = [s.ask().params["x"] for _ in range(4)]
    assert sum(abs(x - 0.3) < 0.2 for x in xs) >= 3
