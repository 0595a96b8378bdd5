"""Who is using a study's checkpoint now: the lock's holder, and each worker whose running trials are
alive (a heartbeat within the lease and, on this host, its process still the one that started them).

One rule for every caller (``Study.held_by``, ``run --force``, ``resume``, ``trials``' "stale" label), kept
below both the Study API and the discovery of checkpoints on disk so each can use it. It reads a study
through the few attributes of :class:`HeldStudy`, so it needs no import of the API.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import HposweepError

DEFAULT_LEASE = 60.0


class HeldStudy(Protocol):
    """What the rule reads of a study (``Study`` has these)."""

    @property
    def path(self) -> str | None: ...

    @property
    def loaded_from(self) -> str | None: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...

    @property
    def running_trials(self) -> Sequence[Trial]: ...


def study_file(study: HeldStudy) -> str | None:
    """The checkpoint of ``study``: its path when attached, else the file it was loaded from read-only."""
    return study.path or study.loaded_from


def study_lease(study: HeldStudy) -> float:
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


def live_holders(study: HeldStudy, *, lease: float | None = None, check_lock: bool = True) -> list[dict[str, Any]]:
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
