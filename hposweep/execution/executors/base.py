"""What every kind of trial process shares, whichever executor runs it (``local``, ``ray``).

The runner drives a trial through :class:`TrialHandle`: ``start``, ``poll``/``read_ready``,
``begin_terminate``, ``kill``, ``wait``, ``close``, and reads ``returncode``, ``stop_reason``,
``started_at``/``ended_at``, ``log_path`` and ``tail``. The fields, the validation of ``start``'s
arguments, the log file (opened without following symlinks) and the parsers of the trial's two output
streams live here once, so the executors differ only in where the process runs.
"""

from __future__ import annotations

import errno
import os
import shlex
import time
from collections.abc import Mapping, Sequence
from typing import IO, Protocol

from hposweep.errors import EXIT_USAGE, HposweepError
from hposweep.execution.metrics import MetricParser, MetricReport, MetricsFileTailer, strip_ansi
from hposweep.execution.safefiles import open_nofollow
from hposweep.study.storage import StorageError, write_error


class LaunchError(HposweepError):
    """The trial's command could not be started (not found, not executable, bad cwd).

    Every trial would fail the same way, so the runner stops the sweep at the first one.
    """

    exit_code = EXIT_USAGE


class StreamParser(Protocol):
    """What reads one output stream: :class:`MetricParser`, or the Ray actor's raw-bytes capture."""

    def feed(self, chunk: bytes | str) -> list[MetricReport]: ...

    def flush(self) -> list[MetricReport]: ...


def describe_exec_error(exc: OSError, argv0: str) -> LaunchError:
    """The message for a command that ``exec`` refused."""
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


class TrialHandle:
    """One trial's process as the runner sees it, wherever it runs.

    ``metric_regex``/``default_metric`` configure the output parsers (see :mod:`hposweep.execution.metrics`);
    ``metrics_file`` is followed when given. ``grace`` is the SIGTERM-to-SIGKILL delay used for the
    timeout and for leftover group members.
    """

    #: seconds per poll while waiting (a remote executor answers more slowly)
    wait_step = 0.05

    def __init__(
        self,
        *,
        metric_regex: str | None = None,
        default_metric: str | None = None,
        metrics_file: str | os.PathLike[str] | None = None,
        grace: float = 10.0,
    ) -> None:
        #: one parser per output stream (a partial line of one must not be glued to the other's); an
        #: executor that parses elsewhere (the Ray actor forwards raw bytes) puts its own readers here
        self.parsers: dict[str, StreamParser] = {
            "stdout": MetricParser(metric_regex, default_name=default_metric),
            "stderr": MetricParser(metric_regex, default_name=default_metric),
        }
        self.metrics_file = os.fspath(metrics_file) if metrics_file is not None else None
        self.tailer = MetricsFileTailer(self.metrics_file) if self.metrics_file is not None else None
        self.grace = grace
        self.log_path: str | None = None
        self.shell = False
        self.started_at: float | None = None
        self.ended_at: float | None = None
        #: why the process was stopped: "timeout", "terminated", "killed", "pruned", "node lost", or None
        self.stop_reason: str | None = None
        self._log: IO[bytes] | None = None
        #: the trial's log could not be written (a full disk, a quota, a read-only folder): the runner stops
        #: the sweep with this error; the trial itself goes on unlogged until it is stopped
        self.log_error: StorageError | None = None
        self._done = False

    # --- shared pieces of start -----------------------------------------------------------------
    def check_start(
        self, command: Sequence[str] | str, *, shell: bool, cwd: str | os.PathLike[str] | None = None,
        check_cwd: bool = True,
    ) -> str:
        """Validate ``start``'s arguments the same way for every executor; return argv[0] (or the shell line)."""
        if check_cwd and cwd is not None and not os.path.isdir(cwd):
            raise LaunchError(f"working directory not found: {os.fspath(cwd)!r}", hint="check --cwd")
        if shell != isinstance(command, str):
            raise TypeError("a shell command is one string; an argv is a list of strings")
        if not shell and not command:
            raise LaunchError("empty command", hint="put the training command after `--`")
        return command if isinstance(command, str) else command[0]

    def open_log(self, log_path: str | os.PathLike[str]) -> None:
        """Create (truncate) the trial's log, never through a symlink."""
        self.log_path = os.fspath(log_path)
        self._log = open_nofollow(self.log_path)

    def write_log(self, data: bytes) -> None:
        """Append the trial's output to its log; a failed write is kept in :attr:`log_error`, never raised."""
        if self._log is None:
            return
        try:
            self._log.write(data)
            self._log.flush()
        except OSError as exc:
            self._log_failed(exc)

    def close_log(self) -> None:
        if self._log is not None:
            log, self._log = self._log, None
            try:
                log.close()
            except OSError as exc:
                self._log_failed(exc, log)

    def _log_failed(self, exc: OSError, log: IO[bytes] | None = None) -> None:
        """Stop writing the log (what is in it stays); remember why, for the runner to stop the sweep."""
        if self.log_error is None:
            self.log_error = write_error(self.log_path or "the trial's log", exc)
        log = log or self._log
        self._log = None
        if log is not None:
            try:
                log.close()  # the buffer's flush fails again, but the file is closed all the same
            except OSError:
                pass

    # --- state --------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Leader exited, group empty, output read to the end (or given up on), log closed."""
        return self._done

    @property
    def returncode(self) -> int | None:
        raise NotImplementedError

    @property
    def timed_out(self) -> bool:
        return self.stop_reason == "timeout"

    @property
    def pid(self) -> int | None:
        raise NotImplementedError

    def fds(self) -> list[int]:
        """File descriptors that turn readable when the trial has news (none for a remote trial)."""
        return []

    def launch_error(self) -> LaunchError | None:
        return self.shell_exit_error()

    def shell_exit_error(self) -> LaunchError | None:
        """For a shell command: exit 127/126 is the shell saying "not found"/"not executable"."""
        if not self.shell or self.returncode not in (126, 127):
            return None
        last = " / ".join(self.tail(3)) or "(no output)"
        what = "command not found" if self.returncode == 127 else "command not executable"
        return LaunchError(f"{what} (shell exit {self.returncode}): {last}", hint="check the command's first word")

    def tail(self, n: int = 20) -> list[str]:
        """The last ``n`` non-empty lines of the log, ANSI codes removed, progress-bar redraws collapsed."""
        if self.log_path is None:
            return []
        return tail_file(self.log_path, n)

    def parse_notes(self) -> list[str]:
        """What the parsers refused (a line too deep, a number out of range), one sentence per kind."""
        notes: list[str] = []
        for parser in self.parsers.values():
            for note in getattr(parser, "notes", lambda: [])():
                if note not in notes:
                    notes.append(note)
        if self.tailer is not None:
            notes += [n for n in self.tailer.notes() if n not in notes]
        return notes

    # --- the loop -----------------------------------------------------------------------------
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
        raise NotImplementedError

    def poll(self, timeout: float = 0.0) -> list[MetricReport]:
        raise NotImplementedError

    def read_ready(self, fds: Sequence[int] = ()) -> list[MetricReport]:
        raise NotImplementedError

    def begin_terminate(self, grace: float | None = None, *, reason: str = "terminated") -> None:
        raise NotImplementedError

    def kill(self) -> list[MetricReport]:
        raise NotImplementedError

    def close(self) -> None:
        if not self._done:
            self.kill()

    def terminate(self, grace: float | None = None) -> list[MetricReport]:
        """SIGTERM, wait up to ``grace`` s, SIGKILL what is left; return when done."""
        self.begin_terminate(grace)
        return self.wait()

    def wait(self, timeout: float | None = None) -> list[MetricReport]:
        """Poll until done (or ``timeout`` s passed); return the reports read meanwhile."""
        end = None if timeout is None else time.monotonic() + timeout
        reports: list[MetricReport] = []
        while not self._done:
            left = self.wait_step if end is None else min(self.wait_step, end - time.monotonic())
            if left <= 0:
                break
            reports += self.poll(left)
        return reports
