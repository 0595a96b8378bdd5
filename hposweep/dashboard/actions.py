"""The dashboard's writes (``--allow-write`` only): each one an event in the study's journal, like a worker's.

A write loads the study as a writer *without* recovering running trials (``recover=False``: those
trials belong to live workers), makes one change under the study's lock, and lets go. So a write can
never race a worker: it is serialised with theirs by the same lock, and lands in the same journal.

* **enqueue**: ``study.enqueue(params)``; the next trial any worker asks for runs them.
* **note**: appends ``{"at": time, "text": ...}`` to the trial's ``info["notes"]``.
* **stop**: records ``info["stop_requested"] = time`` (and ``stop_reason``) on a running trial. The
  runner that owns the trial sees it at its next sync and stops the trial's process group as a prune
  would; the dashboard itself never signals a process (it may run on another machine than the trial).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hposweep.core.trial import TrialState
from hposweep.errors import StudyError, UsageError
from hposweep.study.api import Study

MAX_NOTE = 2000


def _open(path: str) -> Study:
    return Study.load(path, recover=False)


def enqueue(path: str, params: Mapping[str, Any]) -> int:
    """Queue ``params`` (a subset is fine: the rest is sampled); returns the queue's length after."""
    if not isinstance(params, Mapping) or not params:
        raise UsageError("enqueue needs a JSON object of parameter values")
    study = _open(path)
    try:
        study.enqueue(dict(params), source="dashboard")
        return len(study.queue)
    finally:
        study.close()


def add_note(path: str, number: int, text: str) -> list[dict[str, Any]]:
    text = str(text).strip()
    if not text:
        raise UsageError("the note is empty")
    if len(text) > MAX_NOTE:
        raise UsageError(f"a note holds at most {MAX_NOTE} characters")
    study = _open(path)
    try:
        with study.batch():  # read the notes and add ours under one lock: two notes at once both stay
            notes = list(study.trial(number).info.get("notes") or [])
            notes.append({"at": time.time(), "text": text})
            study.update_info(number, notes=notes)
        return notes
    finally:
        study.close()


def request_stop(path: str, number: int) -> float:
    """Ask the runner of a running trial to stop it; returns the time the request was recorded."""
    study = _open(path)
    try:
        with study.batch():
            t = study.trial(number)
            if t.state is not TrialState.RUNNING:
                raise StudyError(f"trial {number} is {t.state.value}; only a running trial can be stopped")
            already = t.info.get("stop_requested")
            if isinstance(already, (int, float)):
                return float(already)
            now = time.time()
            study.update_info(number, stop_requested=now, stop_reason="stop requested from the dashboard")
            return now
    finally:
        study.close()
