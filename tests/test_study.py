"""The Study API: ask/tell/report/enqueue, trial states, best trial, and reproducibility."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

import hposweep
from hposweep.core.space import CategoricalParam, Condition, FixedParam, FloatParam, IntParam, SearchSpace
from hposweep.core.trial import TrialState
from hposweep.errors import ConfigError, StudyError
from hposweep.study.api import Study


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the API, not durability (see test_storage.py); fsync can cost ~15 ms here."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace([
        FloatParam("lr", low=1e-4, high=1.0, log=True),
        CategoricalParam("opt", choices=("adam", "sgd")),
        FloatParam("momentum", low=0.0, high=0.9, step=0.1, when=(Condition("opt", ("sgd",)),)),
        IntParam("layers", low=1, high=4),
        FixedParam("epochs", value=20),
    ])


def run(study: Study, n: int) -> list[dict]:
    """ask/report/tell ``n`` trials with a value that is a pure function of the params."""
    out = []
    for _ in range(n):
        t = study.ask()
        study.report(t, step=1, value=t.params["lr"] * 2)
        study.tell(t, t.params["lr"] + t.params["layers"])
        out.append(t.params)
    return out


def test_public_api_from_the_package(space: SearchSpace) -> None:
    study = hposweep.Study(space, direction="minimize", sampler="random", seed=0)
    trial = study.ask()
    assert isinstance(trial, hposweep.Trial)
    assert trial.number == 0 and trial.state is hposweep.TrialState.RUNNING
    study.report(trial, step=3, value=0.41)
    study.tell(trial, 0.25)
    assert study.trials == [trial]
    assert trial.state is TrialState.COMPLETE and trial.value == 0.25 and trial.intermediate == {3: 0.41}
    assert study.best_trial is trial


def test_params_hold_only_active_parameters(space: SearchSpace) -> None:
    study = Study(space, seed=4)
    for _ in range(30):
        t = study.ask()
        assert ("momentum" in t.params) == (t.params["opt"] == "sgd")
        assert t.params["epochs"] == 20
        study.tell(t, 1.0)


@pytest.mark.parametrize("direction, best", [("minimize", 0.1), ("maximize", 0.9)])
def test_best_trial_follows_the_direction(space: SearchSpace, direction: str, best: float) -> None:
    study = Study(space, direction=direction, seed=0)
    assert study.best_trial is None
    for v in (0.5, 0.1, 0.9, float("nan")):
        study.tell(study.ask(), v)
    study.tell(study.ask(), state="failed")
    assert study.best_trial is not None and study.best_trial.value == best


def test_numbers_are_consecutive_and_trials_keep_identity(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    asked = [study.ask() for _ in range(5)]
    assert [t.number for t in asked] == list(range(5))
    for t in reversed(asked):
        told = study.tell(t, float(t.number))
        assert told is t  # the object ask() returned is updated in place
    assert [t.number for t in study.finished_trials] == [4, 3, 2, 1, 0]


def test_tell_twice_is_a_study_error(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    t = study.ask()
    study.tell(t, 1.0)
    with pytest.raises(StudyError, match="already complete"):
        study.tell(t, 2.0)
    with pytest.raises(StudyError):
        study.tell(t, state="failed")
    with pytest.raises(StudyError):
        study.report(t, step=1, value=0.3)
    assert t.value == 1.0 and t.state is TrialState.COMPLETE


def test_tell_unknown_trial_and_bad_values(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    t = study.ask()
    with pytest.raises(StudyError, match="no trial number 7"):
        study.tell(7, 1.0)
    with pytest.raises(StudyError):
        study.tell(t, "high")  # type: ignore[arg-type]
    with pytest.raises(StudyError):
        study.tell(t, [1.0, 2.0])  # two values for one objective
    with pytest.raises(StudyError, match="needs a value"):
        study.tell(t, state="complete")
    assert t.state is TrialState.RUNNING  # none of the rejected calls changed it
    study.tell(t.number, 3.0)  # a trial number works too
    assert t.value == 3.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_value_fails_the_trial(space: SearchSpace, bad: float) -> None:
    study = Study(space, seed=0)
    t = study.tell(study.ask(), bad)
    assert t.state is TrialState.FAILED
    assert t.value is None
    assert "reason" in t.info
    assert study.best_trial is None


def test_tell_without_value_fails(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    t = study.tell(study.ask())
    assert t.state is TrialState.FAILED and t.value is None


def test_pruned_without_value_takes_the_last_intermediate(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    t = study.ask()
    for step, v in [(1, 0.9), (2, 0.7), (3, 0.6)]:
        study.report(t, step=step, value=v)
    study.tell(t, state="pruned")
    assert t.state is TrialState.PRUNED and t.value == 0.6
    # An explicit value wins; a pruned trial with no report has no value.
    t2 = study.ask()
    study.report(t2, step=1, value=0.8)
    assert study.tell(t2, 0.5, state="pruned").value == 0.5
    assert study.tell(study.ask(), state=TrialState.PRUNED).value is None
    assert study.best_trial is None  # pruned trials are not candidates for best


def test_enqueue_is_used_by_the_next_ask(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    study.enqueue({"lr": 0.01})
    study.enqueue({"lr": 0.02, "opt": "sgd", "momentum": 0.3})
    first, second, third = study.ask(), study.ask(), study.ask()
    assert first.params["lr"] == 0.01 and set(first.params) >= {"opt", "layers", "epochs"}
    assert second.params == {"lr": 0.02, "opt": "sgd", "momentum": 0.3, "layers": second.params["layers"],
                             "epochs": 20}
    assert third.params["lr"] not in (0.01, 0.02)
    assert space.contains(first.params) and space.contains(second.params)


def test_enqueue_drops_values_whose_condition_does_not_hold(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    study.enqueue({"opt": "adam", "momentum": 0.5})
    t = study.ask()
    assert t.params["opt"] == "adam" and "momentum" not in t.params


@pytest.mark.parametrize("params, match", [({"lr": 5.0}, "outside"), ({"nope": 1}, "not in the space"),
                                           ({"opt": "rmsprop"}, "outside"), ({"layers": 2.5}, "outside")])
def test_enqueue_rejects_values_outside_the_space(space: SearchSpace, params: dict, match: str) -> None:
    study = Study(space, seed=0)
    with pytest.raises(ConfigError, match=match):
        study.enqueue(params)
    assert study.queue == []


@pytest.mark.parametrize("kwargs", [{"direction": "up"}, {"seed": True}, {"seed": "1"}, {"sampler": "nope"},
                                    {"direction": "minimize", "directions": ["minimize"]}, {"directions": []}])
def test_bad_study_settings_are_config_errors(space: SearchSpace, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        Study(space, **kwargs)


def test_multi_objective(space: SearchSpace, tmp_path: Path) -> None:
    study = Study(space, directions=["minimize", "maximize"], seed=0)
    study.save(tmp_path / "mo.json")
    t = study.ask()
    study.tell(t, [1.0, 2.0])
    with pytest.raises(StudyError, match="2 value"):
        study.tell(study.ask(), 1.0)
    study.tell(study.trials[1], [float("nan"), 1.0])
    with pytest.raises(StudyError):
        _ = study.best_trial
    loaded = Study.load(tmp_path / "mo.json")
    assert loaded.directions == ("minimize", "maximize")
    assert loaded.trials[0].values == [1.0, 2.0] and loaded.trials[0].value == 1.0
    assert loaded.trials[1].state is TrialState.FAILED
    assert loaded.to_json() == study.to_json()


# --- reproducibility -------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["random", "grid", "tpe"])
def test_resumed_study_proposes_what_an_uninterrupted_one_would(
    sampler: str, tmp_path: Path
) -> None:
    space = SearchSpace([
        CategoricalParam("opt", choices=("adam", "sgd", "rmsprop")),
        IntParam("layers", low=1, high=8),
        FloatParam("momentum", low=0.0, high=0.9, step=0.1, when=(Condition("opt", ("sgd",)),)),
        FloatParam("lr", low=1e-4, high=1.0, log=True) if sampler != "grid" else FixedParam("lr", value=0.1),
    ])
    uninterrupted = run(Study(space, sampler=sampler, seed=11), 30)

    path = tmp_path / "s.json"
    first = Study(space, sampler=sampler, seed=11)
    part = run(first, 7)
    first.save(path)
    part += run(first, 5)  # more events in the journal, not in the snapshot
    del first
    for _ in range(3):  # several resumes, each from a fresh load of the files
        resumed = Study.load(path)
        part += run(resumed, 6)
        resumed.close()
    assert part == uninterrupted
    # The file holds exactly what the last in-memory study held (not merely what another load reads).
    assert Study.load(path, recover=False).to_json()["trials"] == resumed.to_json()["trials"]


def test_seed_decides_the_params() -> None:
    space = SearchSpace([FloatParam("x", low=0.0, high=1.0), IntParam("n", low=0, high=1000)])
    a, b, c = (run_xy(Study(space, seed=s)) for s in (1, 1, 2))
    assert a == b and a != c


def run_xy(study: Study) -> list[dict]:
    out = []
    for _ in range(5):
        t = study.ask()
        study.tell(t, t.params["x"])
        out.append(t.params)
    return out


def test_random_params_of_trial_k_depend_only_on_seed_and_k(space: SearchSpace) -> None:
    """Asking several trials before telling any (parallel workers) does not change what each gets."""
    one_by_one = run(Study(space, seed=5), 6)
    batch = Study(space, seed=5)
    asked = [batch.ask() for _ in range(6)]
    for t in reversed(asked):
        batch.tell(t, 0.0)
    assert [t.params for t in asked] == one_by_one


def test_no_nan_leaks_into_json(space: SearchSpace) -> None:
    study = Study(space, seed=0)
    t = study.ask()
    study.report(t, step=1, value=float("nan"))
    study.tell(t, state="pruned")
    assert t.state is TrialState.PRUNED and math.isnan(t.value)  # type: ignore[arg-type]
    assert study.to_json()["trials"][0]["values"] == ["nan"]


def test_numpy_values_are_accepted(space: SearchSpace) -> None:
    """Metrics often come out of numpy as float32/int64 scalars or 0-d arrays, which are not iterable."""
    import numpy as np

    study = Study(space, seed=0)
    for v in (np.float32(0.5), np.int64(3), np.array(0.25), np.array([0.75])):
        t = study.tell(study.ask(), v)
        assert t.state is TrialState.COMPLETE and t.values == [float(np.asarray(v).reshape(-1)[0])]
    mo = Study(space, directions=["minimize", "maximize"], seed=0)
    assert mo.tell(mo.ask(), np.array([1.0, 2.0], dtype=np.float32)).values == [1.0, 2.0]
