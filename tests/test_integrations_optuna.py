"""Optuna interop against a real Optuna: the export opens in optuna.load_study and its visualizations with
every field as hposweep had it; Optuna's own studies (journal and SQLite) import; hposweep -> optuna ->
hposweep gives back the same study."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hposweep.core.space import SearchSpace
from hposweep.study.api import Study

optuna = pytest.importorskip("optuna", reason="optuna is not installed (pip install optuna)")
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402
from optuna.trial import TrialState as OTS  # noqa: E402

from hposweep.integrations.optuna_import import import_optuna, read_optuna_trials  # noqa: E402
from hposweep.integrations.optuna_journal import export_optuna  # noqa: E402

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "drop": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "layers": {"type": "int", "low": 1, "high": 8},
    "width": {"type": "int", "low": 16, "high": 256, "log": True},
    "bs": {"type": "int", "low": 16, "high": 128, "step": 16},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
    "mom": {"type": "float", "low": 0.0, "high": 0.99, "when": {"opt": "sgd"}},
    "shape": {"type": "categorical", "choices": [[1, 2], True, 1, None]},
    "epochs": 20,
}
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def storage(path: str):
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def make_study(tmp_path, directions=("minimize",)) -> Study:
    study = Study(SearchSpace.from_dict(SPACE), directions=list(directions), sampler="random", seed=3)
    for i in range(10):
        t = study.ask()
        for s in range(3):
            study.report(t, s, 1.0 / (s + 1) + i)
        vals = [0.5 + i, 10.0 - i][: len(directions)]
        if i % 5 == 0:
            study.tell(t, vals, user_attrs={"acc": 0.9})
        elif i % 5 == 1:
            study.tell(t, state="pruned") if len(directions) == 1 else study.tell(t, vals)
        elif i % 5 == 2:
            study.tell(t, state="failed")
        elif i % 5 == 3:
            study.recover_running([t.number])  # interrupted, and queued again
        # i % 5 == 4: left running
    study.update_info(0, argv=["python", "train.py", "--lr=0.1"], log="logs/trial-0000.log")
    study.save(tmp_path / "sweep.json")
    return study


def test_export_loads_in_optuna_exactly(tmp_path):
    study = make_study(tmp_path)
    out = str(tmp_path / "study.log")
    export_optuna(study, out)
    o = optuna.load_study(study_name="sweep", storage=storage(out))
    assert [d.name for d in o.directions] == ["MINIMIZE"]
    state_of = {"complete": OTS.COMPLETE, "pruned": OTS.PRUNED, "failed": OTS.FAIL, "interrupted": OTS.FAIL,
                "running": OTS.RUNNING}
    assert len(o.trials) == len(study.trials)
    for ht, ot in zip(study.trials, o.trials):
        assert ot.number == ht.number
        assert ot.state == state_of[ht.state.value]
        expected_params = {k: (json.dumps(v, sort_keys=True) if isinstance(v, list) else v)
                           for k, v in ht.params.items()}
        assert ot.params == expected_params
        assert all(type(ot.params[k]) is type(v) for k, v in expected_params.items())  # True stays True, 1 stays 1
        assert ot.intermediate_values == ht.intermediate
        if ht.state.value in ("complete", "pruned"):
            assert ot.values == ht.values
        else:
            assert ot.values is None
        assert ot.datetime_start is not None and abs(ot.datetime_start.timestamp() - ht.started_at) < 1e-5
        if ht.state.value == "running":
            assert ot.datetime_complete is None
        else:
            assert abs(ot.datetime_complete.timestamp() - ht.finished_at) < 1e-5
    assert o.trials[0].user_attrs == {"acc": 0.9, "command": "python train.py --lr=0.1",
                                      "log_path": os.path.abspath("logs/trial-0000.log")}
    d = o.trials[0].distributions
    assert d["lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert d["drop"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert d["layers"] == IntDistribution(1, 8)
    assert d["width"] == IntDistribution(16, 256, log=True)
    assert d["bs"] == IntDistribution(16, 128, step=16)
    assert d["opt"] == CategoricalDistribution(["adam", "sgd"])
    assert d["shape"] == CategoricalDistribution(["[1, 2]", True, 1, None])
    assert d["epochs"] == CategoricalDistribution([20])
    assert ("mom" in o.trials[0].params) == (study.trials[0].params["opt"] == "sgd")
    assert o.best_trial.number == study.best_trial.number
    assert o.metric_names == ["value"]
    # what optuna-dashboard and optuna.visualization draw from
    from optuna.visualization import plot_intermediate_values, plot_optimization_history, plot_parallel_coordinate

    plot_optimization_history(o)
    plot_intermediate_values(o)
    plot_parallel_coordinate(o)


def test_multi_objective_export(tmp_path):
    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}),
                  directions=["minimize", "maximize"], seed=1, sampler="random",
                  settings={"metrics": [{"name": "loss", "direction": "minimize"},
                                        {"name": "acc", "direction": "maximize"}]})
    for i in range(4):
        study.tell(study.ask(), [float(i), float(i * i)])
    out = str(tmp_path / "mo.log")
    export_optuna(study, out, study_name="mo")
    o = optuna.load_study(study_name="mo", storage=storage(out))
    assert [d.name for d in o.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert [t.values for t in o.trials] == [t.values for t in study.trials]
    assert o.metric_names == ["loss", "acc"]
    assert {t.number for t in o.best_trials} == {t.number for t in study.best_trials}


def test_round_trip_hposweep_optuna_hposweep(tmp_path):
    study = make_study(tmp_path)
    out = str(tmp_path / "study.log")
    export_optuna(study, out)
    import_optuna(out, str(tmp_path / "back.json"))
    back = Study.load(tmp_path / "back.json", readonly=True)
    assert back.space == study.space
    assert back.directions == study.directions
    assert (back.sampler_spec, back.seed) == (study.sampler_spec, study.seed)
    assert len(back.trials) == len(study.trials)
    for a, b in zip(study.trials, back.trials):
        ja, jb = a.to_json(), b.to_json()
        for key in ("started_at", "finished_at"):
            x, y = ja.pop(key), jb.pop(key)
            assert (x is None and y is None) or abs(x - y) < 1e-5
        assert ja == jb


def optuna_objective(trial):
    kind = trial.suggest_categorical("kind", ["a", "b"])
    x = trial.suggest_float("x", -3, 3)
    if kind == "b":
        trial.suggest_int("n", 1, 9, step=2)
    for step in range(3):
        trial.report(x * x + step, step)
        if x > 2.5 and step == 1:
            raise optuna.TrialPruned()
    if x < -2.8:
        raise ValueError("fails on purpose")
    trial.set_user_attr("note", "text")
    trial.set_user_attr("aux", 1.5)
    return x * x


def test_import_sqlite_study_written_by_optuna(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    o = optuna.create_study(study_name="native", storage=url, direction="minimize",
                            sampler=optuna.samplers.RandomSampler(seed=0))
    o.optimize(optuna_objective, n_trials=25, catch=(ValueError,))
    o.enqueue_trial({"kind": "a", "x": 0.25})
    space, trials = read_optuna_trials(url)
    assert set(space.params) == {"kind", "x", "n"}
    assert (space["x"].low, space["x"].high) == (-3.0, 3.0)
    assert (space["n"].low, space["n"].high, space["n"].step) == (1, 9, 2)
    states = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
    for ot, ht in zip(o.trials, trials):
        assert ht.number == ot.number and ht.params == ot.params
        assert ht.state.value == states[ot.state.name]
        assert ht.intermediate == ot.intermediate_values
        assert ht.values == (ot.values if ot.state.name in ("COMPLETE", "PRUNED") else None)
    complete = [t for t in trials if t.state.value == "complete"]
    assert complete and complete[0].user_attrs == {"aux": 1.5}
    assert complete[0].info["optuna"]["user_attrs"] == {"note": "text"}
    # the CLI, into a study that resumes
    r = subprocess.run([sys.executable, "-m", "hposweep", "import", "optuna", url, "-o", str(tmp_path / "n.json")],
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    got = Study.load(tmp_path / "n.json")
    assert len(got.trials) == 25 and got.queue == [{"params": {"kind": "a", "x": 0.25}}]
    assert got.best_trial.params == o.best_trial.params and got.best_trial.value == o.best_value
    nxt = got.ask()
    # Optuna's define-by-run "n" (only when kind == b) is a plain parameter here: the sampler fills it in
    assert nxt.number == 25 and {k: nxt.params[k] for k in ("kind", "x")} == {"kind": "a", "x": 0.25}


def test_import_journal_written_by_optuna(tmp_path):
    path = str(tmp_path / "j.log")
    o = optuna.create_study(study_name="j", storage=storage(path), directions=["minimize", "maximize"])
    o.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_int("k", 1, 100, log=True)), n_trials=5)
    space, trials = read_optuna_trials(path)
    assert space["k"].log and space["k"].low == 1 and space["k"].high == 100
    assert [t.values for t in trials] == [t.values for t in o.trials]


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "hposweep", *args], capture_output=True, text=True, env=ENV, cwd=cwd)


def test_cli_errors_are_exit_2_without_traceback(tmp_path):
    make_study(tmp_path)
    (tmp_path / "garbage.log").write_text('{"op_code": 0}\nnot json\n{"a": 1}\n')
    (tmp_path / "empty.log").write_text("")
    o = optuna.create_study(study_name="a", storage=f"sqlite:///{tmp_path / 'two.db'}")
    optuna.create_study(study_name="b", storage=f"sqlite:///{tmp_path / 'two.db'}")
    del o
    cases = [
        (("import", "optuna", "missing.log"), "missing.log: no such file"),
        (("import", "optuna", "garbage.log"), "garbage.log: not an Optuna journal file"),
        (("import", "optuna", "empty.log"), "empty.log: no Optuna study found"),
        (("import", "optuna", "two.db"), "holds 2 studies: a, b"),
        (("import", "optuna", "two.db", "--study-name", "c"), "has no study named 'c'"),
        (("import", "optuna", "sqlite:///nope.db"), "no such SQLite file"),
        (("export", "optuna", "garbage.log"), "garbage.log"),
    ]
    for args, message in cases:
        r = run_cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert run_cli("export", "optuna", "sweep.json", "-o", "s.log", cwd=tmp_path).returncode == 0
    r = run_cli("export", "optuna", "sweep.json", "-o", "s.log", cwd=tmp_path)
    assert r.returncode == 2 and "s.log already exists" in r.stderr
    assert run_cli("export", "optuna", "sweep.json", "-o", "s.log", "--overwrite", cwd=tmp_path).returncode == 0


def test_missing_optuna_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    from hposweep.errors import ConfigError
    from hposweep.integrations.optuna_import import read_optuna_study

    with pytest.raises(ConfigError) as info:
        read_optuna_study(str(tmp_path / "x.log"))
    assert info.value.exit_code == 2 and "pip install optuna" in str(info.value)
