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

import errno
import os
import re
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import IO

from hposweep.errors import EXIT_USAGE, ConfigError, HposweepError
from hposweep.execution.metrics import MetricParser, MetricReport, MetricsFileTailer, strip_ansi

_READ_SIZE = 65536
#: reads per pipe per poll: a trial printing flat out must not starve the others in the loop
_MAX_READS = 16
#: after the leader is gone and the group is killed, how long to wait for the pipes' EOF (a member
#: that escaped into its own session may hold them open forever)
_DRAIN_TIMEOUT = 0.5


class LaunchError(HposweepError):
    """The trial's command could not be started (not found, not executable, bad cwd).

    Every trial would fail the same way, so the runner stops the sweep at the first one.
    """

    exit_code = EXIT_USAGE


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"90s"``, ``"30m"``, ``"2h"``, ``"1h30m"``, ``"1.5h"``, ``"2d"``, ``"500ms"`` or ``"45"``.

    A bare number is seconds. Units may be combined largest first, with optional spaces.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        seconds = _parse_duration_text(str(text))
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"duration must be positive and finite, got {text!r}", hint="e.g. 90s, 30m, 2h, 1h30m")
    return seconds


_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _parse_duration_text(text: str) -> float:
    s = text.strip()
    bad = ConfigError(f"cannot read duration {text!r}", hint="write e.g. 90s, 30m, 2h, 1h30m, 1.5h or 45 (seconds)")
    try:
        return float(s)
    except ValueError:
        pass
    pos, total, last_rank = 0, 0.0, -1
    order = ["d", "h", "m", "s", "ms"]
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise bad
        unit = m.group(2).lower()
        rank = order.index(unit)
        if rank <= last_rank:
            raise bad
        last_rank = rank
        total += float(m.group(1)) * _UNIT_SECONDS[unit]
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1
    if last_rank < 0:
        raise bad
    return total


def _describe_exec_error(exc: OSError, argv0: str, env: Mapping[str, str] | None) -> LaunchError:
    if isinstance(exc, FileNotFoundError):
        where = "" if "/" in argv0 else " (searched PATH)"
        return LaunchError(
            f"command not found: {argv0!r}{where}",
            hint="check the spelling, give a path (./train.py), or run it through an interpreter (python train.py)",
        )
    if isinstance(exc, PermissionError):
        return LaunchError(
            f"permission denied running {argv0!r}",
            hint=f"make it executable (chmod +x {shlex.quote(argv0)}) or run it through an interpreter",
        )
    if exc.errno == errno.ENOEXEC:
        return LaunchError(
            f"{argv0!r} is not an executable program (exec format error)",
            hint="add a #! line (e.g. #!/usr/bin/env python3) or run it through an interpreter",
        )
    return LaunchError(f"cannot start {argv0!r}: {exc.strerror or exc}")


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


class TrialHandle:
    """What every kind of trial process shares (local here, remote in ``hposweep.executors``):
    stopping and waiting are built on ``begin_terminate`` and ``poll``, and the log is local."""

    #: seconds per poll while waiting (a remote executor answers more slowly)
    _wait_step = 0.05
    log_path: str | None = None
    _done = False

    @property
    def done(self) -> bool:
        """Leader exited, group empty, output read to the end (or given up on), log closed."""
        return self._done

    def poll(self, timeout: float = 0.0) -> list[MetricReport]:
        raise NotImplementedError

    def begin_terminate(self, grace: float | None = None, *, reason: str = "terminated") -> None:
        raise NotImplementedError

    def terminate(self, grace: float | None = None) -> list[MetricReport]:
        """SIGTERM, wait up to ``grace`` s, SIGKILL what is left; return when done."""
        self.begin_terminate(grace)
        return self.wait()

    def wait(self, timeout: float | None = None) -> list[MetricReport]:
        """Poll until done (or ``timeout`` s passed); return the reports read meanwhile."""
        end = None if timeout is None else time.monotonic() + timeout
        reports: list[MetricReport] = []
        while not self._done:
            left = self._wait_step if end is None else min(self._wait_step, end - time.monotonic())
            if left <= 0:
                break
            reports += self.poll(left)
        return reports

    def _shell_exit_error(self) -> LaunchError | None:
        """For a shell command: exit 127/126 is the shell saying "not found"/"not executable"."""
        if not getattr(self, "shell", False) or self.returncode not in (126, 127):
            return None
        last = " / ".join(self.tail(3)) or "(no output)"
        what = "command not found" if self.returncode == 127 else "command not executable"
        return LaunchError(f"{what} (shell exit {self.returncode}): {last}", hint="check the command's first word")

    @property
    def returncode(self) -> int | None:
        raise NotImplementedError

    def tail(self, n: int = 20) -> list[str]:
        """The last ``n`` non-empty lines of the log, ANSI codes removed, progress-bar redraws collapsed."""
        if self.log_path is None:
            return []
        return tail_file(self.log_path, n)


class TrialProcess(TrialHandle):
    """One running trial: its process group, output pipes, log file and metric parsers.

    ``metric_regex``/``default_metric`` configure the output parsers (see :mod:`hposweep.metrics`);
    ``metrics_file`` is followed when given. ``grace`` is the SIGTERM-to-SIGKILL delay used for the
    timeout and for leftover group members.
    """

    def __init__(
        self,
        *,
        metric_regex: str | None = None,
        default_metric: str | None = None,
        metrics_file: str | os.PathLike[str] | None = None,
        grace: float = 10.0,
    ) -> None:
        self._parsers = {
            "stdout": MetricParser(metric_regex, default_name=default_metric),
            "stderr": MetricParser(metric_regex, default_name=default_metric),
        }
        self.tailer = MetricsFileTailer(metrics_file) if metrics_file is not None else None
        self.grace = grace
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.log_path: str | None = None
        self.shell = False
        self.started_at: float | None = None
        self.ended_at: float | None = None
        #: why the process was stopped: "timeout", "terminated", "killed", or None
        self.stop_reason: str | None = None
        self._log: IO[bytes] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._pidfd: int | None = None
        self._streams: dict[int, tuple[str, IO[bytes]]] = {}
        self._deadline: float | None = None
        self._kill_at: float | None = None
        self._group_gone = False
        self._leader_exit_at: float | None = None
        self._orphans_signalled = False
        self._done = False

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
        if cwd is not None and not os.path.isdir(cwd):
            raise LaunchError(f"working directory not found: {os.fspath(cwd)!r}", hint="check --cwd")
        if shell != isinstance(command, str):
            raise TypeError("a shell command is one string; an argv is a list of strings")
        if not shell and not command:
            raise LaunchError("empty command", hint="put the training command after `--`")
        argv0 = command if isinstance(command, str) else command[0]
        self.log_path = os.fspath(log_path)
        self._log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                command if shell else list(command),
                shell=shell,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            self._log.close()
            raise _describe_exec_error(exc, argv0, env) from exc
        self.pid = self.proc.pid
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

    @property
    def timed_out(self) -> bool:
        return self.stop_reason == "timeout"

    def fds(self) -> list[int]:
        """The pipes still open, and the pidfd until the leader exits (for :func:`poll_many`)."""
        return list(self._streams) + ([self._pidfd] if self._pidfd is not None else [])

    def launch_error(self) -> LaunchError | None:
        return self._shell_exit_error()

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

    def read_ready(self, fds: Iterable[int]) -> list[MetricReport]:
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
                reports += self._parsers[name].flush()
                self._close_stream(fd)
                return reports
            if self._log is not None:
                self._log.write(data)
                self._log.flush()
            reports += self._parsers[name].feed(data)
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
        if self._deadline is not None and now >= self._deadline and self.stop_reason is None:
            self.begin_terminate(self.grace, reason="timeout")
        if self.proc.poll() is not None and self._leader_exit_at is None:
            self._leader_exit_at = now
            self._close_pidfd()  # it stays readable from now on: stop selecting on it
        if self._kill_at is not None and now >= self._kill_at:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self._kill_at = None
        if self._leader_exit_at is None:
            return reports
        if not self._group_gone:
            self._group_gone = not _group_alive(self.proc.pid)
            if not self._group_gone and not self._orphans_signalled:
                self._orphans_signalled = True
                if self.stop_reason is None:
                    _signal_group(self.proc.pid, signal.SIGTERM)
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
                    reports += self._parsers[name].flush()
                    self._close_stream(fd)
        if self._group_gone and not self._streams:
            reports += self._finish()
        return reports

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
        if self._log is not None:
            self._log.close()
            self._log = None
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
        _signal_group(self.proc.pid, signal.SIGTERM)
        self._orphans_signalled = True
        kill_at = time.monotonic() + grace
        self._kill_at = kill_at if self._kill_at is None else min(self._kill_at, kill_at)

    def kill(self) -> list[MetricReport]:
        """SIGKILL the whole group now; return when done."""
        if self.proc is None or self._done:
            return []
        if self.stop_reason is None:
            self.stop_reason = "killed"
        _signal_group(self.proc.pid, signal.SIGKILL)
        self._orphans_signalled = True
        self._kill_at = None
        return self.wait()

    def close(self) -> None:
        """Kill whatever is left and release pipes and the log (safe to call twice)."""
        if self.proc is not None and not self._done:
            self.kill()


def tail_file(path: str | os.PathLike[str], n: int = 20, max_bytes: int = 65536) -> list[str]:
    """Last ``n`` lines of a trial log as a human reads it (what follows the last ``\\r`` of a line)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    lines = []
    for raw in text.split("\n"):
        shown = raw.rstrip("\r").split("\r")[-1]
        shown = strip_ansi(shown).rstrip()
        if shown:
            lines.append(shown)
    return lines[-n:] if n > 0 else []


def poll_many(procs: Sequence[TrialProcess], timeout: float) -> dict[TrialProcess, list[MetricReport]]:
    """Wait up to ``timeout`` s for output of any of ``procs``; read it and advance each one.

    Returns the new reports per trial (every running trial gets an entry, maybe empty). Trials that
    have no open pipe left are still advanced (their group may be dying).
    """
    live = [p for p in procs if not p.done]
    by_fd = {fd: p for p in live for fd in p.fds()}
    ready: dict[TrialProcess, list[int]] = {p: [] for p in live}
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
