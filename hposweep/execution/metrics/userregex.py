"""``--metric-regex``: the user's pattern, checked here and searched in a killable helper process.

``--metric-regex`` runs in a helper process, not in the loop
-------------------------------------------------------------
Python's ``re`` has no time limit, does not release the GIL, and a pattern such as ``(a+)+$``
backtracks exponentially on a line of 30 ``a``\\ s; run in the sweep's own process it would freeze
every trial's timeout and Ctrl-C. No safe engine (RE2) ships with the standard library, and a
thread cannot be stopped, so the pattern is searched by a small Python process (one per pattern,
shared by every trial's parsers) that can be killed: a line that takes longer than
:data:`REGEX_LINE_TIMEOUT` seconds is ignored and counted, the helper is restarted, and after
:data:`REGEX_MAX_TIMEOUTS` such lines the stream stops using the regex (the trial then fails with
"no value found" and the notes say why). The loop is thus blocked at most
``REGEX_LINE_TIMEOUT * REGEX_MAX_TIMEOUTS`` seconds per stream, whatever the pattern.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Sequence

from hposweep.errors import ConfigError

#: seconds one line may take in the user's regex before it is ignored (see the module docstring)
REGEX_LINE_TIMEOUT = 0.5
#: lines that timed out before a stream stops using the regex
REGEX_MAX_TIMEOUTS = 3
#: bytes of lines sent to the regex helper before reading its answers (below a pipe's 64 KiB buffer)
_REGEX_BATCH_BYTES = 32768


def compile_user_regex(regex: str, default_name: str | None) -> re.Pattern[str]:
    """Check ``--metric-regex`` here (compiling is bounded); searching happens in the helper."""
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        raise ConfigError(
            f"--metric-regex is not a valid regular expression: {exc}",
            hint="e.g. --metric-regex 'val_loss=(?P<value>[-+.\\deE]+|nan)'",
        ) from exc
    if "value" not in compiled.groupindex:
        raise ConfigError(
            "--metric-regex needs a named group 'value'",
            hint="write (?P<value>...) around the number; add (?P<name>...) and (?P<step>...) if the line has them",
        )
    if "name" not in compiled.groupindex and not default_name:
        raise ConfigError("--metric-regex has no 'name' group and the study has no metric name to use")
    return compiled


# --- the regex helper process -------------------------------------------------------------------
_HELPER = r"""
import json, re, sys
pattern = re.compile(sys.argv[1])
names = [n for n in ("name", "value", "step") if n in pattern.groupindex]
inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    size = inp.readline()
    if not size:
        break
    line = inp.read(int(size)).decode("utf-8", "replace")
    found = [{n: m.group(n) for n in names} for m in pattern.finditer(line)]
    out.write(json.dumps(found).encode() + b"\n")
    out.flush()
"""


class RegexHelper:
    """One pattern searched in a killable child process (see the module docstring)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, self.pattern],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
            )
            self._buf = b""
        return self._proc

    def search(self, lines: Sequence[str]) -> list[list[dict[str, str | None]] | None]:
        """Each line's matches (group texts); None for a line that timed out."""
        results: list[list[dict[str, str | None]] | None] = []
        i = 0
        while i < len(lines):
            proc = self._spawn()
            assert proc.stdin is not None and proc.stdout is not None
            batch: list[bytes] = []
            size = 0
            while i + len(batch) < len(lines) and (not batch or size < _REGEX_BATCH_BYTES):
                data = lines[i + len(batch)].encode("utf-8", "replace")
                batch.append(data)
                size += len(data)
            try:
                proc.stdin.write(b"".join(b"%d\n%s" % (len(d), d) for d in batch))
                proc.stdin.flush()
            except OSError:
                self.close()
                results.extend([None] * len(batch))
                i += len(batch)
                continue
            for _ in batch:
                answer = self._read_answer(proc)
                i += 1
                results.append(answer)
                if answer is None:  # stuck on this line: restart and send the rest again
                    self.close()
                    break
        return results

    def _read_answer(self, proc: subprocess.Popen[bytes]) -> list[dict[str, str | None]] | None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + REGEX_LINE_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                data = os.read(fd, 1 << 20)
                if not data:
                    return None
                self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        found: list[dict[str, str | None]] = json.loads(line)
        return found

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()


_HELPERS: dict[str, RegexHelper] = {}


def regex_helper(pattern: str) -> RegexHelper:
    """The shared helper for ``pattern`` (started on first use, stopped at exit)."""
    helper = _HELPERS.get(pattern)
    if helper is None:
        helper = _HELPERS[pattern] = RegexHelper(pattern)
    return helper


@atexit.register
def _close_helpers() -> None:
    for helper in _HELPERS.values():
        helper.close()
