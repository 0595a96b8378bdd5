"""Calls run off the caller's thread, in the order they were submitted, with a bounded wait at the end.

Why one primitive: the sweep loop hands two kinds of slow, failure-prone work to threads so it never waits on
them (``--on-trial-end`` commands, :class:`hposweep.execution.hooks.HookQueue`, and MLflow/W&B calls,
:class:`hposweep.integrations.tracking.BackgroundTracker`). Both need the same guarantees: order kept (one
worker keeps it strictly), threads that never die of a call's exception, nothing started until needed, and a
sweep end that waits for what is queued but never for ever.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any


class Background:
    """Up to ``workers`` daemon threads taking submitted calls in order; :meth:`close` waits, bounded."""

    def __init__(self, name: str, workers: int = 1) -> None:
        self.name = name
        self.workers = max(1, workers)
        self.submitted = 0
        self._todo: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; a thread is started when fewer run than calls were submitted (and ``workers``)."""
        self.submitted += 1
        self._todo.put((fn, args))
        if len(self._threads) < min(self.workers, self.submitted):
            label = self.name if self.workers == 1 else f"{self.name}-{len(self._threads)}"
            th = threading.Thread(target=self._work, name=label, daemon=True)
            self._threads.append(th)
            th.start()

    def pending(self) -> int:
        """Calls queued and not yet taken by a thread."""
        return self._todo.qsize()

    def _work(self) -> None:
        while (item := self._todo.get()) is not None:
            fn, args = item
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - callers report their own failures; the thread must live on
                pass

    def close(self, timeout: float) -> bool:
        """Let the threads finish what is queued, waiting at most ``timeout`` seconds in all; True when they did."""
        for _ in self._threads:
            self._todo.put(None)
        deadline = time.monotonic() + max(0.0, timeout)
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        self._threads = [th for th in self._threads if th.is_alive()]
        return not self._threads
