"""A trial's output stream into reports: line breaks, tables, Keras headers, and the user's regex.

:class:`MetricParser` is fed chunks as they arrive and parses each completed line with the grammar of
:mod:`hposweep.execution.metrics.lines`, keeping the little state a stream has (a partial line, a
fastai table header, a Keras ``Epoch 3/10`` line). Lines outside the bounds are counted, never
fatal: :meth:`MetricParser.notes` says once per kind what was ignored.

``--metric-regex`` is searched in a helper process (:mod:`.userregex`), never in the loop.

Runs of lines of one shape are read at once (:mod:`.shapes`); every other line by the grammar.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
from hposweep.execution.metrics.shapes import (
    MAX_SHAPES,
    Shape,
    Template,
    learn_json,
    learn_plain,
    learn_template,
    rows_of,
)
from hposweep.execution.metrics.userregex import (
    REGEX_LINE_TIMEOUT,
    REGEX_MAX_TIMEOUTS,
    compile_user_regex,
    regex_helper,
)

#: new line shapes tried per chunk (a stream whose lines never repeat a shape must not pay for it on every line)
_LEARN_PER_CHUNK = 4
#: lines read by the grammar before the shapes are tried again
_GAP_LINES = 8
_BREAKS = re.compile(r"[\r\n\x08]+")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x08]+")
_KERAS_HEADER = re.compile(r"^\s*Epoch\s+(\d+)\s*/\s*\d+\s*$")
_TABLE_CELL_TIME = re.compile(r"^\d+:\d\d(?::\d\d)?$")


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
        self._shapes: dict[str, Shape | Template] = {}
        self._shape: Shape | Template | None = None
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
        if "\r" in text or "\x08" in text:  # the same lines, each ended by one "\n" (what $ knows)
            text = _BREAKS.sub("\n", text)
        pos, end = 0, len(text)
        next_at: dict[int, int] = {}  # a shape's next line in the text (searched once, not once per gap)
        while pos < end:
            shape = self._usable_shape()
            gap_end = end
            if shape is not None:
                run = shape.run.match(text, pos)
                if run is not None:
                    nxt = run.end()
                    reports = [] if shape.empty else shape.reports(rows_of(shape, text, pos, nxt), self._sticky_step)
                    out += reports if reports is not None else self._parse_lines(_LINE_BREAK.split(text[pos:nxt]))
                    pos = nxt
                    continue
                other = self._known_shape_at(text, pos)
                if other is not None:  # a line of another shape this stream printed (alternating formats)
                    self._shape = other
                    continue
                gap_end = next_at.get(id(shape), -1)
                if gap_end < pos:
                    again = shape.regex.search(text, pos)
                    gap_end = next_at[id(shape)] = again.start() if again is not None else end
            cut = pos
            for _ in range(_GAP_LINES):  # a short gap: the lines after it may be of a shape learned in it
                cut = text.find("\n", cut) + 1
                if cut <= 0 or cut >= gap_end:
                    break
            else:
                gap_end = cut
            out += self._parse_lines(_LINE_BREAK.split(text[pos:gap_end]))
            pos = gap_end
        return out

    def _known_shape_at(self, text: str, pos: int) -> Shape | Template | None:
        for shape in self._shapes.values():
            if shape is not self._shape and (shape.anywhere or self._table is None) and shape.regex.match(text, pos):
                return shape
        return None

    def _usable_shape(self) -> Shape | Template | None:
        shape = self._shape
        return shape if shape is not None and (shape.anywhere or self._table is None) else None

    def _learn(self, shape: Shape | Template | None) -> None:
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
            if self._learn_budget > 0 and self.regex is None:
                self._learn(learn_template(line))
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
        if self._learn_budget > 0 and self.regex is None and self._table is None:
            if line[0] == "{":
                if reports:
                    self._learn(learn_json(line))
            else:
                self._learn(learn_template(line))
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
