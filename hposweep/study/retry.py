"""``resume --retry-failed``: which failed trials to run again, the event that queues one, and how outputs name it.

After the user fixed a bug, the failed trials' params are worth running again. The failed trial itself stays
(its log and reason are the record of the bug) but is marked ``info["retried"] = True`` and stops counting
toward the target; its params are queued ahead of new sampling with ``retry_of: N``, so the trial that
runs them records which trial it retries. Everything here is pure (no files, no lock): the Study emits
:func:`retry_event`, the reducer applies it, and rows, ``show`` and the summary read :func:`retry_links`.

Why a ``recover`` event: it already puts a trial's new record *and* a queue entry in one journal line, so a
kill can never leave a trial marked without its re-run queued, nor queue a re-run twice; and an older
hposweep reads it too. One event per trial, emitted from the highest number down: each puts its entry at
the front of the queue, so the retries run in trial-number order, also when a kill stopped the first
``--retry-failed`` half-way and a second one queues the rest.

A retry that fails again is a failed trial like any other, not marked: a later ``--retry-failed`` retries it
(the newest failure is the one retried, so a trial is never queued twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hposweep.core.trial import Trial, TrialState

#: on a failed trial: its params were queued again by ``resume --retry-failed``
RETRIED = "retried"
#: on the trial that re-runs them: the failed trial it retries
RETRY_OF = "retry_of"
#: what a retry keeps of the trial it retries (a repeat stays a repeat of the same trial, with its seed)
CARRIED = ("repeat_of", "repeat_seed")


def is_retired(t: Trial) -> bool:
    """A failed trial whose params were queued again: it no longer counts toward the target."""
    return t.state is TrialState.FAILED and t.info.get(RETRIED) is True


def retry_candidates(trials: Iterable[Trial]) -> list[Trial]:
    """The failed trials not retried yet, lowest number first."""
    return sorted((t for t in trials if t.state is TrialState.FAILED and not is_retired(t)), key=lambda t: t.number)


def retry_of(info: Mapping[str, Any]) -> int | None:
    """The failed trial a trial retries (from its info or a queue entry), else None."""
    n = info.get(RETRY_OF)
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def retry_event(t: Trial) -> dict[str, Any]:
    """The one journal event that marks the failed trial ``t`` retried and queues its params first."""
    marked = t.to_json()
    marked["info"] = {**t.info, RETRIED: True}
    entry = {"params": dict(t.params), RETRY_OF: t.number, **{k: t.info[k] for k in CARRIED if k in t.info}}
    return {"op": "recover", "trials": [marked], "requeue": [entry]}


def retry_links(trials: Iterable[Trial]) -> dict[int, int]:
    """``{failed trial: the trial that retries it}``; when a retry was itself interrupted and run again
    (its re-run keeps ``retry_of``), the newest one."""
    links: dict[int, int] = {}
    for t in trials:
        n = retry_of(t.info)
        if n is not None and t.number > links.get(n, -1):
            links[n] = t.number
    return links


def retry_label(t: Trial, links: Mapping[int, int]) -> str | None:
    """``failed (retried as #12)`` (or ``failed (retry queued)`` before the retry started) for a retried
    failed trial; None for any other trial."""
    if not is_retired(t):
        return None
    number = links.get(t.number)
    return f"failed (retried as #{number})" if number is not None else "failed (retry queued)"
