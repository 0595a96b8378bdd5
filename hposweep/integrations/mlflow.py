"""MLflow: a parent run per sweep and a nested child run per trial, live or after the fact.

Runs are made with ``MlflowClient`` and explicit run ids, never with ``mlflow.start_run``'s global
"active run": a sweep has several trials running at once, and the active-run stack is how Optuna's
MLflow callback ends up attaching children to the wrong parent (optuna issue 5148). A child is a child
because its ``mlflow.parentRunId`` tag holds the parent's id, which is exactly what ``nested=True``
writes, so the MLflow UI nests it.

Every run carries ``hposweep.study_id`` and ``hposweep.role`` (``sweep`` or ``trial``), a trial's run
``hposweep.trial`` too: that is how a resumed sweep, a second worker, and ``hposweep export mlflow`` find
the runs that exist and add only what is missing (an export run twice creates nothing the second time).
The parent's id is also kept in the study (``meta.mlflow_parent_run``), so every worker of a shared
study continues the same parent.

``export`` replays every metric's per-step history the study kept (checkpoint format 3), not only the
objective's, as the live tracker logged them while the trial ran.

``MLFLOW_TRACKING_URI`` and ``MLFLOW_EXPERIMENT_NAME`` work as MLflow users expect: the tracker's own
options (YAML ``{mlflow: {tracking_uri: .., experiment: ..}}``, ``--tracking-uri``) win, then those
variables, then MLflow's defaults.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from hposweep.core.objectives import metric_names
from hposweep.core.trial import Trial, TrialState
from hposweep.integrations.extras import require
from hposweep.integrations.optuna_journal import command_text
from hposweep.integrations.tracking import Tracker, history_by_step

#: MLflow's run statuses for hposweep's trial states (a pruned trial ended as planned: FINISHED)
RUN_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "FINISHED",
    TrialState.FAILED: "FAILED",
    TrialState.INTERRUPTED: "KILLED",
}
META_KEY = "mlflow_parent_run"
_PARAM_LIMIT = 6000  # MLflow's longest param value
_TAG_LIMIT = 5000
_BAD_KEY = re.compile(r"[^\w\-. /]")


def _mlflow() -> Any:
    return require("mlflow", install='"hposweep[mlflow]"', feature="MLflow tracking")


def metric_key(name: str) -> str:
    """A metric or param name MLflow accepts (letters, digits, ``_ - . /`` and spaces)."""
    return _BAD_KEY.sub("_", name)[:250] or "_"


def _ms(t: float | None) -> int | None:
    return int(t * 1000) if t is not None else None


@contextmanager
def _short_retries() -> Iterator[None]:
    """MLflow's client retries a dead server for minutes by default; a sweep waits 20 s at most.

    Only while the tracker talks to MLflow, and only where the user set nothing themselves.
    """
    defaults = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    added = [k for k in defaults if k not in os.environ]
    for k in added:
        os.environ[k] = defaults[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


class MlflowTracker(Tracker):
    """The live tracker (``run --track mlflow``) and the engine of ``export mlflow``."""

    name = "mlflow"

    def __init__(self, experiment: str | None = None, tracking_uri: str | None = None,
                 run_name: str | None = None) -> None:
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or None
        self.tracking_uri = tracking_uri or None  # None: MLflow reads MLFLOW_TRACKING_URI, then its default
        self.run_name = run_name
        self.client: Any = None
        self.experiment_id: str | None = None
        self.parent_id: str | None = None
        self.study: Any = None
        self.names: list[str] = []
        self.runs: dict[int, str] = {}
        self._logged: dict[int, set[str]] = {}
        #: the study file, for the tags that link back to it (a read-only load has no path of its own)
        self.study_path: str | None = None

    # --- setup -------------------------------------------------------------------------------------
    def _connect(self) -> None:
        if self.client is not None:
            return
        mlflow = _mlflow()
        with _short_retries():
            self.client = mlflow.tracking.MlflowClient(tracking_uri=self.tracking_uri)
            if self.experiment:
                exp = self.client.get_experiment_by_name(self.experiment)
                self.experiment_id = exp.experiment_id if exp is not None else \
                    self.client.create_experiment(self.experiment)
            else:
                self.experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"  # MLflow's "Default"

    def _search(self, filter_string: str) -> list[Any]:
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string=filter_string,
                                           max_results=1000, page_token=token)
            runs.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return runs

    def on_sweep_start(self, study: Any) -> None:
        """Continue the study's parent run (kept in the study, or found by its tags), else start one."""
        self.study = study
        if getattr(study, "path", None):
            self.study_path = os.path.abspath(study.path)
        self.names = metric_names(study.settings, len(study.directions))
        self._connect()
        with _short_retries():
            if getattr(study, "path", None):
                with study.batch():  # under the study's lock: workers starting together make one parent
                    self.parent_id = self._find_parent(study)
                    if self.parent_id is None:
                        self.parent_id = self._create_parent(study)
                    if study.meta.get(META_KEY, {}).get("run_id") != self.parent_id:
                        study.update_meta(**{META_KEY: {"run_id": self.parent_id,
                                                        "experiment_id": self.experiment_id,
                                                        "tracking_uri": self.client.tracking_uri}})
            else:
                self.parent_id = self._find_parent(study) or self._create_parent(study)
            run = self.client.get_run(self.parent_id)
            if run.info.status != "RUNNING":
                self.client.update_run(self.parent_id, status="RUNNING")
            for r in self._search(self._trial_filter(study)):
                number = r.data.tags.get("hposweep.trial")
                if number is not None and number.isdigit():
                    self.runs.setdefault(int(number), r.info.run_id)

    def _trial_filter(self, study: Any) -> str:
        return f"tags.`hposweep.study_id` = '{study.study_id}' and tags.`hposweep.role` = 'trial'"

    def _find_parent(self, study: Any) -> str | None:
        kept = study.meta.get(META_KEY)
        if isinstance(kept, Mapping) and isinstance(kept.get("run_id"), str):
            try:
                run = self.client.get_run(kept["run_id"])
                if run.info.lifecycle_stage == "active":
                    return str(run.info.run_id)
            except Exception:  # noqa: BLE001 - another server, or the run was deleted: find or make one here
                pass
        found = self._search(f"tags.`hposweep.study_id` = '{study.study_id}' and tags.`hposweep.role` = 'sweep'")
        if found:
            return str(sorted(found, key=lambda r: r.info.start_time or 0)[0].info.run_id)
        return None

    def _create_parent(self, study: Any) -> str:
        path = self.study_path
        name = self.run_name or (os.path.basename(path)[:-5] if path and path.endswith(".json") else
                                 f"hposweep-{study.study_id}")
        tags = {"hposweep.study_id": study.study_id, "hposweep.role": "sweep", "mlflow.runName": name,
                "hposweep.directions": ",".join(study.directions)}
        if path:
            tags["hposweep.study"] = path
        run = self.client.create_run(self.experiment_id, start_time=_ms(study.created_at), tags=tags,
                                     run_name=name)
        run_id = str(run.info.run_id)
        params = {"sampler": study.sampler_spec, "pruner": study.pruner_spec, "seed": study.seed,
                  "directions": ",".join(study.directions), "metrics": ",".join(self.names)}
        self._log_params(run_id, {k: v for k, v in params.items() if v is not None})
        return run_id

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(metric_key(k), str(v)[:_PARAM_LIMIT]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(run_id, params=items[i:i + 100])

    def _log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int, when: float | None) -> None:
        from mlflow.entities import Metric

        ts = _ms(when if when is not None else time.time()) or 0
        items = [Metric(metric_key(k), float(v), ts, int(step)) for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i:i + 1000])

    # --- trials --------------------------------------------------------------------------------------
    def on_trial_start(self, trial: Trial) -> None:
        if self.parent_id is None or trial.number in self.runs:
            return
        with _short_retries():
            self._start_child(trial)

    def _start_child(self, trial: Trial) -> str:
        study = self.study
        tags = {"mlflow.parentRunId": self.parent_id, "hposweep.study_id": study.study_id,
                "hposweep.role": "trial", "hposweep.trial": str(trial.number),
                "mlflow.runName": f"trial-{trial.number:04d}"}
        if self.study_path:
            tags["hposweep.study"] = self.study_path
        cmd = command_text(trial.info)
        if cmd:
            tags["hposweep.command"] = cmd[:_TAG_LIMIT]
        rerun = trial.info.get("rerun_of")
        if rerun is not None:
            tags["hposweep.rerun_of"] = str(rerun)
        run = self.client.create_run(self.experiment_id, start_time=_ms(trial.started_at), tags=tags,
                                     run_name=f"trial-{trial.number:04d}")
        run_id = str(run.info.run_id)
        self.runs[trial.number] = run_id
        self._logged[trial.number] = set()
        if trial.params:
            self._log_params(run_id, trial.params)
        return run_id

    def on_report(self, trial: Trial, step: int, metrics: Mapping[str, float]) -> None:
        run_id = self.runs.get(trial.number)
        if run_id is None:
            return
        with _short_retries():
            self._log_metrics(run_id, metrics, step, None)
        self._logged.setdefault(trial.number, set()).update(metric_key(k) for k in metrics)

    def on_trial_end(self, trial: Trial, log_path: str | None) -> None:
        if self.parent_id is None:
            return
        with _short_retries():
            run_id = self.runs.get(trial.number)
            if run_id is None:
                run_id = self._start_child(trial)
            self._end_child(run_id, trial, log_path)

    def _end_child(self, run_id: str, trial: Trial, log_path: str | None) -> None:
        logged = self._logged.get(trial.number, set())
        step = trial.last_step if trial.last_step is not None else 0
        final: dict[str, float] = {}
        if trial.values:
            for name, v in zip(self.names, trial.values):
                if math.isfinite(v):
                    # the trial's value as hposweep counts it (last or best report), beside the curve
                    final[f"objective.{name}"] = v
                    if metric_key(name) not in logged:
                        final[name] = v
        for k, v in trial.user_attrs.items():
            if metric_key(k) not in logged and isinstance(v, (int, float)) and not isinstance(v, bool):
                final[k] = v
        if trial.duration is not None:
            final["hposweep.duration_s"] = trial.duration
        pruned = trial.info.get("pruned_at_step")
        if trial.state is TrialState.PRUNED:
            final["hposweep.pruned_step"] = float(pruned if pruned is not None else step)
        self._log_metrics(run_id, final, int(step), trial.finished_at)  # MLflow's steps are whole numbers
        tags = {"hposweep.state": trial.state.value}
        if pruned is not None:
            tags["hposweep.pruned_step"] = str(pruned)
        for key in ("exit_code", "reason"):
            if trial.info.get(key) is not None:
                tags[f"hposweep.{key}"] = str(trial.info[key])[:_TAG_LIMIT]
        cmd = command_text(trial.info)
        if cmd:
            tags["hposweep.command"] = cmd[:_TAG_LIMIT]
        for tag, text in tags.items():
            self.client.set_tag(run_id, tag, text)
        path = log_path or trial.info.get("log")
        if isinstance(path, str) and os.path.isfile(path):
            self.client.log_artifact(run_id, path)
        self.client.set_terminated(run_id, status=RUN_STATUS.get(trial.state, "FINISHED"),
                                   end_time=_ms(trial.finished_at))

    def on_sweep_end(self, study: Any) -> None:
        if self.parent_id is None:
            return
        with _short_retries():
            summary: dict[str, Any] = {"hposweep.trials": float(len(study.trials))}
            for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED):
                summary[f"hposweep.{state.value}"] = float(len(study.trials_in(state)))
            if not study.is_multi_objective and study.best_trial is not None:
                summary[f"best_{self.names[0]}"] = float(study.best_trial.value)
                self.client.set_tag(self.parent_id, "hposweep.best_trial", str(study.best_trial.number))
            self._log_metrics(self.parent_id, summary, 0, None)
            running = any(t.state is TrialState.RUNNING for t in study.trials)
            if not running:
                self.client.set_terminated(self.parent_id, status="FINISHED")

    # --- after the fact ------------------------------------------------------------------------------
    def _log_history(self, run_id: str, study: Any, trial: Trial) -> None:
        """Every metric's per-step history the study kept for the trial (the objective's and each other's)."""
        from mlflow.entities import Metric

        ts = _ms(trial.started_at or time.time()) or 0
        items = [Metric(metric_key(name), value, ts, step) for step, metrics in history_by_step(study, trial)
                 for name, value in metrics.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i:i + 1000])
        self._logged.setdefault(trial.number, set()).update(m.key for m in items)

    def export(self, study: Any) -> tuple[int, int]:
        """Record ``study``'s finished trials that MLflow does not have yet: (written, already there)."""
        self.on_sweep_start(study)
        written = skipped = 0
        with _short_retries():
            existing = {int(r.data.tags["hposweep.trial"]): r for r in self._search(self._trial_filter(study))
                        if r.data.tags.get("hposweep.trial", "").isdigit()}
            for trial in study.trials:
                if trial.state is TrialState.RUNNING:
                    continue
                run = existing.get(trial.number)
                if run is not None and run.info.status != "RUNNING":
                    skipped += 1
                    continue
                run_id = run.info.run_id if run is not None else self._start_child(trial)
                if run is None:
                    self._log_history(run_id, study, trial)
                self._end_child(run_id, trial, None)
                written += 1
        self.on_sweep_end(study)
        return written, skipped


def export_mlflow(study: Any, *, tracking_uri: str | None = None, experiment: str | None = None,
                  study_path: str | None = None) -> tuple[int, int]:
    """``hposweep export mlflow``: see :meth:`MlflowTracker.export`."""
    tracker = MlflowTracker(experiment=experiment, tracking_uri=tracking_uri)
    tracker.study_path = os.path.abspath(study_path) if study_path else None
    return tracker.export(study)
