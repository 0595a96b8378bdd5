"""Crash-safe checkpoint: one JSON snapshot plus an append-only JSON-lines journal beside it.

Why two files: rewriting a 10,000-trial study (50 intermediate values each) after every event costs
far more than the 20 ms an update may take, while appending one line costs microseconds. The user
still names one file, ``study.json``; ``study.json.journal`` and the lock file live beside it.

Durability rules:

* Every event is one complete line written with a single ``os.write`` on an ``O_APPEND`` descriptor,
  and the number of bytes written is checked: a short write (a full disk) is cut off again and the
  operation fails, so an event is never reported as recorded unless its whole line is in the file.
  Trial state changes are also ``fsync``-ed, so they survive a power cut as well; intermediate
  reports are not (syncing every epoch line would make fast trials disk-bound).
* A kill in the middle of a write can leave one torn line at the very end: it is ignored on load (that
  event was never acknowledged). A damaged line elsewhere (its CRC does not match) is reported with its
  offset, skipped and, by the next writer, moved to ``FILE.quarantine``; a damaged snapshot (its
  CRC32 digest does not match) is refused.
* Compaction folds the journal into a new snapshot: write a temporary file in the same folder, fsync,
  rename over the old snapshot (atomic), then start a new journal. Every event carries a sequence
  number and the snapshot records the last one it holds, so a kill between the rename and the new
  journal replays nothing twice. On a full disk compaction is postponed while appends still fit.
* Every study has a random ``study_id`` and a ``generation`` (bumped by a take-over), written in the
  snapshot and in the journal's header line: a journal of another study (a backup restored beside the
  current journal) is refused, and a process whose study was replaced at its path stops writing.
* A lock beside the file (:mod:`hposweep.study.lock`) serialises writers, so two processes never
  interleave; each one first reads what the others appended (:meth:`Storage.read_new`).

This module is over 500 lines because it is one job: the bytes of a checkpoint on disk (encoding and
checking lines and snapshots, reading them back, writing them so a kill or a full disk loses nothing).
The lock is :mod:`hposweep.study.lock`, what events mean is :mod:`hposweep.study.reducer`.

Format 2 added the checksums, the ids and the header; format 3 adds every metric's bounded history
(``metric_history`` in the snapshot, ``metrics`` events in the journal), which an older hposweep would
drop or refuse. Format 1 and 2 files still load (a writer converts them at once).
"""

from __future__ import annotations

import errno
import os
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from hposweep.errors import CheckpointError

FORMAT_NAME = "hposweep-study"
FORMAT_VERSION = 3
#: journal events folded into the snapshot once the journal holds this many events and at least as
#: many bytes as the snapshot (so compaction stays amortised O(1) per event)
COMPACT_MIN_EVENTS = 2000
#: file mode of the checkpoint's files: private by default, group-writable on request
PRIVATE_MODE = 0o600
GROUP_MODE = 0o660

_LINE_CRC = b',"crc":"'  # a journal line ends with ,"crc":"xxxxxxxx"}
_LINE_CRC_LEN = len(_LINE_CRC) + 10
_SNAP_CRC = b',"crc32":"'  # a snapshot ends with ,"crc32":"xxxxxxxx"}
_SNAP_CRC_LEN = len(_SNAP_CRC) + 10


class StorageError(CheckpointError):
    """A checkpoint file cannot be written (full disk, read-only folder, a folder in the way). Exit 2."""

    def __init__(self, message: str, *, hint: str | None = None, errno: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno


class StudyReplacedError(CheckpointError):
    """Another study (or a take-over) now lives at this process's checkpoint path: stop writing. Exit 2."""


def journal_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path) + ".journal"


def lock_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path) + ".lock"


def quarantine_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path) + ".quarantine"


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def write_error(path: str, exc: OSError) -> StorageError:
    """The one message for a failed write: what, where and why (``no space left`` for ENOSPC)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "no space left"
        hint = "free some space on that disk (or move the study); the trials recorded so far are safe"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"{exc.strerror.lower() if exc.strerror else 'permission denied'}"
        hint = f"make {os.path.dirname(os.path.abspath(path)) or '.'} writable, or choose another --checkpoint"
    elif exc.errno == errno.EISDIR:
        why = "it is a folder"
        hint = "choose a file name for --checkpoint, not a folder"
    elif exc.errno == errno.ENOTDIR:
        why = "a file is in the way of a folder on that path"
        hint = "choose another --checkpoint"
    else:
        why = exc.strerror or str(exc)
        hint = None
    return StorageError(f"cannot write {path}: {why}", hint=hint, errno=exc.errno)


def encode_line(event: dict[str, Any]) -> bytes:
    """One journal line: the event's JSON with a CRC32 of it as its last field."""
    body = dumps(event)
    return body[:-1] + b'%s%08x"}\n' % (_LINE_CRC, zlib.crc32(body))


def decode_line(line: bytes, legacy: bool) -> dict[str, Any] | str:
    """The event of one line, or why it is damaged. ``legacy``: a format-1 journal (no CRCs)."""
    if line[-_LINE_CRC_LEN:-10] == _LINE_CRC and line.endswith(b'"}'):
        body = line[:-_LINE_CRC_LEN] + b"}"
        try:
            ok = int(line[-10:-2], 16) == zlib.crc32(body)
        except ValueError:
            ok = False
        if not ok:
            return "checksum mismatch"
        line = body
    elif not legacy:
        return "no checksum"
    try:
        ev = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(ev, dict) or isinstance(ev.get("seq"), bool) or not isinstance(ev.get("seq"), int):
        return "not a journal event"
    return ev


def encode_snapshot(state: dict[str, Any]) -> bytes:
    body = dumps(state)
    return body[:-1] + b'%s%08x"}' % (_SNAP_CRC, zlib.crc32(body))


@dataclass
class Damaged:
    """A complete journal line that failed its check: skipped, reported, then quarantined."""

    offset: int
    reason: str
    line: bytes


@dataclass
class Loaded:
    """What :func:`read_checkpoint` found: the snapshot state and the journal events after it."""

    state: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    journal_offset: int = 0
    journal_ino: int | None = None
    snapshot_id: tuple[int, int] | None = None
    damaged: list[Damaged] = field(default_factory=list)
    legacy_journal: bool = False


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
    digest_ok: bool | None = None
    tail = raw.rstrip()
    if tail[-_SNAP_CRC_LEN:-10] == _SNAP_CRC and tail.endswith(b'"}'):
        try:
            digest_ok = int(tail[-10:-2], 16) == zlib.crc32(tail[:-_SNAP_CRC_LEN] + b"}")
        except ValueError:
            digest_ok = False
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
    if version >= 2 and not digest_ok:
        raise CheckpointError(
            f"{path}: the checkpoint is damaged (its checksum does not match its content)",
            hint="the file was left untouched; restore it from a backup, or remove it to start over",
        )
    state.pop("crc32", None)
    for key, kind in (("space", dict), ("trials", list)):
        if not isinstance(state.get(key), kind):
            raise CheckpointError(f"{path}: checkpoint is missing its '{key}' section; the file is corrupt")
    seq = state.get("seq", -1)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise CheckpointError(f"{path}: checkpoint has a bad 'seq' ({seq!r}); the file is corrupt")
    if version >= 2 and not (isinstance(state.get("study_id"), str) and isinstance(state.get("generation"), int)):
        raise CheckpointError(f"{path}: checkpoint has no valid study_id/generation; the file is corrupt")
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


@dataclass
class JournalRead:
    events: list[dict[str, Any]]
    offset: int
    header: dict[str, Any] | None = None
    damaged: list[Damaged] = field(default_factory=list)
    legacy: bool = False


def read_journal(path: str, offset: int = 0, after_seq: int = -1, *, legacy: bool = False) -> JournalRead:
    """Events with ``seq > after_seq`` from byte ``offset``, the header (when reading from 0) and the
    damaged lines. A last line without its newline is a torn write of an unacknowledged event: it is
    left unread. ``legacy`` (reading on from a known format-1 journal) accepts lines without CRCs."""
    jpath = journal_path(path)
    try:
        with open(jpath, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return JournalRead([], 0)
    except IsADirectoryError:
        raise CheckpointError(f"{jpath}: is a folder, not a journal") from None
    end = data.rfind(b"\n") + 1
    out = JournalRead([], offset + end, legacy=legacy)
    pos = offset
    lines = data[:end].split(b"\n")[:-1]
    if offset == 0:
        first = lines[0] if lines else b""
        if first.startswith(b'{"op":"header"'):
            head = decode_line(first, False)
            if not isinstance(head, dict):
                raise CheckpointError(f"{jpath}: the journal's header line is damaged ({head})",
                                      hint="the files were left untouched; restore from a backup")
            out.header = head
            pos += len(first) + 1
            lines = lines[1:]
        else:
            out.legacy = bool(lines)  # a format-1 journal: no header, no CRCs
    events = out.events
    for line in lines:
        start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        ev = decode_line(line, out.legacy)
        if isinstance(ev, str):
            out.damaged.append(Damaged(start, ev, line))
        elif ev["seq"] > after_seq:
            events.append(ev)
    return out


def read_checkpoint(path: str) -> Loaded:
    """Snapshot and the journal events after it. Retries if a compaction raced the read.

    Refuses a journal that belongs to another study (or that continues a newer snapshot than this one):
    merging them would attach one study's results to another's trials.
    """
    for _ in range(3):
        sid = _snapshot_id(path)
        state = read_snapshot(path)
        ino = _journal_ino(path)
        seq = int(state.get("seq", -1))
        journal = read_journal(path, 0, after_seq=seq)
        if _snapshot_id(path) == sid and _journal_ino(path) == ino:
            break
    check_journal_matches(path, state, journal)
    return Loaded(state, journal.events, journal.offset, ino, sid, journal.damaged, journal.legacy)


def check_journal_matches(path: str, state: dict[str, Any], journal: JournalRead) -> None:
    seq = int(state.get("seq", -1))
    head = journal.header
    refuse = None
    if head is not None:
        if head.get("study_id") != state.get("study_id"):
            refuse = "belongs to another study"
        elif head.get("generation") != state.get("generation"):
            refuse = "belongs to another generation of this study (a take-over)"
        elif int(head.get("after_seq", -1)) > seq:
            refuse = "continues a newer snapshot than this one (was an older snapshot restored?)"
    elif journal.events and state.get("format_version", 1) >= 2:
        refuse = "has no header and events this snapshot does not hold"
    if refuse:
        raise CheckpointError(
            f"{journal_path(path)} {refuse}; it does not go with {path}",
            hint="keep the snapshot and the journal that were written together (a backup has its own "
                 "FILE.journal); move the other one away",
        )


def _last_seq(path: str) -> int:
    """The highest sequence number in the journal at ``path`` (-1 when there is none or it is unreadable)."""
    try:
        read = read_journal(path, legacy=True)
    except CheckpointError:
        return -1
    high = max((int(e["seq"]) for e in read.events), default=-1)
    if read.header is not None:
        high = max(high, int(read.header.get("after_seq", -1)))
    return high


def _journal_ino(path: str) -> int | None:
    try:
        return os.stat(journal_path(path)).st_ino
    except FileNotFoundError:
        return None


def atomic_write(path: str, data: bytes, *, mode: int = PRIVATE_MODE, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a mix.

    ``exclusive``: create ``path`` only if nothing is there (``link``, atomic like ``O_EXCL``, also on
    NFS); raises :class:`FileExistsError` otherwise. Every other failure is a :class:`StorageError`.
    """
    folder = os.path.dirname(os.path.abspath(path))
    import tempfile  # only writers need it; `hposweep best` starts faster without

    try:
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=folder)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode != PRIVATE_MODE:
                os.fchmod(fh.fileno(), mode)
            _write_all(fh.fileno(), data)
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
            raise write_error(path, exc) from None
        raise
    _fsync_dir(folder)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        view = view[n:]


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


def report_damage(path: str, damaged: list[Damaged], *, moved: bool) -> None:
    """Say on stderr which journal lines were skipped and where they went (once per load)."""
    where = f"moved to {quarantine_path(path)}" if moved else "skipped (a writer will move them to quarantine)"
    for d in damaged:
        sys.stderr.write(f"[hposweep] {journal_path(path)}: damaged line at byte {d.offset} ({d.reason}): {where}\n")
    sys.stderr.flush()


class Storage:
    """The files of one study. The Study holds the state; this class only moves bytes.

    Use :meth:`locked` around every change: it takes the inter-process lock, and the Study first
    applies :meth:`read_new` (what other processes appended) before making its own change.

    ``lock``: ``auto`` (a lease lock on network filesystems, fcntl elsewhere), ``fcntl`` or ``lease``;
    ``group_writable``: files are created 0660 instead of 0600, for workers of one group on a cluster.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True, lock: str | None = None,
                 group_writable: bool = False, lease: float | None = None) -> None:
        from hposweep.study.lock import DEFAULT_LEASE, make_lock

        self.path = os.fspath(path)
        self.fsync = fsync
        self.mode = GROUP_MODE if group_writable else PRIVATE_MODE
        self._lock = make_lock(self.path, kind=lock, lease=lease or DEFAULT_LEASE, mode=self.mode)
        self._fd: int | None = None
        self._offset = 0
        self._journal_ino: int | None = None
        self._snapshot_id: tuple[int, int] | None = None
        self.seq = -1
        self._snapshot_seq = -1
        self._events_since_snapshot = 0
        self._journal_bytes = 0
        self._snapshot_bytes = 0
        self._compact_after = COMPACT_MIN_EVENTS
        #: the study these files hold (from the snapshot); None until attached or written
        self.study_id: str | None = None
        self.generation: int | None = None
        #: journal size seen by the last changed_elsewhere() (None: unknown, read to be sure)
        self._journal_size: int | None = None

    @property
    def lock_kind(self) -> str:
        return self._lock.kind

    # --- locking -------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        try:
            self._lock.acquire()
        except OSError as exc:
            raise write_error(self._lock.path, exc) from None
        try:
            yield
        finally:
            self._lock.release()

    def held_elsewhere(self) -> dict[str, Any] | None:
        """Who holds the lock right now, if another process does (never blocks)."""
        return self._lock.held_elsewhere()

    # --- reading -------------------------------------------------------------------------
    def attach(self, loaded: Loaded) -> None:
        """Remember where reading stopped, so later :meth:`read_new` returns only new events."""
        self._close_fd()  # after a reload the journal may be a new file: never write to the old one
        self._offset = loaded.journal_offset
        self._journal_ino = loaded.journal_ino
        self._snapshot_id = loaded.snapshot_id
        self._snapshot_seq = int(loaded.state.get("seq", -1))
        self.seq = max([self._snapshot_seq] + [int(e["seq"]) for e in loaded.events])
        self._events_since_snapshot = len(loaded.events)
        self._journal_bytes = loaded.journal_offset
        self.study_id = loaded.state.get("study_id")
        self.generation = loaded.state.get("generation")
        try:
            self._snapshot_bytes = os.path.getsize(self.path)
        except OSError:
            self._snapshot_bytes = 0

    def check_same_study(self, state: dict[str, Any]) -> None:
        """Refuse to go on when the files now hold another study, or a newer generation of ours."""
        if self.study_id is None:
            return
        found = (state.get("study_id"), state.get("generation"))
        if found != (self.study_id, self.generation):
            what = "another study" if found[0] != self.study_id else f"generation {found[1]} of this study"
            raise StudyReplacedError(
                f"{self.path} now holds {what} (this process had generation {self.generation} of study "
                f"{self.study_id}): it was replaced or taken over; this process stops writing to it",
                hint="results of this process after the take-over were not recorded; "
                     "see the new study with `hposweep show`",
            )

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
        read = read_journal(self.path, self._offset, after_seq=self.seq)
        self._offset = read.offset
        if read.damaged:
            report_damage(self.path, read.damaged, moved=False)
        events = read.events
        if events:
            self.seq = max(int(e["seq"]) for e in events)
            self._events_since_snapshot += len(events)
            self._journal_bytes = self._offset
        return events

    def existing_study(self) -> dict[str, Any] | None:
        """The snapshot now at the path (None when there is none); raises for a folder or a foreign file."""
        if os.path.isdir(self.path):
            raise StorageError(f"cannot write {self.path}: it is a folder",
                               hint="choose a file name for --checkpoint, not a folder")
        if not os.path.lexists(self.path):
            return None
        return read_snapshot(self.path)

    # --- writing -------------------------------------------------------------------------
    def write_snapshot(self, state: dict[str, Any], *, exclusive: bool = False) -> None:
        """Fold everything into a new snapshot and start an empty journal (call with the lock held).

        ``exclusive``: create the study; :class:`FileExistsError` when something already is at the path.
        """
        if self.seq < 0:
            # A fresh Storage over existing files (a save over another study, or over our own older
            # files): number past the journal there, so a kill before the new journal replays none of it.
            self.seq = _last_seq(self.path)
        state = dict(state, seq=self.seq)
        data = encode_snapshot(state)
        remove_stale_tmp(self.path)
        self._lock.refresh()
        self._close_fd()
        done = False
        try:
            atomic_write(self.path, data, mode=self.mode, exclusive=exclusive)
            self.study_id, self.generation = state.get("study_id"), state.get("generation")
            self._snapshot_seq = self.seq
            # A new journal under a new inode: other processes notice the change and reload.
            atomic_write(journal_path(self.path), self._header(), mode=self.mode)
            done = True
        finally:
            if not done:
                self._snapshot_id = None  # the files are not what we think: reload before the next write
        self._offset = len(self._header())
        self._journal_ino = _journal_ino(self.path)
        self._snapshot_id = _snapshot_id(self.path)
        self._events_since_snapshot = 0
        self._journal_bytes = 0
        self._snapshot_bytes = len(data)
        self._compact_after = COMPACT_MIN_EVENTS

    def compact(self, state: dict[str, Any]) -> bool:
        """Write a snapshot unless the disk is full; then postpone (appends need far less room)."""
        try:
            self.write_snapshot(state)
        except StorageError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self._compact_after = self._events_since_snapshot + COMPACT_MIN_EVENTS
            return False
        return True

    def _header(self) -> bytes:
        return encode_line({"op": "header", "study_id": self.study_id, "generation": self.generation,
                            "after_seq": self._snapshot_seq, "seq": self._snapshot_seq})

    def append(self, event: dict[str, Any], *, durable: bool = True) -> None:
        """Append one event as one line (call with the lock held). Raises, having written nothing,
        unless the whole line is in the file (and, when ``durable``, synced)."""
        seq = self.seq + 1
        line = encode_line(dict(event, seq=seq))
        jpath = journal_path(self.path)
        fd = self._open_fd()
        try:
            if os.fstat(fd).st_size > self._offset:
                # A writer killed mid-write left a torn, unacknowledged line: drop it, or our line would be
                # glued to it and turn into a corrupt line in the middle of the journal.
                os.ftruncate(fd, self._offset)
            n = os.write(fd, line)
            if n != len(line):
                raise OSError(errno.ENOSPC, f"short write ({n} of {len(line)} bytes)")
            if durable and self.fsync:
                os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, self._offset)  # back to the last good line
            except OSError:
                pass
            raise write_error(jpath, exc) from None
        self.seq = seq
        self._offset += len(line)
        self._journal_bytes += len(line)
        self._events_since_snapshot += 1

    def wants_compaction(self) -> bool:
        return self._events_since_snapshot >= self._compact_after and self._journal_bytes >= self._snapshot_bytes

    def quarantine(self, damaged: list[Damaged]) -> None:
        """Keep damaged journal lines in ``FILE.quarantine`` (with their offsets) before compaction drops them."""
        qpath = quarantine_path(self.path)
        now = time.time()
        data = b"".join(dumps({"journal": journal_path(self.path), "offset": d.offset, "reason": d.reason,
                               "at": now, "line": d.line.decode("utf-8", "replace")}) + b"\n" for d in damaged)
        try:
            fd = os.open(qpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT, self.mode)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise write_error(qpath, exc) from None

    def _open_fd(self) -> int:
        if self._fd is None:
            jpath = journal_path(self.path)
            try:
                try:
                    fd = os.open(jpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, self.mode)
                except FileExistsError:
                    fd = os.open(jpath, os.O_WRONLY | os.O_APPEND)
                else:  # no journal yet (a snapshot alone): start it with its header
                    header = self._header()
                    try:
                        if self.mode != PRIVATE_MODE:
                            os.fchmod(fd, self.mode)
                        _write_all(fd, header)
                    except OSError:
                        os.close(fd)
                        os.unlink(jpath)
                        raise
                    self._offset = len(header)
            except OSError as exc:
                raise write_error(jpath, exc) from None
            self._fd = fd
            ino = os.fstat(fd).st_ino
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
