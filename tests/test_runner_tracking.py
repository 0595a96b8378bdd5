"""``run --track mlflow`` and ``tracking:`` end to end: a real ``hposweep run`` against a real MLflow (SQLite backend),
read back while the sweep runs and after it; ``resume`` continues the same parent run (issue 17 part 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hposweep import Study

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'hposweep[mlflow]')")

TRAIN = """
    import os, sys, time
    n = int(os.environ["HPOSWEEP_TRIAL"])
    for step in range(3):
        print(f"loss={1.0 / (step + 1) + n} acc={0.1 * step} step={step}", flush=True)
        if n == 0 and step == 1:
            while not os.path.exists("go"):
                time.sleep(0.05)
    sys.exit(3 if n == 2 else 0)
"""


def hp(tmp_path: Path, *args: str, uri: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HPOSWEEP_", "MLFLOW_"))}
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="sweeps")
    return subprocess.Popen([sys.executable, "-m", "hposweep", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def runs(uri: str) -> list:
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name("sweeps")
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def test_run_track_mlflow_nests_trial_runs_with_live_per_step_metrics(
    tmp_path: Path, mlflow_sqlite: Callable[[Path], str]
) -> None:
    uri = mlflow_sqlite(tmp_path / "mlflow.db")
    (tmp_path / "space.yaml").write_text("metric: loss\nsampler: random\n"  # the default gp costs ~0.8 s of imports
                                         "parameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    p = hp(tmp_path, "run", "--space", "space.yaml", "--trials", "3", "--no-progress", "--seed", "0", "-c", "st.json",
           "--max-failures", "0", "--track", "mlflow", "--", sys.executable, "train.py", uri=uri)
    client = mlflow.tracking.MlflowClient(uri)
    deadline = time.monotonic() + 60
    while True:  # trial 0 waits after step 1: its child run must already hold steps 0 and 1
        assert p.poll() is None, p.communicate()[1]
        assert time.monotonic() < deadline, "no live child run with two steps"
        kids = [r for r in runs(uri) if r.data.tags.get("hposweep.role") == "trial"]
        if kids and len(client.get_metric_history(kids[0].info.run_id, "loss")) == 2:
            assert kids[0].info.status == "RUNNING"
            assert [m.step for m in client.get_metric_history(kids[0].info.run_id, "acc")] == [0, 1]
            break
        time.sleep(0.2)
    (tmp_path / "go").write_text("")
    _, err = p.communicate(timeout=90)
    assert p.returncode == 0, err
    assert "warning" not in err, err
    study = Study.load(tmp_path / "st.json", readonly=True)
    assert study.settings["tracking"] == ["mlflow"]
    all_runs = runs(uri)
    parents = [r for r in all_runs if r.data.tags.get("hposweep.role") == "sweep"]
    kids = sorted((r for r in all_runs if r.data.tags.get("hposweep.role") == "trial"),
                  key=lambda r: int(r.data.tags["hposweep.trial"]))
    assert len(parents) == 1 and len(kids) == 3
    assert study.meta["mlflow_parent_run"]["run_id"] == parents[0].info.run_id
    for run, trial in zip(kids, study.trials):
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")} == trial.intermediate
        assert len(client.get_metric_history(run.info.run_id, "acc")) == 3
    assert [r.info.status for r in kids] == ["FINISHED", "FINISHED", "FAILED"]

    # resume (a new process) reads the recorded tracking and continues the same parent run
    p = hp(tmp_path, "resume", "st.json", "--trials", "4", "--no-progress", uri=uri)
    _, err = p.communicate(timeout=90)
    assert p.returncode == 0, err
    all_runs = runs(uri)
    assert len([r for r in all_runs if r.data.tags.get("hposweep.role") == "sweep"]) == 1
    kids = [r for r in all_runs if r.data.tags.get("hposweep.role") == "trial"]
    assert len(kids) == 4 and {r.data.tags["mlflow.parentRunId"] for r in kids} == {parents[0].info.run_id}


def test_tracking_in_the_space_file_is_checked_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text("metric: loss\ntracking: {mlflow: {experimnt: x}}\n"
                                         "parameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--", "true"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "space.yaml:2" in r.stderr and "unknown option 'experimnt'" in r.stderr, r.stderr
    assert not (tmp_path / "hposweep-study.json").exists()
