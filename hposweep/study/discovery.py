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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import HposweepError, UsageError
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


DEFAULT_LEASE = 60.0


def study_file(study: Study) -> str | None:
    """The checkpoint of ``study``: its path when attached, else the file it was loaded from read-only."""
    return study.path or study.loaded_from


def study_lease(study: Study) -> float:
    """The heartbeat lease the study's workers use (its recorded ``lease``, else 60 s)."""
    lease = study.settings.get("lease")
    if isinstance(lease, (int, float)) and not isinstance(lease, bool) and 0 < lease < float("inf"):
        return float(lease)
    return DEFAULT_LEASE


def worker_gone(worker: Any, started_at: float | None = None) -> bool:
    """True when ``worker`` (``host:pid``, as the runner records it) ran on this host and that process is
    gone, or its pid now belongs to a process started after the trial (pid reuse). False when it lives
    or runs elsewhere (then only its heartbeat can tell)."""
    from hposweep.study.lock import pid_alive

    if not isinstance(worker, str) or ":" not in worker:
        return False
    host, _, pid_text = worker.rpartition(":")
    if host != os.uname().nodename or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 0 or not pid_alive(pid):
        return True
    started = process_started_at(pid)
    return started is not None and started_at is not None and started > started_at + 2.0


def process_started_at(pid: int) -> float | None:
    """When ``pid`` started, as a Unix time (Linux: ``/proc``), None when unknown."""
    from hposweep.study.lock import process_start_time

    ticks = process_start_time(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def last_heartbeat(trial: Trial) -> float | None:
    """The wall-clock time of a running trial's last sign of life (its heartbeat, else its start)."""
    beat = trial.info.get("heartbeat") or trial.started_at
    if isinstance(beat, (int, float)) and not isinstance(beat, bool):
        return float(beat)
    return None


def trial_staleness(trial: Trial, lease: float, *, now: float | None = None) -> float | None:
    """For a running trial nobody runs any more (heartbeat older than ``lease``, or its worker on this host
    is gone): the seconds since its last heartbeat. None while it is alive (or not running)."""
    if trial.state is not TrialState.RUNNING:
        return None
    now = time.time() if now is None else now
    beat = last_heartbeat(trial)
    age = max(0.0, now - beat) if beat is not None else None
    if age is None or age > lease or worker_gone(trial.info.get("worker"), trial.started_at):
        return age if age is not None else float("inf")
    return None


def live_holders(study: Study, *, lease: float | None = None, check_lock: bool = True) -> list[dict[str, Any]]:
    """Who else uses ``study``'s checkpoint now: the lock's holder (when ``check_lock``), and each worker
    whose running trials are alive (:func:`trial_staleness`), as ``{"worker", "host", "pid", "trials",
    "heartbeat_age"}``. Works on a study loaded read-only (it takes no lock and writes nothing)."""
    lease = study_lease(study) if lease is None else lease
    now = time.time()
    out: list[dict[str, Any]] = []
    path = study_file(study)
    if check_lock and path is not None and os.path.exists(path + ".lock"):
        from hposweep.study.storage import Storage

        try:
            lock = Storage(path).held_elsewhere()
        except (OSError, HposweepError):
            lock = None
        if lock is not None:
            out.append(dict(lock))
    workers: dict[str, dict[str, Any]] = {}
    for t in study.running_trials:
        if trial_staleness(t, lease, now=now) is not None:
            continue
        worker = str(t.info.get("worker") or "unknown")
        host, _, pid = worker.rpartition(":")
        beat = last_heartbeat(t)
        age = now - beat if beat is not None else None
        entry = workers.setdefault(worker, {"worker": worker, "host": host or None,
                                            "pid": int(pid) if pid.isdigit() else None, "trials": [],
                                            "heartbeat_age": age})
        entry["trials"].append(t.number)
        if age is not None and (entry["heartbeat_age"] is None or age < entry["heartbeat_age"]):
            entry["heartbeat_age"] = age
    out.extend(workers.values())
    return out


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
