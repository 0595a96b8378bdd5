"""MLflow against a real MLflow: an SQLite backend, and a `mlflow server` on 127.0.0.1 (slow)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from hposweep.core.space import SearchSpace
from hposweep.integrations.tracking import SafeTracker
from hposweep.study.api import Study

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'hposweep[mlflow]')")
from hposweep.integrations.mlflow import MlflowTracker, export_mlflow  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def make_study(tmp_path, n=4) -> Study:
    study = Study(SearchSpace.from_dict({"lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
                                         "opt": {"type": "categorical", "choices": ["adam", "sgd"]}}),
                  direction="minimize", sampler="random", seed=0, settings={"metric": "loss"})
    study.save(tmp_path / "sweep.json")
    return study


def drive(study: Study, tracker, tmp_path, n=4) -> None:
    """What the runner does, hook by hook."""
    tracker.on_sweep_start(study)
    for i in range(n):
        t = study.ask()
        log = tmp_path / f"trial-{t.number:04d}.log"
        log.write_text(f"trial {t.number}\n")
        study.update_info(t, argv=["python", "train.py", f"--lr={t.params['lr']}"], log=str(log))
        tracker.on_trial_start(t)
        for step in range(3):
            study.report(t, step, 1.0 / (step + 1) + i)
            tracker.on_report(t, step, {"loss": 1.0 / (step + 1) + i, "acc": 0.1 * step})
        if i == 1:
            study.tell(t, state="pruned", info={"pruned_at_step": 2}, user_attrs={"acc": 0.2})
        elif i == 2:
            study.tell(t, state="failed", info={"exit_code": 1, "reason": "exit code 1"})
        else:
            study.tell(t, 0.5 + i, user_attrs={"acc": 0.2})
        tracker.on_trial_end(t, str(log))
    tracker.on_sweep_end(study)


def runs_of(uri, experiment):
    client = mlflow.tracking.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def check_runs(client, runs, study, tmp_path):
    parents = [r for r in runs if r.data.tags.get("hposweep.role") == "sweep"]
    children = sorted((r for r in runs if r.data.tags.get("hposweep.role") == "trial"),
                      key=lambda r: int(r.data.tags["hposweep.trial"]))
    assert len(parents) == 1 and len(children) == len(study.trials)
    parent = parents[0]
    assert parent.data.tags["hposweep.study"] == os.path.abspath(tmp_path / "sweep.json")
    for run, trial in zip(children, study.trials):
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id  # the link the UI nests by
        assert run.data.tags["hposweep.study_id"] == study.study_id
        assert run.data.tags["hposweep.trial"] == str(trial.number)
        assert run.data.tags["hposweep.state"] == trial.state.value
        assert run.data.params == {k: str(v) for k, v in trial.params.items()}
        assert run.data.tags["hposweep.command"].startswith("python train.py --lr=")
        history = client.get_metric_history(run.info.run_id, "loss")
        assert {m.step: m.value for m in history} == trial.intermediate
        assert run.info.status == {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}[trial.state.value]
        assert abs(run.data.metrics["hposweep.duration_s"] - trial.duration) < 1e-3
        if trial.state.value == "pruned":
            assert run.data.metrics["hposweep.pruned_step"] == 2.0 and run.data.tags["hposweep.pruned_step"] == "2"
        if trial.state.value == "complete":
            assert run.data.metrics["objective.loss"] == trial.value
        artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
        assert artifacts == [f"trial-{trial.number:04d}.log"]
    return parent


def test_live_tracker_nests_trials_and_resume_continues_the_parent(tmp_path, monkeypatch, mlflow_sqlite):
    monkeypatch.chdir(tmp_path)  # an SQLite backend keeps artifacts in ./mlruns
    uri = mlflow_sqlite(tmp_path / "mlflow.db")
    study = make_study(tmp_path)
    drive(study, MlflowTracker(experiment="sweeps", tracking_uri=uri), tmp_path, n=3)
    parent_id = study.meta["mlflow_parent_run"]["run_id"]
    # a resumed sweep (a new process, a new tracker) adds to the same parent
    again = Study.load(tmp_path / "sweep.json")
    assert again.meta["mlflow_parent_run"]["run_id"] == parent_id
    tracker = MlflowTracker(experiment="sweeps", tracking_uri=uri)
    tracker.on_sweep_start(again)
    t = again.ask()
    tracker.on_trial_start(t)
    again.tell(t, 0.1)
    tracker.on_trial_end(t, None)
    tracker.on_sweep_end(again)
    client, runs = runs_of(uri, "sweeps")
    parents = [r for r in runs if r.data.tags.get("hposweep.role") == "sweep"]
    assert [p.info.run_id for p in parents] == [parent_id]
    children = [r for r in runs if r.data.tags.get("hposweep.role") == "trial"]
    assert len(children) == 4 and {r.data.tags["mlflow.parentRunId"] for r in children} == {parent_id}
    # export after the fact adds nothing: every trial is there
    r = subprocess.run([sys.executable, "-m", "hposweep", "export", "mlflow", str(tmp_path / "sweep.json"),
                        "--tracking-uri", uri, "--experiment", "sweeps"], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    assert "0 trial run(s) written, 4 already there" in r.stderr
    assert len(runs_of(uri, "sweeps")[1]) == 5


def test_export_is_idempotent_and_honours_environment(tmp_path, monkeypatch, mlflow_sqlite):
    monkeypatch.chdir(tmp_path)  # an SQLite backend keeps artifacts in ./mlruns
    uri = mlflow_sqlite(tmp_path / "mlflow.db")
    study = make_study(tmp_path)
    drive(study, SafeTracker(MlflowTracker(tracking_uri="http://127.0.0.1:9")), tmp_path)  # nothing listens
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    loaded = Study.load(tmp_path / "sweep.json", readonly=True)
    assert export_mlflow(loaded, study_path=str(tmp_path / "sweep.json")) == (4, 0)
    assert export_mlflow(loaded, study_path=str(tmp_path / "sweep.json")) == (0, 4)
    client, runs = runs_of(uri, "from-env")
    parent = check_runs(client, runs, loaded, tmp_path)
    assert parent.info.status == "FINISHED" and parent.data.metrics["best_loss"] == 0.5


def test_tracker_failure_is_one_warning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = make_study(tmp_path)
    warnings: list[str] = []
    started = time.monotonic()
    drive(study, SafeTracker(MlflowTracker(tracking_uri="http://127.0.0.1:9"), warnings.append), tmp_path)
    assert len(warnings) == 1 and "mlflow tracking is off" in warnings[0]
    assert len(study.finished_trials) == 4  # every trial ran and was told
    assert time.monotonic() - started < 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path, mlflow_sqlite):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", mlflow_sqlite(tmp_path / "server.db"),
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"), start_new_session=True,
        # no job runner: it serves MLflow's GenAI jobs, which tracking never uses, and is one more process
        # importing all of mlflow while the server starts
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (tmp_path / "server.log").read_text()[-2000:]
                    raise RuntimeError("mlflow server did not start: " + log) from None
                time.sleep(0.1)
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its store is this test's own: nothing to shut down gracefully
        proc.wait(timeout=20)


@pytest.mark.slow
def test_live_tracker_against_an_mlflow_server(tmp_path, mlflow_server):
    study = make_study(tmp_path)
    drive(study, SafeTracker(MlflowTracker(experiment="served", tracking_uri=mlflow_server),
                             lambda m: pytest.fail(m)), tmp_path)
    client, runs = runs_of(mlflow_server, "served")
    check_runs(client, runs, study, tmp_path)
