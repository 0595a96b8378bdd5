"""The inter-process lock of a checkpoint: ``fcntl`` where it works, a lease file where it may not.

Why two kinds: ``fcntl`` locks (what :mod:`filelock` uses) are cheap and released by the kernel when
their holder dies, but many NFS setups do not honour them, and there two workers would interleave
their writes. Creating a file with ``O_EXCL`` is atomic on NFSv3+ and every local filesystem, so the
lease lock is "whoever created ``FILE.lease`` holds the study". The file records who holds it (host,
pid, the process's start time) so that a holder that died without removing it can be told from one
that is alive:

* on the same host, the holder is dead when its pid is gone or now belongs to a process that started
  at another time (pids are reused);
* on another host we cannot look, so the lock is stale only once its lease expired (the file's mtime
  is older than ``lease`` seconds; a holder refreshes it during long operations such as compaction).

A stale lock is broken by renaming it away (only one breaker's rename succeeds) and checking that
what was renamed is the record judged stale; if a new holder slipped in, its file is put back.

``lock_kind(path)`` picks the lease lock when the checkpoint's folder is on a network filesystem
(``/proc/mounts``), unless ``HPOSWEEP_LOCK=fcntl|lease`` or the ``lock=`` argument says otherwise.
"""

from __future__ import annotations

import errno
import os
import socket
import time
import uuid
from typing import Any

import orjson

#: filesystem types on which fcntl locks cannot be trusted to exclude other hosts
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "glusterfs", "fuse.glusterfs",
    "ceph", "fuse.ceph", "fuse.sshfs", "afs", "ocfs2", "gfs2", "9p", "panfs", "fuse.juicefs", "wekafs",
})
LOCK_KINDS = ("auto", "fcntl", "lease")
DEFAULT_LEASE = 60.0


def filesystem_type(path: str) -> str | None:
    """The type (``ext4``, ``nfs4`` ...) of the mount holding ``path``; None when unknown."""
    target = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/mounts", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, kind = mount, parts[2]
    return kind


def lock_kind(path: str, requested: str | None = None) -> str:
    """``fcntl`` or ``lease`` for the checkpoint at ``path`` (see the module docstring)."""
    kind = requested or os.environ.get("HPOSWEEP_LOCK") or "auto"
    if kind not in LOCK_KINDS:
        from hposweep.errors import ConfigError

        raise ConfigError(f"lock must be one of {', '.join(LOCK_KINDS)}, got {kind!r}")
    if kind != "auto":
        return kind
    fs = filesystem_type(os.path.dirname(os.path.abspath(path)) or ".")
    return "lease" if fs in NETWORK_FS else "fcntl"


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), None when unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    try:
        return int(raw[raw.rindex(b")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def holder_alive(record: dict[str, Any]) -> bool | None:
    """True/False when the holder is on this host and we can tell; None when it is elsewhere."""
    if record.get("host") != socket.gethostname():
        return None
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if not pid_alive(pid):
        return False
    start = record.get("start")
    return start is None or process_start_time(pid) in (None, start)


class FcntlLock:
    """:class:`filelock.FileLock` (re-entrant, released by the kernel if the holder dies)."""

    kind = "fcntl"

    def __init__(self, path: str, *, mode: int = 0o600) -> None:
        from filelock import FileLock

        self.path = path
        self._lock = FileLock(path, mode=mode)

    def acquire(self, timeout: float = -1) -> None:
        self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        self._lock.release()

    def refresh(self) -> None:
        """Nothing to do: the kernel keeps an fcntl lock for as long as its holder lives."""

    def held_elsewhere(self) -> dict[str, Any] | None:
        """A description of another holder when the lock is taken now, else None (never blocks)."""
        if self._lock.is_locked:
            return None
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            holder: dict[str, Any] = {"lock": self.path, "kind": "fcntl"}
            pid = flock_holder_pid(self.path)
            if pid is not None:
                holder.update(host=socket.gethostname(), pid=pid)
            return holder
        self._lock.release()
        return None


def flock_holder_pid(path: str) -> int | None:
    """The pid holding a ``flock``/``fcntl`` lock on ``path``, read from Linux's ``/proc/locks`` (which
    names each lock's file as ``MAJOR:MINOR:INODE``, the device numbers in hex), so "the study is in use"
    can say by whom. None when unknown: not Linux, a lock taken on another host, or a pid from another
    pid namespace (reported as -1 or 0 there)."""
    try:
        st = os.stat(path)
        with open("/proc/locks", "rb") as fh:
            text = fh.read(1 << 20).decode("ascii", "replace")
    except OSError:
        return None
    want = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in text.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's line has "->" after the number
        if len(fields) < 6 or fields[1] == "->":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == want and int(fields[4]) > 0:
                return int(fields[4])
        except ValueError:
            continue
    return None


class LeaseLock:
    """Exclusive-create lock with a lease (see the module docstring). Re-entrant within a process."""

    kind = "lease"

    def __init__(self, path: str, *, lease: float = DEFAULT_LEASE, mode: int = 0o600, poll: float = 0.002) -> None:
        self.path = path
        self.lease = lease
        self.mode = mode
        self.poll = poll
        self._depth = 0
        self._token = ""

    def _record(self) -> bytes:
        pid = os.getpid()
        return orjson.dumps({"host": socket.gethostname(), "pid": pid, "start": process_start_time(pid),
                             "token": self._token, "time": time.time()})

    def acquire(self, timeout: float = -1) -> None:
        if self._depth:
            self._depth += 1
            return
        deadline = None if timeout < 0 else time.monotonic() + timeout
        delay = self.poll
        while True:
            self._token = uuid.uuid4().hex
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.mode)
            except FileExistsError:
                if not self._break_if_stale():
                    if deadline is not None and time.monotonic() >= deadline:
                        from filelock import Timeout

                        raise Timeout(self.path) from None
                    time.sleep(delay)
                    delay = min(delay * 1.5, 0.05)
                continue
            try:
                os.write(fd, self._record())
            finally:
                os.close(fd)
            self._depth = 1
            return

    def release(self) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth:
            return
        record = self._read(self.path)
        if record is not None and record[0].get("token") == self._token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def refresh(self) -> None:
        """Push the lease forward (call during long operations while holding the lock)."""
        if self._depth:
            try:
                os.utime(self.path)
            except OSError:
                pass

    def held_elsewhere(self) -> dict[str, Any] | None:
        if self._depth:
            return None
        found = self._read(self.path)
        if found is None:
            return None
        record, _raw, age = found
        if self._stale(record, age):
            return None
        return {"lock": self.path, "kind": "lease", **{k: record.get(k) for k in ("host", "pid")}}

    @staticmethod
    def _read(path: str) -> tuple[dict[str, Any], bytes, float] | None:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
                age = time.time() - os.fstat(fh.fileno()).st_mtime
        except FileNotFoundError:
            return None
        except OSError:
            return {}, b"", 0.0
        try:
            record = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            record = {}
        return (record if isinstance(record, dict) else {}), raw, age

    def _stale(self, record: dict[str, Any], age: float) -> bool:
        alive = holder_alive(record) if record else None
        if alive is not None:
            return not alive
        return age > self.lease  # another host's (or a half-written) lock: only its lease tells

    def _break_if_stale(self) -> bool:
        """Remove a dead holder's lock; True when the caller should retry creating it at once."""
        found = self._read(self.path)
        if found is None:
            return True  # released meanwhile
        record, raw, age = found
        if not self._stale(record, age):
            return False
        aside = f"{self.path}.broken-{uuid.uuid4().hex}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True  # another process broke or released it first
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            return False
        moved = self._read(aside)
        if moved is not None and moved[1] != raw:
            # A new holder created the lock between our read and our rename: give it back.
            try:
                os.link(aside, self.path)
            except OSError:
                pass
        try:
            os.unlink(aside)
        except OSError:
            pass
        return True


def make_lock(checkpoint: str, *, kind: str | None = None, lease: float = DEFAULT_LEASE,
              mode: int = 0o600) -> FcntlLock | LeaseLock:
    """The lock for the checkpoint at ``checkpoint``: ``FILE.lock`` (fcntl) or ``FILE.lease``."""
    chosen = lock_kind(checkpoint, kind)
    if chosen == "lease":
        return LeaseLock(checkpoint + ".lease", lease=lease, mode=mode)
    return FcntlLock(checkpoint + ".lock", mode=mode)
