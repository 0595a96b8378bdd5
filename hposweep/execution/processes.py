"""Which processes belong to a trial, found the way the kernel tells it (``/proc``), and how to stop them.

A trial runs in its own process group, and stopping a trial signals the group. A program can leave
the group (``setsid``, a double fork, a daemonising library), and such a process used to survive
every stop path. So, on Linux:

* hposweep makes itself a **child subreaper** (``prctl(PR_SET_CHILD_SUBREAPER)``): an orphaned
  descendant of a trial is re-parented to hposweep instead of ``init``, so its ancestry stays
  visible, and hposweep reaps it when it exits;
* every trial's environment carries a token (``HPOSWEEP_PROCESS_TOKEN``) that its descendants
  inherit, and :func:`trial_members` finds a trial's processes by ancestry (parent chain leading to
  the trial's leader or to a member seen before), by process group, and by the token in
  ``/proc/PID/environ``;
* each process is identified by ``(pid, start time)`` (field 22 of ``/proc/PID/stat``), so a pid the
  kernel re-used for an unrelated program is never signalled.

What remains impossible (documented in README): a process that leaves the group, *and* clears or
replaces its environment, *and* is re-parented before hposweep has seen it (a double fork faster
than one scan, with ``env -i``) is not found while hposweep runs without a subreaper (not Linux, or
``prctl`` refused); a process started through another service (``systemd-run``, ``ssh``, ``at``,
``docker run``, a cluster scheduler) is not a descendant at all; a process that changed its user
(``sudo``, setuid) cannot be signalled; a process in uninterruptible sleep (``D``, e.g. on a dead NFS
server) dies only when its I/O returns; and once hposweep itself is SIGKILLed no subreaper is left,
so orphans go to ``init``: ``resume`` then finds them only by the recorded group and token
(:func:`find_leftovers`). Elsewhere than Linux only the process group is signalled.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

TOKEN_VAR = "HPOSWEEP_PROCESS_TOKEN"
_PR_SET_CHILD_SUBREAPER = 36
_subreaper: bool | None = None


@dataclass(frozen=True, slots=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    start: int  # clock ticks after boot


def has_proc() -> bool:
    return os.path.isdir("/proc/self")


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux >= 3.4); True if it is."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if has_proc():
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            except (OSError, AttributeError):
                _subreaper = False
    return _subreaper


def _parse_stat(pid: int, raw: bytes) -> ProcInfo | None:
    fields = raw[raw.rfind(b")") + 2:].split()
    if len(fields) < 20:
        return None
    return ProcInfo(pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0].decode(), int(fields[19]))


def proc_info(pid: int) -> ProcInfo | None:
    """One process's ``/proc`` entry, or None if it does not exist (or there is no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return _parse_stat(pid, fh.read())
    except (OSError, ValueError):
        return None


def process_table() -> dict[int, ProcInfo]:
    """Every process this user can see, by pid."""
    table: dict[int, ProcInfo] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        info = proc_info(int(entry))
        if info is not None:
            table[info.pid] = info
    return table


def has_token(pid: int, token: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            env = fh.read()
    except OSError:
        return False
    return f"{TOKEN_VAR}={token}".encode() in env.split(b"\0")


def trial_members(
    leader: int, token: str | None, known: dict[int, int], table: dict[int, ProcInfo] | None = None,
) -> dict[int, int]:
    """The live processes of the trial led by ``leader``: ``{pid: start time}``, zombies left out.

    ``known`` are members seen before (their descendants still count after they re-parented).
    """
    table = process_table() if table is None else table
    me = os.getpid()
    members: dict[int, int] = {}
    roots = {leader} | {p for p, start in known.items() if p in table and table[p].start == start}
    for info in table.values():
        if info.state in ("Z", "X") or info.pid == me:
            continue
        if info.pgid == leader or info.pid in roots:
            members[info.pid] = info.start
            continue
        seen = 0
        parent = info.ppid
        while parent > 1 and seen < 64:
            if parent in roots:
                members[info.pid] = info.start
                break
            up = table.get(parent)
            if up is None:
                break
            parent, seen = up.ppid, seen + 1
        else:
            if token is not None and info.ppid in (me, 1) and info.pid not in members and has_token(info.pid, token):
                members[info.pid] = info.start
    return members


def signal_members(members: dict[int, int], sig: int) -> None:
    """Send ``sig`` to each member still the same process (same start time)."""
    for pid, start in members.items():
        info = proc_info(pid)
        if info is None or info.start != start:
            continue
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def reap_orphans(members: Iterable[int]) -> None:
    """As a subreaper, collect the exit status of dead members re-parented to us (never a Popen's child)."""
    me = os.getpid()
    for pid in members:
        info = proc_info(pid)
        if info is not None and info.state == "Z" and info.ppid == me:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


# --- what a trial records, and what resume does with it --------------------------------------------
def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


def process_record(pid: int, token: str | None) -> dict[str, Any]:
    """What a trial's info records about its process: enough to recognise it after hposweep died."""
    info = proc_info(pid)
    try:
        pgid = os.getpgid(pid)
    except OSError:
        pgid = pid
    record: dict[str, Any] = {"pid": pid, "pgid": pgid, "host": socket.gethostname()}
    if info is not None:
        record["start_time"] = info.start
    boot = boot_id()
    if boot is not None:
        record["boot_id"] = boot
    if token is not None:
        record["token"] = token
    return record


def find_leftovers(record: dict[str, Any], table: dict[int, ProcInfo] | None = None) -> dict[int, int]:
    """Processes of a recorded trial that still run on this host: the same leader (same start time),
    members of its group that started after it, and processes carrying its token."""
    if record.get("host") != socket.gethostname() or not has_proc():
        return {}
    if record.get("boot_id") and record.get("boot_id") != boot_id():
        return {}
    table = process_table() if table is None else table
    pid, pgid, start = record.get("pid"), record.get("pgid"), record.get("start_time")
    token = record.get("token")
    found: dict[int, int] = {}
    me = os.getpid()
    for info in table.values():
        if info.state in ("Z", "X") or info.pid == me:
            continue
        same_leader = info.pid == pid and start is not None and info.start == start
        in_group = pgid is not None and info.pgid == pgid and start is not None and info.start >= start and (
            token is None or has_token(info.pid, token))
        if same_leader or in_group or (token is not None and has_token(info.pid, token)):
            found[info.pid] = info.start
    return found


def stop_processes(found: dict[int, int], grace: float) -> None:
    """SIGTERM, up to ``grace`` s, then SIGKILL what is left (each checked to be the same process)."""
    import time

    signal_members(found, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if not any((i := proc_info(p)) is not None and i.start == s and i.state not in ("Z", "X")
                   for p, s in found.items()):
            return
        time.sleep(0.05)
    signal_members(found, signal.SIGKILL)


def signal_name(number: int) -> str:
    """``signal SIGTERM``, ``signal 40 (SIGRTMIN+6)``: real-time signals have no name in :mod:`signal`."""
    try:
        return f"signal {signal.Signals(number).name}"
    except ValueError:
        rtmin = getattr(signal, "SIGRTMIN", None)
        rtmax = getattr(signal, "SIGRTMAX", None)
        if rtmin is not None and rtmax is not None and rtmin <= number <= rtmax:
            return f"signal {number} (SIGRTMIN+{number - rtmin})"
        return f"signal {number}"
