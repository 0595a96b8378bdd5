"""Where one trial's files go and where it runs: its own folder beside the study.

Every trial gets ``<study>.trials/000007/``, exported as ``HPOSWEEP_TRIAL_DIR`` and ``{trial_dir}``, so two
trials under ``--jobs 2`` never write the same ``model.pt``. hposweep's own files for the trial (its log,
params and metrics files) lie in it too, named ``hposweep.*`` so they do not collide with the program's.
"""

from __future__ import annotations

import os

from hposweep.execution.argv import resolve_command_paths
from hposweep.execution.options import RunOptions
from hposweep.execution.safefiles import make_trial_dir
from hposweep.study.discovery import trial_dir_for

#: the stem of hposweep's files inside a trial's folder: hposweep.log, hposweep.params.json, hposweep.metrics.jsonl
FILE_STEM = "hposweep"


def trial_paths(study_path: str | None, number: int, opts: RunOptions, user_cwd: str) -> tuple[str, str, str]:
    """The trial's folder (absolute, created now), the folder its command runs in, and the stem of its files.

    The log moved from ``<study>.logs/trial-0007.log`` into the trial's folder, so one folder holds all a
    trial left (copy it, delete it, back it up as one); older studies keep the log paths they recorded. An
    explicit ``RunOptions.logs_dir`` (the Python API) keeps the older layout in that folder.
    """
    trial_dir = make_trial_dir(os.path.abspath(trial_dir_for(study_path, number)))
    if opts.logs_dir:
        os.makedirs(opts.logs_dir, exist_ok=True)
        stem = os.path.join(opts.logs_dir, f"trial-{number:04d}")
    elif opts.trial_cwd:  # a relative path would be read against the recorded cwd, which is the trial's folder
        stem = os.path.join(trial_dir, FILE_STEM)
    else:  # recorded in the form of the study's path (relative stays relative), as the logs were
        stem = os.path.join(trial_dir_for(study_path, number), FILE_STEM)
    if opts.logs_dir and opts.trial_cwd:
        stem = os.path.abspath(stem)
    return trial_dir, trial_dir if opts.trial_cwd else user_cwd, stem


def command_tokens(opts: RunOptions, user_cwd: str) -> list[str]:
    """The user's command as the trial runs it: under ``--trial-cwd`` its existing relative paths are made
    absolute (:func:`~hposweep.execution.argv.resolve_command_paths`), so they still mean the user's files."""
    tokens = list(opts.command)
    return resolve_command_paths(tokens, user_cwd) if opts.trial_cwd else tokens
