"""A trial's output stream into reports: line breaks, tables, Keras headers, and the user's regex.

:class:`MetricParser` is fed chunks as they arrive and parses each completed line with the grammar of
:mod:`hposweep.execution.metrics.lines`, keeping the little state a stream has (a partial line, a
fastai table header, a Keras ``Epoch 3/10`` line). Lines outside the bounds are counted, never
fatal: :meth:`MetricParser.notes` says once per kind what was ignored.

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
import codecs
import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hposweep.errors import ConfigError
from hposweep.execution.metrics.lines import (
    MAX_DEPTH,
    MAX_LINE,
    NAME_FULL,
    NUMBER_FULL,
    LineRefused,
    MetricReport,
    Step,
    is_step_key,
    line_step,
    parse_other_line,
    plain_pairs,
    scan_tokens,
    step_from,
    strip_ansi,
    to_float,
)
from hposweep.execution.metrics.shapes import MAX_SHAPES, Shape, learn_json, learn_plain

#: new line shapes tried per chunk (a stream whose lines never repeat a shape must not pay for it on every line)
_LEARN_PER_CHUNK = 4
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x08]+")
_KERAS_HEADER = re.compile(r"^\s*Epoch\s+(\d+)\s*/\s*\d+\s*$")
_TABLE_CELL_TIME = re.compile(r"^\d+:\d\d(?::\d\d)?$")

#: seconds one line may take in the user's regex before it is ignored (see the module docstring)
REGEX_LINE_TIMEOUT = 0.5
#: lines that timed out before a stream stops using the regex
REGEX_MAX_TIMEOUTS = 3
#: bytes of lines sent to the regex helper before reading its answers (below a pipe's 64 KiB buffer)
_REGEX_BATCH_BYTES = 32768

#: how a line that can be a Keras or table header starts (every step key starts with one of these)
_STEP_PREFIXES = ("epoch", "step", "global", "iter")

REFUSAL_REASONS = {
    "long": f"longer than {MAX_LINE} characters",
    "deep": f"JSON nested deeper than {MAX_DEPTH} levels",
    "range": "a number out of range (a step above 2**53, or digits that overflow a float)",
    "timeout": f"--metric-regex took longer than {REGEX_LINE_TIMEOUT:g}s on the line",
    "regex off": f"--metric-regex timed out on {REGEX_MAX_TIMEOUTS} lines, so this stream stopped using it "
                 "(simplify the pattern: no nested repeats like (a+)+)",
}


@dataclass
class _Table:
    """A fastai-style table header seen earlier in the stream (rule 2)."""

    columns: list[str]

    def row(self, line: str) -> list[MetricReport] | None:
        cells = line.split()
        if len(cells) != len(self.columns) or not NUMBER_FULL.match(cells[0]):
            return None
        pairs = []
        for col, cell in zip(self.columns, cells, strict=True):
            if _TABLE_CELL_TIME.match(cell):
                continue
            if not NUMBER_FULL.match(cell):
                return None
            value = to_float(cell)
            assert value is not None
            pairs.append((col, value))
        step = step_from(pairs[0][1]) if pairs and is_step_key(pairs[0][0]) else None
        return [MetricReport(c, v, step) for c, v in pairs if not is_step_key(c)]


def _table_header(line: str) -> _Table | None:
    cells = line.split()
    if len(cells) >= 2 and is_step_key(cells[0]) and all(NAME_FULL.match(c) for c in cells):
        return _Table(cells)
    return None


class MetricParser:
    """Incremental parser: feed it output chunks as they arrive, get reports of complete lines.

    One parser per stream (stdout and stderr each need their own, or a partial line of one would
    be glued to the other's). ``regex`` is the user's ``--metric-regex``; ``default_name`` names the
    metric of a regex without a ``name`` group (the study's metric).
    """

    def __init__(self, regex: str | None = None, *, default_name: str | None = None) -> None:
        self.regex = compile_user_regex(regex, default_name) if regex else None
        self.default_name = default_name
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._skipping = False  # inside a line already refused as too long
        self._sticky_step: Step | None = None  # Keras "Epoch 3/10" header
        self._table: _Table | None = None
        #: lines ignored, by kind ("long", "deep", "range", "timeout")
        self.refused: dict[str, int] = {}
        self._regex_timeouts = 0
        #: line shapes learned from this stream (see :mod:`.shapes`), and the one tried first
        self._shapes: dict[str, Shape] = {}
        self._shape: Shape | None = None
        self._learn_budget = 0

    def feed(self, chunk: bytes | str) -> list[MetricReport]:
        """Add output; return the reports of every line completed by it."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return []
        buf = self._pending + text
        last = max(buf.rfind("\n"), buf.rfind("\r"), buf.rfind("\x08"))
        if last < 0:
            self._pending = buf
            self._check_pending()
            return []
        self._pending = buf[last + 1:]
        text = buf[: last + 1]
        if self._skipping:  # the end of a line refused earlier
            cut = _LINE_BREAK.search(text)
            text = text[cut.end():] if cut else ""
            self._skipping = False
        self._learn_budget = _LEARN_PER_CHUNK
        reports = self._scan(text) if self.regex is None else self._parse_lines(_LINE_BREAK.split(text))
        self._check_pending()
        return reports

    def _scan(self, text: str) -> list[MetricReport]:
        """Complete lines in one pass: runs of lines of a learned shape at once, the others (gaps) one by one."""
        out: list[MetricReport] = []
        pos, end = 0, len(text)
        while pos < end:
            shape = self._shape
            gap_end = end
            if shape is not None:
                rows: list[tuple[str, ...]] = []
                nxt = pos
                for m in shape.regex.finditer(text, pos):
                    if m.start() != nxt:
                        break
                    rows.append(m.groups())
                    nxt = m.end() + 1  # past the "\n" that ends the line ($ matches only there)
                if rows:
                    reports = shape.reports(rows, self._sticky_step)
                    out += reports if reports is not None else self._parse_lines(_LINE_BREAK.split(text[pos:nxt]))
                    pos = nxt
                    if pos >= end:
                        break
                m = shape.regex.search(text, pos)
                if m is not None:
                    gap_end = m.start()
            out += self._parse_lines(_LINE_BREAK.split(text[pos:gap_end]))
            pos = gap_end
        return out

    def _learn(self, shape: Shape | None) -> None:
        """Use a newly learned line shape from now on (kept with a few others the stream printed)."""
        self._learn_budget -= 1
        if shape is None:
            return
        known = self._shapes.get(shape.regex.pattern)
        if known is None:
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.pop(next(iter(self._shapes)))
            known = self._shapes[shape.regex.pattern] = shape
        self._shape = known

    def _check_pending(self) -> None:
        if len(self._pending) > MAX_LINE:
            self._refuse("long")
            self._pending = ""
            self._skipping = True

    def flush(self) -> list[MetricReport]:
        """End of stream: parse the last line even without a line break."""
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        if self._skipping:
            self._skipping = False
            return []
        return self._parse_lines(_LINE_BREAK.split(rest)) if rest else []

    def parse_line(self, line: str) -> list[MetricReport]:
        """One complete line (updates the Keras/table state like :meth:`feed` does)."""
        return self._parse_lines([line])

    def notes(self) -> list[str]:
        """One sentence per kind of line that was ignored (empty when none was)."""
        return [f"{n} output line{'s' if n != 1 else ''} ignored: {REFUSAL_REASONS.get(kind, kind)}"
                for kind, n in self.refused.items()]

    def _refuse(self, kind: str) -> None:
        self.refused[kind] = self.refused.get(kind, 0) + 1

    def _parse_lines(self, lines: Iterable[str]) -> list[MetricReport]:
        if self.regex is not None:
            return self._parse_user_regex([s for s in (strip_ansi(x) for x in lines if x) if s.strip()])
        out: list[MetricReport] = []
        for line in lines:
            if not line:
                continue
            if "\x1b" in line:
                line = strip_ansi(line)
            try:
                out.extend(self._parse_one(line))
            except LineRefused as exc:
                self._refuse(exc.kind)
        return out

    def _parse_one(self, line: str) -> list[MetricReport]:
        if len(line) > MAX_LINE:
            raise LineRefused("long")
        fast = plain_pairs(line)  # neither a Keras nor a table header (those hold no "="), nor a table row
        if fast is not None:
            if self._learn_budget > 0 and self.regex is None:
                self._learn(learn_plain(line))
            return self._with_sticky(fast)
        header_like = line.lstrip()[:6].lower().startswith(_STEP_PREFIXES)
        if self._table is None and "=" not in line and ":" not in line:
            # No token, no JSON: only a Keras header or a table header can matter here.
            if header_like:
                header = _KERAS_HEADER.match(line)
                if header:
                    self._sticky_step = int(header.group(1)) if len(header.group(1)) < 20 else None
                    return []
                table = _table_header(line)
                if table is not None:
                    self._table = table
            return []
        header = _KERAS_HEADER.match(line) if header_like else None  # both headers start with a step key
        if header:
            self._sticky_step = int(header.group(1)) if len(header.group(1)) < 20 else None
            return []
        if self._table is not None:
            rows = self._table.row(line)
            if rows is not None:
                return rows
        table = _table_header(line) if header_like else None
        if table is not None:
            self._table = table
            return []
        reports = parse_other_line(line)
        if reports and self._learn_budget > 0 and line[0] == "{" and self.regex is None:
            self._learn(learn_json(line))
        return self._with_sticky(reports)

    def _with_sticky(self, reports: list[MetricReport]) -> list[MetricReport]:
        """Reports without a step of their own take the step of the last Keras ``Epoch 3/10`` line."""
        if self._sticky_step is None or not reports:
            return reports
        sticky = self._sticky_step
        return [r if r.step is not None else MetricReport(r.name, r.value, sticky) for r in reports]

    def _parse_user_regex(self, lines: Sequence[str]) -> list[MetricReport]:
        assert self.regex is not None
        if not lines or self._regex_timeouts >= REGEX_MAX_TIMEOUTS:
            return []
        big = [line for line in lines if len(line) > MAX_LINE]
        for _ in big:
            self._refuse("long")
        if big:
            lines = [line for line in lines if len(line) <= MAX_LINE]
        groups = self.regex.groupindex
        out: list[MetricReport] = []
        for line, matches in zip(lines, regex_helper(self.regex.pattern).search(lines), strict=True):
            if matches is None:
                self._refuse("timeout")
                self._regex_timeouts += 1
                if self._regex_timeouts >= REGEX_MAX_TIMEOUTS:
                    self.refused["regex off"] = 1
                    break
                continue
            try:
                out.extend(self._regex_reports(line, matches, groups))
            except LineRefused as exc:
                self._refuse(exc.kind)
        return out

    def _regex_reports(self, line: str, matches: list[dict[str, str | None]],
                       groups: Any) -> list[MetricReport]:
        out = []
        line_step_known = False
        this_line_step: Step | None = None
        for m in matches:
            value = to_float(m.get("value") or "")
            if value is None:
                continue
            name = m.get("name") if "name" in groups else None
            name = name or self.default_name or "value"
            raw_step = m.get("step")
            step = step_from(raw_step) if raw_step is not None else None
            if step is None and "step" not in groups:
                if not line_step_known:
                    this_line_step = line_step(line, scan_tokens(line)[1])
                    line_step_known = True
                step = this_line_step
            out.append(MetricReport(name, value, step))
        return out


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
