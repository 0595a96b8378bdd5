"""Which study a command means when the user names none, and the paths that belong to a checkpoint.

One definition for ``run`` (which writes :data:`DEFAULT_CHECKPOINT`), the read-only commands (which
look for it, else for the newest study here) and ``entry.py``'s fast path of ``hposweep best``, so they
cannot disagree on the name. Telling a study from any other JSON file uses
:func:`hposweep.study.storage.looks_like_checkpoint`, the same first-bytes check ``Study.load`` makes.
"""

from __future__ import annotations

import glob
import os

from hposweep.errors import UsageError
from hposweep.study.storage import looks_like_checkpoint

DEFAULT_CHECKPOINT = "hposweep-study.json"


def find_checkpoint(path: str | None) -> str:
    """An explicit file path as given; a folder or nothing: the study to read in it (see :func:`find_checkpoint_in`)."""
    if path:
        return find_checkpoint_in(path) if os.path.isdir(path) else path
    return find_checkpoint_in(".")


def find_checkpoint_in(folder: str) -> str:
    """:data:`DEFAULT_CHECKPOINT` in ``folder``, else its most recently written study JSON, else a UsageError."""
    default = os.path.join(folder, DEFAULT_CHECKPOINT)
    if os.path.exists(default):
        return default
    candidates = [p for p in glob.glob(os.path.join(folder, "*.json")) if looks_like_checkpoint(p)]
    if not candidates:
        raise UsageError(
            f"no hposweep study found in {os.path.abspath(folder)}",
            hint="pass the checkpoint path (e.g. `hposweep best runs/sweep.json`), or run a sweep first",
        )
    return max(candidates, key=os.path.getmtime)


def logs_dir_for(study_path: str | None) -> str:
    """Where a study's trial logs go: ``runs/sweep.json`` → ``runs/sweep.logs`` (no path: ``./hposweep.logs``)."""
    if study_path is None:
        return os.path.join(os.getcwd(), "hposweep.logs")
    base = study_path[:-5] if study_path.endswith(".json") else study_path
    return base + ".logs"
