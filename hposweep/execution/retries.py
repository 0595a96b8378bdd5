"""``--retries N``: a trial that failed on its own (non-zero exit, killed by a signal, a timeout before any report)
runs again with the same params, as the next attempt of the same trial number.

Flaky clusters fail trials that would succeed on a second try (OOM-killed, preempted, an NCCL timeout). A
missing objective, a launch error (command not found) or an internal error is the configuration's fault
and would fail the same way again, so it is not retried. Each attempt's exit, reason, duration and log are
kept in the trial's ``info["attempts"]``; the trial's final state is its last attempt's. The previous
attempt's log is kept beside the trial's (``trial-0007.attempt1.log``); the trial's log is the latest one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hposweep.execution.executors.local import TrialProcess
    from hposweep.execution.executors.ray.driver import RayTrialProcess


def retryable(proc: TrialProcess | RayTrialProcess) -> bool:
    """The trial failed on its own: it exited non-zero, was killed by a signal, or ran out of time."""
    if proc.launch_error() is not None or getattr(proc, "lost_node", False):
        return False
    rc = proc.returncode
    return proc.timed_out or (rc is not None and rc != 0)


def attempt_entry(info: dict[str, Any], reason: str | None, n: int) -> dict[str, Any]:
    """One attempt, as ``info["attempts"]`` keeps it."""
    entry: dict[str, Any] = {"attempt": n, "exit_code": info.get("exit_code"), "duration": info.get("duration"),
                             "state": "failed" if reason else "complete"}
    if reason:
        entry["reason"] = reason
    return entry


def keep_attempt_log(log_path: str | None, n: int) -> str | None:
    """Move attempt ``n``'s log aside so the next attempt writes a fresh one at the trial's log path."""
    if not log_path or not os.path.exists(log_path):
        return None
    stem = log_path[:-4] if log_path.endswith(".log") else log_path
    kept = f"{stem}.attempt{n}.log"
    try:
        os.replace(log_path, kept)
    except OSError:
        return log_path
    return kept


__all__ = ["attempt_entry", "keep_attempt_log", "retryable"]
