"""Which studies the dashboard shows, and each one loaded read-only, again only when its files changed.

Workers keep writing a study while the dashboard reads it, so a load takes no lock and writes nothing
(``Study.load(path, readonly=True)``, as ``hposweep best`` does). A study is re-read only when its
snapshot or journal changed (inode, size, mtime): polling every second costs two ``stat`` calls, not
a parse. A load that fails half-way through a writer's compaction keeps the previous state and is
retried on the next poll; a study that never loaded shows its error instead.
"""

from __future__ import annotations

import glob
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hposweep.errors import HposweepError
from hposweep.study.storage import journal_path, looks_like_checkpoint

if TYPE_CHECKING:
    from hposweep.study.api import Study

Fingerprint = tuple[Any, ...]


def file_id(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def fingerprint(path: str) -> Fingerprint:
    """What changes whenever a writer records anything: the snapshot's and the journal's identity."""
    return (file_id(path), file_id(journal_path(path)))


def study_id(path: str) -> str:
    """A short, stable id for URLs: the same file keeps its id across restarts of the dashboard."""
    return hashlib.sha1(os.path.realpath(path).encode("utf-8", "surrogateescape")).hexdigest()[:12]


@dataclass
class Entry:
    """One study file, its last good load, and caches keyed by the fingerprint they were built from."""

    path: str
    id: str
    study: Study | None = None
    loaded: Fingerprint | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: derived views (figures, tables) of ``loaded``: dropped whenever the study is re-read
    cache: dict[str, Any] = field(default_factory=dict)
    #: slow results (importance) with the time they were computed: recomputed at most every few seconds
    slow: dict[str, tuple[float, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def version(self) -> str:
        """A token that changes with the files: what the pages poll for."""
        return hashlib.sha1(repr(fingerprint(self.path)).encode()).hexdigest()[:16]

    def current(self) -> Study | None:
        """The study as its files hold it now (re-read only if they changed); None if it cannot be read."""
        with self.lock:
            fp = fingerprint(self.path)
            if fp == self.loaded and (self.study is not None or self.error is not None):
                return self.study
            from hposweep.study.api import Study

            try:
                study = Study.load(self.path, readonly=True)
            except (HposweepError, OSError, ValueError) as exc:
                # A compaction racing the read, or a file that is not (or no longer) a study: keep the
                # last good state, and try again at the next change.
                self.error = str(exc)
                if self.study is None:
                    self.loaded = fp
                return self.study
            # The files may have moved on while we read; that is fine, the next poll sees another print.
            self.study, self.loaded, self.error = study, fp, None
            self.cache.clear()
            return study

    def cached(self, key: str, build: Any) -> Any:
        """``build()`` once per load of the study (``build`` gets the study)."""
        study = self.current()
        with self.lock:
            stamp = self.loaded
            hit = self.cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = build(study)
        with self.lock:
            self.cache[key] = (stamp, value)
        return value

    def throttled(self, key: str, build: Any, every: float) -> Any:
        """``build()``, reused while younger than ``every`` seconds even if the study changed meanwhile."""
        study = self.current()
        now = time.monotonic()
        hit = self.slow.get(key)
        if hit is not None and (hit[1][0] == self.loaded or now - hit[0] < every):
            return hit[1][1]
        value = build(study)
        self.slow[key] = (now, (self.loaded, value))
        return value


class Catalog:
    """The studies named on the command line: files as given, folders scanned for study files.

    Folders are scanned again on every listing, so a sweep started after the dashboard appears in it.
    """

    def __init__(self, targets: list[str]) -> None:
        self.targets = [os.path.abspath(t) for t in (targets or ["."])]
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def paths(self) -> list[str]:
        out: list[str] = []
        for target in self.targets:
            if os.path.isdir(target):
                found = sorted(glob.glob(os.path.join(glob.escape(target), "*.json"))
                               + glob.glob(os.path.join(glob.escape(target), "*", "*.json")))
                out += [p for p in found if looks_like_checkpoint(p)]
            else:
                out.append(target)
        seen: set[str] = set()
        return [p for p in out if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]

    def entries(self) -> list[Entry]:
        paths = self.paths()
        with self._lock:
            for p in paths:
                sid = study_id(p)
                if sid not in self._entries:
                    self._entries[sid] = Entry(p, sid)
            return [self._entries[study_id(p)] for p in paths]

    def get(self, sid: str) -> Entry | None:
        with self._lock:
            entry = self._entries.get(sid)
        if entry is None:
            entry = next((e for e in self.entries() if e.id == sid), None)
        return entry
