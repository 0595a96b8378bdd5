"""Weights & Biases: one W&B run per trial, grouped by the sweep, offline unless the user says otherwise.

Offline by default: with ``WANDB_MODE`` unset and no ``mode:`` option, runs are written under
``wandb/offline-run-*`` and nothing leaves the machine; ``wandb sync wandb/offline-run-*`` uploads them
when the user decides to. ``WANDB_MODE``, ``WANDB_PROJECT``, ``WANDB_ENTITY`` and ``WANDB_DIR`` are
honoured as W&B users expect; the tracker's options (YAML ``{wandb: {project: .., mode: ..}}``) win.

Each run: ``group`` = the sweep (the study file's name, else its id), ``config`` = the trial's params
(plus ``hposweep_trial``/``hposweep_study_id``), history = each step's metrics, summary = the final
values, state, duration and pruned step. Runs are made with ``reinit="create_new"`` so trials running
at once each have their own run, none of them W&B's global ``wandb.run``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from hposweep.core.objectives import metric_names
from hposweep.core.trial import Trial, TrialState
from hposweep.integrations.extras import require
from hposweep.integrations.optuna_journal import command_text
from hposweep.integrations.tracking import Tracker, history_by_step

#: exit code W&B records for a run (0: the run ended as planned, which a pruned trial did)
EXIT_CODE = {TrialState.COMPLETE: 0, TrialState.PRUNED: 0, TrialState.FAILED: 1, TrialState.INTERRUPTED: 130}


def _wandb() -> Any:
    return require("wandb", install='"hposweep[wandb]"', feature="W&B tracking")


def sweep_group(study: Any, study_path: str | None = None) -> str:
    """The W&B group of a sweep's runs: the study file's name, else the study id."""
    path = study_path or getattr(study, "path", None)
    if path:
        base = os.path.basename(path)
        return base[:-5] if base.endswith(".json") else base
    return f"hposweep-{study.study_id}"


class WandbTracker(Tracker):
    """The live tracker (``run --track wandb``) and the engine of ``export wandb``."""

    name = "wandb"

    def __init__(self, project: str | None = None, entity: str | None = None, mode: str | None = None,
                 dir: str | None = None, group: str | None = None) -> None:
        self.project = project or os.environ.get("WANDB_PROJECT") or "hposweep"
        self.entity = entity or None
        # Offline unless the user chose: an option, or WANDB_MODE (which W&B then reads itself).
        self.mode = mode or (None if os.environ.get("WANDB_MODE") else "offline")
        self.dir = dir or None
        self.group = group
        self.study: Any = None
        self.study_path: str | None = None
        self.names: list[str] = []
        self.runs: dict[int, Any] = {}

    def on_sweep_start(self, study: Any) -> None:
        _wandb()  # a missing package is one warning at the start, not one per trial
        self.study = study
        if getattr(study, "path", None):
            self.study_path = os.path.abspath(study.path)
        self.names = metric_names(study.settings, len(study.directions))
        if self.group is None:
            self.group = sweep_group(study, self.study_path)

    def _start(self, trial: Trial) -> Any:
        wandb = _wandb()
        config: dict[str, Any] = dict(trial.params)
        config.update(hposweep_trial=trial.number, hposweep_study_id=self.study.study_id)
        if self.study_path:
            config["hposweep_study"] = self.study_path
        cmd = command_text(trial.info)
        if cmd:
            config["hposweep_command"] = cmd
        kwargs: dict[str, Any] = {
            "project": self.project, "group": self.group, "job_type": "trial",
            "name": f"{self.group}-trial-{trial.number:04d}", "config": config, "reinit": "create_new",
            "tags": ["hposweep"], "settings": wandb.Settings(silent=True, console="off"),
        }
        if self.entity:
            kwargs["entity"] = self.entity
        if self.mode:
            kwargs["mode"] = self.mode
        if self.dir:
            os.makedirs(self.dir, exist_ok=True)
            kwargs["dir"] = self.dir
        run = wandb.init(**kwargs)
        self.runs[trial.number] = run
        return run

    def on_trial_start(self, trial: Trial) -> None:
        if self.study is not None and trial.number not in self.runs:
            self._start(trial)

    def on_report(self, trial: Trial, step: int, metrics: Mapping[str, float]) -> None:
        run = self.runs.get(trial.number)
        if run is not None:
            run.log({k: float(v) for k, v in metrics.items()}, step=int(step))

    def on_trial_end(self, trial: Trial, log_path: str | None) -> None:
        if self.study is None:
            return
        run = self.runs.pop(trial.number, None) or self._start(trial)
        summary: dict[str, Any] = {"state": trial.state.value}
        if trial.values:
            for name, v in zip(self.names, trial.values):
                if math.isfinite(v):
                    summary[f"objective.{name}"] = v
        for k, v in trial.user_attrs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                summary.setdefault(k, v)
        if trial.duration is not None:
            summary["duration_s"] = trial.duration
        if trial.state is TrialState.PRUNED:
            summary["pruned_step"] = trial.info.get("pruned_at_step", trial.last_step)
        if trial.info.get("exit_code") is not None:
            summary["exit_code"] = trial.info["exit_code"]
        run.summary.update(summary)
        path = log_path or trial.info.get("log")
        if isinstance(path, str) and os.path.isfile(path):
            run.save(os.path.abspath(path), base_path=os.path.dirname(os.path.abspath(path)), policy="now")
        run.finish(exit_code=EXIT_CODE.get(trial.state, 0))

    def on_sweep_end(self, study: Any) -> None:
        for number in list(self.runs):  # trials still open when the sweep stopped
            run = self.runs.pop(number)
            run.summary.update({"state": "interrupted"})
            run.finish(exit_code=130)

    def export(self, study: Any) -> int:
        """One run per finished trial of ``study``, every metric's per-step history as its history; the count."""
        self.on_sweep_start(study)
        count = 0
        for trial in study.trials:
            if trial.state is TrialState.RUNNING:
                continue
            run = self._start(trial)
            for step, metrics in history_by_step(study, trial):  # every metric the study kept, not only the objective
                run.log(metrics, step=step)
            self.on_trial_end(trial, None)
            count += 1
        return count


def export_wandb(study: Any, *, project: str | None = None, entity: str | None = None, mode: str | None = None,
                 dir: str | None = None, study_path: str | None = None) -> int:
    """``hposweep export wandb``: see :meth:`WandbTracker.export`.

    Ends with ``wandb.teardown()``: ``run.finish()`` returns before W&B's service has written an offline
    run's file (seen with wandb 0.31: now and then the last run file held only its header), so a
    ``wandb sync`` or a reader right after the export could miss runs. Teardown waits for the files.
    """
    tracker = WandbTracker(project=project, entity=entity, mode=mode, dir=dir)
    tracker.study_path = os.path.abspath(study_path) if study_path else None
    try:
        return tracker.export(study)
    finally:
        _wandb().teardown()
