"""The one trial-row schema (hposweep.study.rows): columns, order, types, and every output that uses it."""

from __future__ import annotations

import csv
import io
import json
from contextlib import redirect_stdout
from typing import Any

import pytest

from hposweep.cli.inspect import print_best, print_trials
from hposweep.core.space import CategoricalParam, FloatParam, SearchSpace
from hposweep.study.api import Study
from hposweep.study.rows import TAIL_COLUMNS, trial_columns, trial_record, trial_rows
from tests.test_report import rich_study

RECORD_KEYS = ["number", "state", "value", "params", "metrics", "duration", "last_step", "started_at",
               "finished_at", "reason", "feasible", "retried_as"]


def captured(fn: Any, *args: Any) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        fn(*args)
    return buf.getvalue()


def test_trial_rows_flatten_every_trial() -> None:
    study = rich_study(30)
    rows = trial_rows(study)
    cols = trial_columns(study)
    assert len(rows) == 30 and all(list(r) == cols for r in rows)
    assert cols == ["number", "state", "value", "param_lr", "param_optimizer", "param_momentum", "param_layers",
                    "param_dropout", "param_epochs", *TAIL_COLUMNS, "metric_acc"]
    by_state: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_state.setdefault(r["state"], []).append(r)
    assert {"complete", "pruned", "failed"} <= set(by_state)
    assert all(r["value"] is None and r["reason"] == "exit code 1" for r in by_state["failed"])
    assert all(r["value"] is not None and r["last_step"] == 2 for r in by_state["pruned"])
    assert all(r["last_step"] == 5 and r["metric_acc"] == pytest.approx(1 - r["value"]) for r in by_state["complete"])
    for r, t in zip(rows, study.trials, strict=True):
        assert r["param_momentum"] == t.params.get("momentum") and r["param_epochs"] == 10
        assert r["duration"] == round(t.duration, 3)


def clashing_study() -> Study:
    """Parameters named like fixed columns, and a metric named like a parameter (a script printing its config)."""
    space = SearchSpace([FloatParam("value", low=0, high=1), CategoricalParam("state", choices=("a", "b"))])
    return Study(space, directions=["minimize", "maximize"], sampler="random", seed=0,
                 settings={"metrics": [{"name": "loss"}, {"name": "acc"}]})


def test_columns_without_trials_and_with_clashing_names() -> None:
    study = clashing_study()
    assert trial_columns(study) == ["number", "state", "value_0", "value_1", "param_value", "param_state",
                                    "duration", "last_step", "started_at", "finished_at", "reason", "feasible",
                                    "retried_as"]
    assert trial_rows(study) == []
    t = study.ask()
    study.tell(t, [1.0, 2.0], user_attrs={"value": t.params["value"], "state": "x"})
    [row] = trial_rows(study)
    assert list(row)[-2:] == ["metric_value", "metric_state"]
    assert row["state"] == "complete" and row["param_state"] == t.params["state"] and row["metric_state"] == "x"
    assert (row["value_0"], row["value_1"], row["param_value"]) == (1.0, 2.0, t.params["value"])


def test_record_has_every_key_in_order() -> None:
    study = rich_study(12)
    for t in study.trials:
        rec = trial_record(study, t)
        assert list(rec) == RECORD_KEYS
        assert rec["params"] == t.params and rec["metrics"] == t.user_attrs
    multi = clashing_study()
    t = multi.ask()
    multi.tell(t, [1.5, 2.0], user_attrs={"grad_norm": float("inf")})
    rec = trial_record(multi, t)
    assert list(rec) == ["number", "state", "values", *RECORD_KEYS[3:]]
    assert rec["values"] == {"loss": 1.5, "acc": 2.0} and rec["metrics"] == {"grad_norm": "inf"}
    json.dumps(rec, allow_nan=False)  # strict JSON


def test_csv_is_the_schema_and_never_repeats_a_header() -> None:
    study = clashing_study()
    for _ in range(3):
        t = study.ask()
        study.tell(t, [0.5, 0.25], user_attrs={"value": t.params["value"], "state": "x"})
    text = captured(print_trials, study, "csv", None, None, None)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == trial_columns(study)
    assert len(set(table[0])) == len(table[0])
    rows = trial_rows(study)
    for line, row in zip(table[1:], rows, strict=True):
        assert line[table[0].index("param_value")] == repr(row["param_value"])
        assert line[table[0].index("value_1")] == "0.25"
        assert line[table[0].index("reason")] == ""
    # best --format csv (the Pareto front) writes the same columns for its trials
    front = list(csv.reader(io.StringIO(captured(print_best, study, "csv"))))
    assert front[0] == table[0]


def test_json_outputs_share_the_record() -> None:
    study = rich_study(12)
    listed = json.loads(captured(print_trials, study, "json", None, None, None))
    assert listed == [json.loads(json.dumps(trial_record(study, t))) for t in study.trials]
    best = json.loads(captured(print_best, study, "json"))
    assert best == listed[study.best_trial.number]
