"""Run one trial's process, stream its output to a log and a metric parser, and stop it cleanly.

Design: no threads. Each trial's stdout and stderr are non-blocking pipes; :meth:`TrialProcess.poll`
reads whatever is there, and :func:`poll_many` waits on the pipes of many trials at once, so one
loop in the runner drives N concurrent trials.

A trial runs in its own session and process group (``start_new_session=True``): Ctrl-C in the
terminal reaches hposweep only, and stopping a trial signals the whole group, which takes
grandchildren (data loader workers, ``cmd &``) with it. A trial is done only when its leader has
exited *and* nothing of its group is left: when the leader exits while members remain (a
background process it forgot), they get SIGTERM and, ``grace`` seconds later, SIGKILL.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import IO

from hposweep.execution.durations import parse_duration
from hposweep.execution.executors.base import LaunchError, TrialHandle, describe_exec_error, tail_file
from hposweep.execution.metrics import MetricReport
from hposweep.execution.processes import (
    TOKEN_VAR,
    become_subreaper,
    has_proc,
    proc_info,
    reap_orphans,
    signal_members,
    trial_members,
)

_READ_SIZE = 65536
#: reads per pipe per poll: a trial printing flat out must not starve the others in the loop
_MAX_READS = 16
#: after the leader is gone and the group is killed, how long to wait for the pipes' EOF (a member
#: that escaped into its own session may hold them open forever)
_DRAIN_TIMEOUT = 0.5


def _group_alive(pgid: int) -> bool:
    """True if some process of the group is alive (zombies waiting for their reaper do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class TrialProcess(TrialHandle):
    """One running trial on this machine: its process group, descendants, output pipes and log.

    The constructor's options are :class:`~hposweep.execution.executors.base.TrialHandle`'s.
    """

    #: make this process the reaper of the trial's orphans (see :mod:`hposweep.execution.processes`)
    subreaper = True
    #: seconds between two scans of ``/proc`` for the trial's descendants while it runs
    scan_every = 0.5

    def __init__(
        self,
        *,
        metric_regex: str | None = None,
        default_metric: str | None = None,
        metrics_file: str | os.PathLike[str] | None = None,
        grace: float = 10.0,
    ) -> None:
        super().__init__(metric_regex=metric_regex, default_metric=default_metric, metrics_file=metrics_file,
                         grace=grace)
        self.proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        #: inherited by every descendant (``HPOSWEEP_PROCESS_TOKEN``): how one that left the group is found
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:16]}"
        #: descendants seen so far, ``{pid: start time}`` (they may have left the process group)
        self.members: dict[int, int] = {}
        self._last_scan = 0.0
        self._selector: selectors.BaseSelector | None = None
        self._pidfd: int | None = None
        self._streams: dict[int, tuple[str, IO[bytes]]] = {}
        self._deadline: float | None = None
        self._kill_at: float | None = None
        self._group_gone = False
        self._leader_exit_at: float | None = None
        self._orphans_signalled = False

    @property
    def pid(self) -> int | None:
        return self._pid

    # --- starting ---------------------------------------------------------------------------
    def start(
        self,
        command: Sequence[str] | str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str],
        shell: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Spawn the command (argv list, or a string run by ``/bin/sh -c`` when ``shell``).

        The log file is created (truncated) here. Raises :class:`LaunchError` when the command
        cannot be started at all.
        """
        if self.proc is not None:
            raise RuntimeError("TrialProcess.start called twice")
        argv0 = self.check_start(command, shell=shell, cwd=cwd)
        run_env = dict(os.environ if env is None else env)
        run_env[TOKEN_VAR] = self.token
        if self.subreaper:
            become_subreaper()
        self.open_log(log_path)
        try:
            self.proc = subprocess.Popen(
                command if shell else list(command),
                shell=shell,
                env=run_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            self.close_log()
            raise describe_exec_error(exc, argv0) from exc
        self._pid = self.proc.pid
        self.shell = shell
        self.started_at = time.monotonic()
        self._deadline = self.started_at + timeout if timeout is not None else None
        self._selector = selectors.DefaultSelector()
        for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            self._streams[pipe.fileno()] = (name, pipe)
            self._selector.register(pipe.fileno(), selectors.EVENT_READ)
        # A pidfd turns readable when the leader exits, so the loop wakes at once instead of
        # polling for the exit that follows the pipes' EOF (Linux >= 5.3; elsewhere we poll).
        try:
            self._pidfd = os.pidfd_open(self.proc.pid)
            self._selector.register(self._pidfd, selectors.EVENT_READ)
        except (AttributeError, OSError):
            self._pidfd = None

    # --- state ------------------------------------------------------------------------------
    @property
    def returncode(self) -> int | None:
        """The leader's exit status (negative: killed by that signal); None while it runs."""
        return self.proc.returncode if self.proc is not None else None

    def fds(self) -> list[int]:
        """The pipes still open, and the pidfd until the leader exits (for :func:`poll_many`)."""
        return list(self._streams) + ([self._pidfd] if self._pidfd is not None else [])

    # --- the loop ---------------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> list[MetricReport]:
        """Read available output (waiting at most ``timeout`` s), advance stopping; return new reports."""
        if self.proc is None or self._done:
            return []
        reports: list[MetricReport] = []
        if (self._streams or self._pidfd is not None) and self._selector is not None:
            for key, _ in self._selector.select(timeout):
                if key.fd in self._streams:
                    reports += self._read(key.fd)
        elif timeout > 0:
            time.sleep(min(timeout, 0.05))
        reports += self._advance()
        return reports

    def read_ready(self, fds: Sequence[int] = ()) -> list[MetricReport]:
        """Read the given ready pipes of this trial, then advance (used by :func:`poll_many`)."""
        reports: list[MetricReport] = []
        for fd in fds:
            if fd in self._streams:
                reports += self._read(fd)
        if not self._done and self.proc is not None:
            reports += self._advance()
        return reports

    def _read(self, fd: int) -> list[MetricReport]:
        name = self._streams[fd][0]
        reports: list[MetricReport] = []
        for _ in range(_MAX_READS):
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                return reports
            except OSError:
                data = b""
            if not data:
                reports += self.parsers[name].flush()
                self._close_stream(fd)
                return reports
            self.write_log(data)
            reports += self.parsers[name].feed(data)
            if len(data) < _READ_SIZE:
                return reports
        return reports

    def _close_stream(self, fd: int) -> None:
        _, pipe = self._streams.pop(fd)
        if self._selector is not None:
            self._selector.unregister(fd)
        pipe.close()

    def _advance(self) -> list[MetricReport]:
        """Timeout, SIGKILL escalation, leader reaping, orphan cleanup, completion."""
        assert self.proc is not None
        now = time.monotonic()
        reports = self.tailer.poll() if self.tailer is not None else []
        if self._leader_exit_at is None and now - self._last_scan >= self.scan_every:
            self.scan()
        if self._deadline is not None and now >= self._deadline and self.stop_reason is None:
            self.begin_terminate(self.grace, reason="timeout")
        if self.proc.poll() is not None and self._leader_exit_at is None:
            self._leader_exit_at = now
            self._close_pidfd()  # it stays readable from now on: stop selecting on it
        if self._kill_at is not None and now >= self._kill_at:
            self._signal(signal.SIGKILL)
            self._kill_at = None
        if self._leader_exit_at is None:
            return reports
        if not self._group_gone:
            self._group_gone = not self._alive()
            if not self._group_gone and not self._orphans_signalled:
                self._orphans_signalled = True
                if self.stop_reason is None:
                    self._signal(signal.SIGTERM)
                    self._kill_at = now + self.grace
            if not self._group_gone and self._kill_at is None and now - self._leader_exit_at > self.grace + 1:
                self._group_gone = True  # SIGKILLed and still listed: unkillable or unreaped; give up
        if self._group_gone and self._streams:
            if now - self._leader_exit_at < _DRAIN_TIMEOUT:
                return reports
            for fd in list(self._streams):
                reports += self._read(fd)
                if fd in self._streams:  # a member in another session holds the pipe: stop reading
                    name = self._streams[fd][0]
                    reports += self.parsers[name].flush()
                    self._close_stream(fd)
        if self._group_gone and not self._streams:
            reports += self._finish()
        return reports

    # --- the trial's processes ------------------------------------------------------------------
    def scan(self) -> dict[int, int]:
        """Look for the trial's descendants now (also the ones that left its process group)."""
        if self._pid is not None and has_proc():
            self.members.update(trial_members(self._pid, self.token, self.members))
            self._last_scan = time.monotonic()
        return self.members

    def _signal(self, sig: int) -> None:
        """Signal the trial's group and every descendant that left it (each checked by start time)."""
        assert self.proc is not None
        self.scan()
        _signal_group(self.proc.pid, sig)
        signal_members({p: s for p, s in self.members.items() if p != self.proc.pid}, sig)

    def _alive(self) -> bool:
        """Some process of the trial is alive: its group, or a descendant that left it."""
        assert self.proc is not None
        if _group_alive(self.proc.pid):
            return True
        for pid, start in list(self.members.items()):
            info = proc_info(pid)
            if info is None or info.start != start or info.state in ("Z", "X"):
                if info is not None and info.state == "Z":
                    reap_orphans([pid])
                del self.members[pid]
                continue
            return True
        if has_proc() and self.members == {} and time.monotonic() - self._last_scan > 0.1:
            return bool(self.scan())
        return False

    def _close_pidfd(self) -> None:
        if self._pidfd is None:
            return
        if self._selector is not None:
            self._selector.unregister(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None

    def _finish(self) -> list[MetricReport]:
        self._close_pidfd()
        reports = self.tailer.flush() if self.tailer is not None else []
        self.close_log()
        reap_orphans(self.members)
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self.ended_at = time.monotonic()
        self._done = True
        return reports

    # --- stopping ---------------------------------------------------------------------------
    def begin_terminate(self, grace: float | None = None, *, reason: str = "terminated") -> None:
        """SIGTERM the whole group now and SIGKILL it ``grace`` s later (checked by :meth:`poll`)."""
        if self.proc is None or self._done:
            return
        if self.stop_reason is None:
            self.stop_reason = reason
        grace = self.grace if grace is None else grace
        self._signal(signal.SIGTERM)
        self._orphans_signalled = True
        kill_at = time.monotonic() + grace
        self._kill_at = kill_at if self._kill_at is None else min(self._kill_at, kill_at)

    def kill(self) -> list[MetricReport]:
        """SIGKILL the whole group now; return when done."""
        if self.proc is None or self._done:
            return []
        if self.stop_reason is None:
            self.stop_reason = "killed"
        self._signal(signal.SIGKILL)
        self._orphans_signalled = True
        self._kill_at = None
        return self.wait()

    def close(self) -> None:
        """Kill whatever is left and release pipes and the log (safe to call twice)."""
        if self.proc is not None and not self._done:
            self.kill()


def poll_many(procs: Sequence[TrialHandle], timeout: float) -> dict[TrialHandle, list[MetricReport]]:
    """Wait up to ``timeout`` s for output of any of ``procs``; read it and advance each one.

    Returns the new reports per trial (every running trial gets an entry, maybe empty). Trials that
    have no open pipe left are still advanced (their group may be dying).
    """
    live = [p for p in procs if not p.done]
    by_fd = {fd: p for p in live for fd in p.fds()}
    ready: dict[TrialHandle, list[int]] = {p: [] for p in live}
    if any(not p.fds() for p in live):
        # Some trials have no pipe here (remote executors, or a dying group): poll often instead of
        # sleeping in select for the whole timeout.
        timeout = min(timeout, 0.05)
    if by_fd:
        with selectors.DefaultSelector() as sel:
            for fd in by_fd:
                sel.register(fd, selectors.EVENT_READ)
            for key, _ in sel.select(timeout):
                ready[by_fd[key.fd]].append(key.fd)
    elif timeout > 0 and live:
        time.sleep(min(timeout, 0.05))
    return {p: p.read_ready(fds) for p, fds in ready.items()}


__all__ = ["LaunchError", "TrialHandle", "TrialProcess", "parse_duration", "poll_many", "tail_file"]
