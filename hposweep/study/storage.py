"""Crash-safe checkpoint: one JSON snapshot plus an append-only JSON-lines journal beside it.

Why two files: rewriting a 10,000-trial study (50 intermediate values each) after every event costs
far more than the 20 ms an update may take, while appending one line costs microseconds. The user
still names one file, ``study.json``; ``study.json.journal`` and ``study.json.lock`` live beside it.

Durability rules:

* Every event is one complete line written with a single ``os.write`` on an ``O_APPEND`` descriptor.
  Data handed to the kernel survives a SIGKILL of the writer, so a trial whose ``tell()`` returned is
  never lost. Trial state changes are also ``fsync``-ed, so they survive a power cut as well;
  intermediate reports are not (losing the last few reports of a running trial on a power cut is
  harmless, and syncing every epoch line would make fast trials disk-bound).
* A kill in the middle of a write can leave one torn line at the very end: it is ignored on load (that
  event was never acknowledged). Damage anywhere else is reported, never silently repaired.
* Compaction folds the journal into a new snapshot: write a temporary file in the same folder, fsync,
  rename over the old snapshot (atomic), then start a new journal. Every event carries a sequence
  number and the snapshot records the last one it holds, so a kill between the rename and the new
  journal replays nothing twice.
* A ``filelock`` lock beside the file serialises writers, so two processes (workers sharing a study on
  NFS) never interleave; each one first reads what the others appended (:meth:`Storage.read_new`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from hposweep.errors import CheckpointError

FORMAT_NAME = "hposweep-study"
FORMAT_VERSION = 1
#: journal events folded into the snapshot once the journal holds this many events and at least as
#: many bytes as the snapshot (so compaction stays amortised O(1) per event)
COMPACT_MIN_EVENTS = 2000


def journal_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path) + ".journal"


def lock_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path) + ".lock"


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


@dataclass
class Loaded:
    """What :func:`read_checkpoint` found: the snapshot state and the journal events after it."""

    state: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    journal_offset: int = 0
    journal_ino: int | None = None
    snapshot_id: tuple[int, int] | None = None


def _snapshot_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def read_snapshot(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: no such checkpoint", hint="check the path, or start a sweep with `hposweep run`"
        ) from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint: {exc.strerror}") from None
    if not raw.strip():
        raise CheckpointError(
            f"{path}: the checkpoint file is empty",
            hint="it was probably created but never written; remove it and start again",
        )
    try:
        state = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CheckpointError(
            f"{path}: the checkpoint is not valid JSON ({exc}); it may be truncated or corrupt",
            hint="the file was left untouched; restore it from a backup, or remove it to start over",
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: not an hposweep checkpoint",
            hint="pass the study JSON file written by `hposweep run` (or `--checkpoint`)",
        )
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {version!r} is newer than this hposweep understands ({FORMAT_VERSION})",
            hint=f"upgrade hposweep (it was written by hposweep {state.get('hposweep_version', '?')})",
        )
    for key, kind in (("space", dict), ("trials", list)):
        if not isinstance(state.get(key), kind):
            raise CheckpointError(f"{path}: checkpoint is missing its '{key}' section; the file is corrupt")
    seq = state.get("seq", -1)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise CheckpointError(f"{path}: checkpoint has a bad 'seq' ({seq!r}); the file is corrupt")
    return state


def looks_like_checkpoint(path: str) -> bool:
    """A cheap look at the first bytes: ``Study.load`` uses it to avoid parsing a big file twice
    (once to reject a foreign file before taking the lock, once under the lock)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head.startswith(b'{"format":"' + FORMAT_NAME.encode() + b'"')


def read_journal(path: str, offset: int = 0, after_seq: int = -1) -> tuple[list[dict[str, Any]], int]:
    """Events with ``seq > after_seq`` from byte ``offset``; returns them and the offset read up to.

    A last line without its newline is a torn write of an unacknowledged event: it is left unread.
    """
    jpath = journal_path(path)
    try:
        with open(jpath, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    events: list[dict[str, Any]] = []
    pos = 0
    lineno_base = offset
    for line in data[:end].split(b"\n")[:-1]:
        pos += len(line) + 1
        if not line.strip():
            continue
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise CheckpointError(
                f"{jpath}: corrupt journal line at byte {lineno_base + pos - len(line) - 1}",
                hint="the files were left untouched; restore from a backup",
            ) from None
        if not isinstance(ev, dict) or isinstance(ev.get("seq"), bool) or not isinstance(ev.get("seq"), int):
            raise CheckpointError(f"{jpath}: unexpected journal entry {line[:80]!r}")
        if ev["seq"] > after_seq:
            events.append(ev)
    return events, offset + end


def read_checkpoint(path: str) -> Loaded:
    """Snapshot and the journal events after it. Retries once if a compaction raced the read."""
    for _ in range(3):
        sid = _snapshot_id(path)
        state = read_snapshot(path)
        ino = _journal_ino(path)
        events, offset = read_journal(path, 0, after_seq=int(state.get("seq", -1)))
        if _snapshot_id(path) == sid and _journal_ino(path) == ino:
            return Loaded(state, events, offset, ino, sid)
    return Loaded(state, events, offset, ino, sid)


def _last_seq(path: str) -> int:
    """The highest sequence number in the journal at ``path`` (-1 when there is none or it is unreadable)."""
    try:
        events, _ = read_journal(path)
    except CheckpointError:
        return -1
    return max((int(e["seq"]) for e in events), default=-1)


def _journal_ino(path: str) -> int | None:
    try:
        return os.stat(journal_path(path)).st_ino
    except FileNotFoundError:
        return None


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a mix."""
    folder = os.path.dirname(os.path.abspath(path))
    import tempfile  # only writers need it; `hposweep best` starts faster without

    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _tmp_prefix(path: str) -> str:
    """Temporary files are named after the file they replace, so a compaction can remove the ones a
    killed writer left behind without touching another study's in the same folder."""
    return f".{os.path.basename(path)}.hposweep-"


def remove_stale_tmp(path: str) -> None:
    """Delete temporary files a writer killed mid-compaction left (call with the study's lock held)."""
    folder = os.path.dirname(os.path.abspath(path))
    prefixes = (_tmp_prefix(path), _tmp_prefix(journal_path(path)))
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(prefixes) and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _fsync_dir(folder: str) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


class Storage:
    """The files of one study. The Study holds the state; this class only moves bytes.

    Use :meth:`locked` around every change: it takes the inter-process lock, and the Study first
    applies :meth:`read_new` (what other processes appended) before making its own change.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        from filelock import FileLock

        self.path = os.fspath(path)
        self.fsync = fsync
        self._lock = FileLock(lock_path(self.path))
        self._fd: int | None = None
        self._offset = 0
        self._journal_ino: int | None = None
        self._snapshot_id: tuple[int, int] | None = None
        self.seq = -1
        self._events_since_snapshot = 0
        self._journal_bytes = 0
        self._snapshot_bytes = 0
        #: journal size seen by the last changed_elsewhere() (None: unknown, read to be sure)
        self._journal_size: int | None = None

    # --- locking -------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    # --- reading -------------------------------------------------------------------------
    def attach(self, loaded: Loaded) -> None:
        """Remember where reading stopped, so later :meth:`read_new` returns only new events."""
        self._close_fd()  # after a reload the journal may be a new file: never write to the old one
        self._offset = loaded.journal_offset
        self._journal_ino = loaded.journal_ino
        self._snapshot_id = loaded.snapshot_id
        self.seq = max([int(loaded.state.get("seq", -1))] + [int(e["seq"]) for e in loaded.events])
        self._events_since_snapshot = len(loaded.events)
        self._journal_bytes = loaded.journal_offset
        try:
            self._snapshot_bytes = os.path.getsize(self.path)
        except OSError:
            self._snapshot_bytes = 0

    def changed_elsewhere(self) -> bool:
        """True when another process compacted the study (call with the lock held)."""
        if _snapshot_id(self.path) != self._snapshot_id:
            return True
        try:
            st = os.stat(journal_path(self.path))
        except FileNotFoundError:
            self._journal_size = None
            return self._journal_ino is not None
        self._journal_size = st.st_size
        return st.st_ino != self._journal_ino

    def read_new(self) -> list[dict[str, Any]]:
        """Events other processes appended since we last read or wrote (call with the lock held)."""
        size, self._journal_size = self._journal_size, None
        if size is not None and size <= self._offset:
            return []  # the size changed_elsewhere() just saw: nobody appended (the common case)
        events, self._offset = read_journal(self.path, self._offset, after_seq=self.seq)
        if events:
            self.seq = max(int(e["seq"]) for e in events)
            self._events_since_snapshot += len(events)
            self._journal_bytes = self._offset
        return events

    # --- writing -------------------------------------------------------------------------
    def write_snapshot(self, state: dict[str, Any]) -> None:
        """Fold everything into a new snapshot and start an empty journal (call with the lock held)."""
        if self.seq < 0:
            # A fresh Storage over existing files (a save over another study, or over our own older
            # files): number past the journal there, so a kill before the new journal replays none of it.
            self.seq = _last_seq(self.path)
        state = dict(state, seq=self.seq)
        data = dumps(state)
        remove_stale_tmp(self.path)
        atomic_write(self.path, data)
        # A new, empty journal under a new inode: other processes notice the change and reload.
        self._close_fd()
        atomic_write(journal_path(self.path), b"")
        self._offset = 0
        self._journal_ino = _journal_ino(self.path)
        self._snapshot_id = _snapshot_id(self.path)
        self._events_since_snapshot = 0
        self._journal_bytes = 0
        self._snapshot_bytes = len(data)

    def append(self, event: dict[str, Any], *, durable: bool = True) -> None:
        """Append one event as one line (call with the lock held)."""
        self.seq += 1
        line = dumps(dict(event, seq=self.seq)) + b"\n"
        fd = self._open_fd()
        if os.fstat(fd).st_size > self._offset:
            # A writer killed mid-write left a torn, unacknowledged line: drop it, or our line would be
            # glued to it and turn into a corrupt line in the middle of the journal.
            os.ftruncate(fd, self._offset)
        os.write(fd, line)
        if durable and self.fsync:
            os.fsync(fd)
        self._offset += len(line)
        self._journal_bytes += len(line)
        self._events_since_snapshot += 1

    def wants_compaction(self) -> bool:
        return self._events_since_snapshot >= COMPACT_MIN_EVENTS and self._journal_bytes >= self._snapshot_bytes

    def _open_fd(self) -> int:
        if self._fd is None:
            self._fd = os.open(journal_path(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            ino = os.fstat(self._fd).st_ino
            if self._journal_ino is None:
                self._journal_ino = ino
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None

    def close(self) -> None:
        self._close_fd()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self._close_fd()
        except Exception:
            pass
