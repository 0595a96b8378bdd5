"""W&B in offline mode: one run per trial, grouped by the sweep, read back from the run's .wandb file."""

from __future__ import annotations

import glob
import json
import os
import struct

import pytest

from hposweep.core.space import SearchSpace
from hposweep.study.api import Study

pytest.importorskip("wandb", reason="wandb is not installed (pip install 'hposweep[wandb]')")
from wandb.proto import wandb_internal_pb2  # noqa: E402

from hposweep.integrations.wandb import export_wandb  # noqa: E402


def read_records(path: str) -> list[wandb_internal_pb2.Record]:
    """The records of a .wandb file: LevelDB log blocks of 32 KiB after a 7-byte W&B header."""
    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    block, pos, out, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 1:
            out.append(chunk)
        elif kind in (2, 3):
            pending = (pending if kind == 3 else b"") + chunk
        elif kind == 4:
            out.append(pending + chunk)
    records = []
    for raw in out:
        r = wandb_internal_pb2.Record()
        r.ParseFromString(raw)
        records.append(r)
    return records


def run_contents(path: str) -> dict:
    run, config, history, summary = None, {}, [], {}
    for r in read_records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            run = r.run
            config.update({u.key: json.loads(u.value_json) for u in r.run.config.update})
        elif kind == "config":
            config.update({u.key: json.loads(u.value_json) for u in r.config.update})
        elif kind == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item})
        elif kind == "summary":
            summary.update({(u.key or "/".join(u.nested_key)): json.loads(u.value_json) for u in r.summary.update})
    return {"run": run, "config": config, "history": history, "summary": summary}


def test_export_offline_runs_read_back(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # unset: must stay offline
    monkeypatch.setenv("WANDB_SILENT", "true")
    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1},
                                         "opt": {"type": "categorical", "choices": ["adam", "sgd"]}}),
                  direction="minimize", sampler="random", seed=0, settings={"metric": "loss"})
    for i in range(3):
        t = study.ask()
        for s in range(3):
            study.report(t, s, 1.0 / (s + 1) + i)
        if i == 1:
            study.tell(t, state="pruned", info={"pruned_at_step": 2})
        else:
            study.tell(t, 0.5 + i, user_attrs={"acc": 0.9})
    study.save(tmp_path / "sweep.json")
    loaded = Study.load(tmp_path / "sweep.json", readonly=True)
    assert export_wandb(loaded, dir=str(tmp_path), study_path=str(tmp_path / "sweep.json")) == 3
    files = sorted(glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb")))
    assert len(files) == 3  # offline: nothing but local files
    runs = sorted((run_contents(f) for f in files), key=lambda c: c["config"]["hposweep_trial"])
    for contents, trial in zip(runs, study.trials):
        assert contents["run"].run_group == "sweep" and contents["run"].project == "hposweep"
        assert {k: contents["config"][k] for k in trial.params} == trial.params
        assert contents["config"]["hposweep_study_id"] == study.study_id
        assert {h["_step"]: h["loss"] for h in contents["history"]} == trial.intermediate
        assert contents["summary"]["state"] == trial.state.value
        if trial.state.value == "complete":
            assert contents["summary"]["objective.loss"] == trial.value and contents["summary"]["acc"] == 0.9
        else:
            assert contents["summary"]["pruned_step"] == 2
    assert os.path.isdir(tmp_path / "wandb")
