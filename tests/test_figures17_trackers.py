"""``hposweep export mlflow|wandb`` replay every metric's per-step history the study kept, not only the
objective's: read back from a real MLflow (SQLite backend) and from W&B's offline run files."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hposweep.core.space import SearchSpace
from hposweep.study.api import Study

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def study_with_histories(path: Path) -> Study:
    """Three trials: loss reported per step (the objective), acc and lr_now per step (other metrics)."""
    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}}), direction="minimize",
                  sampler="random", seed=0, settings={"metric": "loss"})
    study.save(path)
    for i in range(3):
        t = study.ask()
        for s in range(4):
            study.report(t, s, 1.0 / (s + 1) + i)
            study.report_metrics(t, s, {"acc": 0.1 * s + i, "lr_now": 0.5 ** s})
        if i == 1:
            study.tell(t, state="pruned", info={"pruned_at_step": 3}, user_attrs={"acc": 1.3, "lr_now": 0.125})
        else:
            study.tell(t, 0.25 + i, user_attrs={"acc": 0.3 + i, "lr_now": 0.125})
    return study


def expected(trial_number: int, name: str) -> dict[int, float]:
    if name == "acc":
        return {s: pytest.approx(0.1 * s + trial_number) for s in range(4)}  # type: ignore[misc]
    return {s: 0.5 ** s for s in range(4)}


def test_export_mlflow_logs_every_metrics_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   mlflow_sqlite: Callable[[Path], str]) -> None:
    mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'hposweep[mlflow]')")
    monkeypatch.chdir(tmp_path)  # an SQLite backend keeps artifacts in ./mlruns
    uri = mlflow_sqlite(tmp_path / "mlflow.db")
    study = study_with_histories(tmp_path / "sweep.json")
    r = subprocess.run([sys.executable, "-m", "hposweep", "export", "mlflow", str(tmp_path / "sweep.json"),
                        "--tracking-uri", uri, "--experiment", "hist"], capture_output=True, text=True, env=ENV,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("hist")
    kids = sorted((r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("hposweep.role") == "trial"),
                  key=lambda r: int(r.data.tags["hposweep.trial"]))
    assert len(kids) == 3
    for run, trial in zip(kids, study.trials, strict=True):
        history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")}
        assert history == trial.intermediate
        for name in ("acc", "lr_now"):
            got = {m.step: m.value for m in client.get_metric_history(run.info.run_id, name)}
            assert got == expected(trial.number, name), name
        assert run.data.metrics["acc"] == pytest.approx(0.3 + trial.number)  # the last point


def test_export_wandb_logs_every_metrics_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb", reason="wandb is not installed (pip install 'hposweep[wandb]')")
    from test_integrations_wandb import run_contents

    from hposweep.integrations.wandb import export_wandb

    monkeypatch.delenv("WANDB_MODE", raising=False)  # unset: must stay offline
    monkeypatch.setenv("WANDB_SILENT", "true")
    study_with_histories(tmp_path / "sweep.json")
    loaded = Study.load(tmp_path / "sweep.json", readonly=True)
    assert export_wandb(loaded, dir=str(tmp_path), study_path=str(tmp_path / "sweep.json")) == 3
    files = sorted(glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb")))
    runs = sorted((run_contents(f) for f in files), key=lambda c: c["config"]["hposweep_trial"])
    assert len(runs) == 3
    for contents, trial in zip(runs, loaded.trials, strict=True):
        rows = contents["history"]
        assert [h["_step"] for h in rows] == [0, 1, 2, 3]
        assert {h["_step"]: h["loss"] for h in rows} == trial.intermediate
        for name in ("acc", "lr_now"):
            assert {h["_step"]: h[name] for h in rows} == expected(trial.number, name), name


def test_run_track_wandb_logs_every_metric_per_step_live(tmp_path: Path) -> None:
    pytest.importorskip("wandb", reason="wandb is not installed (pip install 'hposweep[wandb]')")
    from test_integrations_wandb import run_contents

    (tmp_path / "space.yaml").write_text("metric: loss\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    (tmp_path / "train.py").write_text(
        "import os\nn = int(os.environ['HPOSWEEP_TRIAL'])\n"
        "for s in range(3):\n    print(f'step={s} loss={1.0 / (s + 1) + n} acc={0.1 * s + n}', flush=True)\n")
    env = {k: v for k, v in ENV.items() if not k.startswith(("HPOSWEEP_", "WANDB_"))}
    env["WANDB_SILENT"] = "true"
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "2",
                        "--no-progress", "--seed", "0", "-c", "st.json", "--track", "wandb", "--",
                        sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr, r.stderr
    files = sorted(glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb")))
    runs = sorted((run_contents(f) for f in files), key=lambda c: c["config"]["hposweep_trial"])
    assert [c["config"]["hposweep_trial"] for c in runs] == [0, 1]
    for n, contents in enumerate(runs):
        rows = [h for h in contents["history"] if "acc" in h]
        assert [h["_step"] for h in rows] == [0, 1, 2]
        assert [h["acc"] for h in rows] == pytest.approx([0.1 * s + n for s in range(3)])
        assert [h["loss"] for h in rows] == pytest.approx([1.0 / (s + 1) + n for s in range(3)])
