"""Which study a command means when the user names none, the paths that belong to a checkpoint, and
who is using one now.

One definition for ``run`` (which writes :data:`DEFAULT_CHECKPOINT`), the read-only commands (which
look for it, else for the newest study here) and ``entry.py``'s fast path of ``hposweep best``, so they
cannot disagree on the name. Telling a study from any other JSON file uses
:func:`hposweep.study.storage.looks_like_checkpoint`, the same first-bytes check ``Study.load`` makes.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import UsageError
from hposweep.study.holders import (  # noqa: F401  (re-exported: callers find them here too)
    DEFAULT_LEASE,
    last_heartbeat,
    live_holders,
    process_started_at,
    study_file,
    study_lease,
    trial_staleness,
    worker_gone,
)
from hposweep.study.retry import is_retired, retry_label, retry_links
from hposweep.study.storage import looks_like_checkpoint

if TYPE_CHECKING:
    from hposweep.study.api import Study

DEFAULT_CHECKPOINT = "hposweep-study.json"


@dataclass(frozen=True)
class Choice:
    """The study a command reads, and whether hposweep picked it (so it says which, once, on stderr)."""

    path: str
    #: False when the user named the file; True when it was found in a folder
    chosen: bool = False
    #: why this one: "the default name" or "the newest of N studies"
    why: str = ""
    #: the other studies of the folder (newest first), when hposweep picked
    others: list[str] = field(default_factory=list)

    def announcement(self) -> str:
        """One line for stderr: ``reading runs/a.json (the newest of 3 studies in runs)``."""
        return f"[hposweep] reading {self.path} ({self.why})"


def find_checkpoint(path: str | None) -> str:
    """An explicit file path as given; a folder or nothing: the study to read in it (see :func:`choose_checkpoint`)."""
    return choose_checkpoint(path).path


def choose_checkpoint(path: str | None) -> Choice:
    """A named file as it is; a folder (or nothing: ``.``): :data:`DEFAULT_CHECKPOINT` in it, else its most
    recently written study JSON, else a UsageError. The other studies found are kept for messages."""
    if path and not os.path.isdir(path):
        return Choice(path)
    folder = path or "."
    where = "this folder" if folder in (".", "./") else folder
    default = os.path.join(folder, DEFAULT_CHECKPOINT) if folder != "." else DEFAULT_CHECKPOINT
    candidates = [p for p in glob.glob(os.path.join(folder, "*.json")) if looks_like_checkpoint(p)]
    if folder == ".":
        candidates = [os.path.relpath(p) for p in candidates]
    candidates.sort(key=os.path.getmtime, reverse=True)
    if os.path.exists(default):
        others = [p for p in candidates if os.path.abspath(p) != os.path.abspath(default)]
        return Choice(default, True, f"the default study name in {where}", others)
    if not candidates:
        raise UsageError(
            f"no hposweep study found in {os.path.abspath(folder)}",
            hint="pass the checkpoint path (e.g. `hposweep best runs/sweep.json`), or run a sweep first",
        )
    why = f"the newest of {len(candidates)} studies in {where}" if len(candidates) > 1 else f"the study in {where}"
    return Choice(candidates[0], True, why, candidates[1:])


def find_checkpoint_in(folder: str) -> str:
    """:data:`DEFAULT_CHECKPOINT` in ``folder``, else its most recently written study JSON, else a UsageError."""
    return choose_checkpoint(folder).path


def logs_dir_for(study_path: str | None) -> str:
    """Where a study's trial logs go: ``runs/sweep.json`` → ``runs/sweep.logs`` (no path: ``./hposweep.logs``)."""
    if study_path is None:
        return os.path.join(os.getcwd(), "hposweep.logs")
    base = study_path[:-5] if study_path.endswith(".json") else study_path
    return base + ".logs"




def fmt_age(seconds: float | None) -> str:
    """How long ago, for people: ``12s``, ``4 min``, ``2 h 05 min``, ``3 days``."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} days"


def state_label(study: Study, t: Trial, *, now: float | None = None) -> str:
    """A trial's state for reading: ``running (stale, last heartbeat 4 min ago)`` for a running trial
    nobody runs any more (its heartbeat is older than the lease, or its process on this host is gone),
    so a killed sweep's trials do not look alive; ``resume`` re-runs them. A failed trial re-run by
    ``resume --retry-failed``: ``failed (retried as #12)``."""
    if is_retired(t):
        return retry_label(t, retry_links(study.trials)) or t.state.value
    if t.state is not TrialState.RUNNING:
        return t.state.value
    age = trial_staleness(t, study_lease(study), now=now)
    if age is None:
        return t.state.value
    if not math.isfinite(age):
        return "running (stale, no heartbeat recorded)"
    return f"running (stale, last heartbeat {fmt_age(age)} ago)"


def trials_dir_for(study_path: str | None) -> str:
    """Where a study's trial folders go: ``runs/sweep.json`` → ``runs/sweep.trials`` (no path: ./hposweep.trials)."""
    if study_path is None:
        return os.path.join(os.getcwd(), "hposweep.trials")
    base = study_path[:-5] if study_path.endswith(".json") else study_path
    return base + ".trials"


def trial_dir_for(study_path: str | None, number: int) -> str:
    """One trial's own folder: ``runs/sweep.trials/000007`` (six digits, so a listing sorts in trial order)."""
    return os.path.join(trials_dir_for(study_path), f"{number:06d}")


def study_folders(study_path: str) -> list[str]:
    """The folders a study's trial files may lie in, resolved: ``<study>.trials/`` and (older) ``<study>.logs/``."""
    where = os.path.abspath(study_path)
    return [os.path.realpath(trials_dir_for(where)), os.path.realpath(logs_dir_for(where))]


def inside_study_folders(study_path: str, file: str) -> str | None:
    """``file`` resolved (every symlink followed) if it is a regular file inside one of :func:`study_folders`,
    else None. The paths come from the study file, which anyone who can write it can edit: readers of logs
    (``show``, the dashboard) must never be made to print ``/etc/passwd`` or what a planted link points at."""
    real = os.path.realpath(file)
    for root in study_folders(study_path):
        try:
            inside = os.path.commonpath([root, real]) == root and real != root
        except ValueError:
            continue
        if inside:
            return real if os.path.isfile(real) else None
    return None


def trial_file(study_path: str, info: Mapping[str, Any], suffix: str = ".log") -> str | None:
    """A trial's recorded log (or the file beside it with ``suffix``: ``.metrics.jsonl``), resolved, if it
    lies inside the study's own folders (:func:`inside_study_folders`), else None. A relative path is read
    against the folder the trial ran in, as it was recorded."""
    log = info.get("log")
    if not isinstance(log, str) or not log:
        return None
    if not os.path.isabs(log):
        log = os.path.join(str(info.get("cwd") or os.path.dirname(os.path.abspath(study_path))), log)
    if suffix != ".log":
        if not log.endswith(".log"):
            return None
        log = log[: -len(".log")] + suffix
    return inside_study_folders(study_path, log)
