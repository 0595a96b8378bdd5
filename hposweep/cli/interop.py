"""``hposweep export optuna|mlflow|wandb`` and ``hposweep import optuna``: studies into and out of other tools.

The work is :mod:`hposweep.integrations`'; this module reads the options, finds the study and says what
was written. A missing optional package is a usage error naming what to install (exit 2), as is a file
that is not what it should be.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from hposweep.cli.format import err
from hposweep.cli.options import StudyFile

if TYPE_CHECKING:
    from hposweep.study.api import Study

export_app = typer.Typer(name="export", help="Write a study to another tool: optuna, mlflow, wandb.",
                         no_args_is_help=True, rich_markup_mode=None)
import_app = typer.Typer(name="import", help="Read another tool's study into a hposweep study: optuna.",
                         no_args_is_help=True, rich_markup_mode=None)


def _load(checkpoint: str) -> tuple[Study, str]:
    from hposweep.study.api import Study
    from hposweep.study.discovery import find_checkpoint

    path = find_checkpoint(checkpoint)
    return Study.load(path, readonly=True), path


@export_app.command("optuna")
def export_optuna_cmd(
    checkpoint: StudyFile,
    output: Annotated[str, typer.Option("--output", "-o", help="Optuna journal file to write.")] = "optuna-journal.log",
    study_name: Annotated[str | None, typer.Option("--study-name", help="Name of the Optuna study (default: the study file's name).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Write the study as an Optuna journal file (optuna.load_study, optuna-dashboard, optuna.visualization open it).

    No Optuna needed. Example: hposweep export optuna runs/sweep.json -o sweep.log && optuna-dashboard sweep.log
    """
    from hposweep.integrations.optuna_journal import default_study_name, export_optuna

    study, path = _load(checkpoint)
    name = study_name or default_study_name(study, path)
    n = export_optuna(study, output, study_name=name, overwrite=overwrite, study_path=path)
    err(f"[hposweep] wrote {output}: Optuna study {name!r}, {n} trials")
    err(f"  open it: optuna.load_study(study_name={name!r}, storage=optuna.storages.JournalStorage("
        f"optuna.storages.journal.JournalFileBackend({output!r})))")


@export_app.command("mlflow")
def export_mlflow_cmd(
    checkpoint: StudyFile,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else MLflow's default).")] = None,
    experiment: Annotated[str | None, typer.Option("--experiment", help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, else Default).")] = None,
) -> None:
    """Record a study in MLflow: a parent run for the sweep, a nested run per finished trial.

    Runs already there (from a live --track mlflow or an earlier export) are not duplicated.
    Needs: pip install "hposweep[mlflow]". Example: hposweep export mlflow runs/sweep.json --experiment lr-sweeps
    """
    from hposweep.integrations.mlflow import export_mlflow

    study, path = _load(checkpoint)
    written, skipped = export_mlflow(study, tracking_uri=tracking_uri, experiment=experiment, study_path=path)
    err(f"[hposweep] MLflow: {written} trial run(s) written, {skipped} already there")


@export_app.command("wandb")
def export_wandb_cmd(
    checkpoint: StudyFile,
    project: Annotated[str | None, typer.Option("--project", help="W&B project (default: WANDB_PROJECT, else hposweep).")] = None,
    entity: Annotated[str | None, typer.Option("--entity", help="W&B entity (team or user).")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="offline (default unless WANDB_MODE is set), online or disabled.")] = None,
    directory: Annotated[str | None, typer.Option("--dir", help="Folder for the wandb/ run files (default: here).")] = None,
) -> None:
    """Record a study in W&B: one run per finished trial, grouped by the sweep. Offline unless asked.

    Needs: pip install "hposweep[wandb]". Upload offline runs later with: wandb sync wandb/offline-run-*
    """
    from hposweep.errors import UsageError
    from hposweep.integrations.wandb import export_wandb

    if mode not in (None, "offline", "online", "disabled"):
        raise UsageError(f"unknown --mode {mode!r}", hint="choose offline, online or disabled")
    study, path = _load(checkpoint)
    n = export_wandb(study, project=project, entity=entity, mode=mode, dir=directory, study_path=path)
    where = "" if (mode or os.environ.get("WANDB_MODE")) else " offline (upload with `wandb sync wandb/offline-run-*`)"
    err(f"[hposweep] W&B: {n} trial run(s) written{where}")


@import_app.command("optuna")
def import_optuna_cmd(
    source: Annotated[str, typer.Argument(help="Optuna journal file, SQLite file, or storage URL (sqlite:///study.db).")],
    output: Annotated[str, typer.Option("--output", "-o", help="hposweep study JSON to write.")] = "hposweep-study.json",
    study_name: Annotated[str | None, typer.Option("--study-name", help="The Optuna study (needed when SOURCE holds several).")] = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help="Sampler of the new study (default: as exported, else auto).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the new study.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Read an Optuna study (journal or SQLite) into a new hposweep study, history included.

    Continue it with `hposweep resume OUTPUT`. Needs Optuna: pip install optuna.
    Example: hposweep import optuna sqlite:///optuna.db --study-name mnist -o mnist.json
    """
    from hposweep.integrations.optuna_import import import_optuna

    study, history = import_optuna(source, output, study_name=study_name, sampler=sampler, seed=seed,
                                   overwrite=force)
    extra = f", {len(history.queued)} queued" if history.queued else ""
    err(f"[hposweep] wrote {output}: {len(history.trials)} trials of Optuna study {history.study_name!r}{extra}")
