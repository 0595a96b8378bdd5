"""Line shapes: read a run of lines that differ only in their numbers with one regex over the whole chunk.

Why: a training loop prints the same line a million times with new numbers (``step=41 loss=0.31``, or
``{"step": 41, "loss": 0.31}``), and Python work per line is what made a million lines cost a minute. After
the grammar (:mod:`.lines`) has read one such line, :func:`learn_shape` turns it into a :class:`Shape`: the
line with each number replaced by a capture group, the rest literal. :meth:`MetricParser.feed
<hposweep.execution.metrics.parser.MetricParser.feed>` then finds every following line of that shape in a
chunk with one ``finditer`` and converts each column of numbers at once; any other line (a gap) goes
through the grammar as before.

A shape is learned only from the two families where the grammar's result depends on the numbers in a way
the shape reproduces exactly: lines of only ``NAME=NUMBER`` pairs one space apart (no multi-word names, no
step words, see :func:`~hposweep.execution.metrics.lines.plain_pairs`) and flat JSON objects of numbers.
The patterns are stricter than the grammar (step columns take whole numbers of at most 15 digits, values at
most 40 digits and a 3-digit exponent), so a line they refuse is simply read by the grammar; a column holding
a number that would overflow a float (or JSON's ``-0``) sends the whole run back to the grammar too, so the
refusals and counts of :mod:`.lines` stay exactly as they were.
"""

from __future__ import annotations

import math
import re
from itertools import repeat
from typing import Any

from hposweep.execution.metrics.lines import MAX_LINE, STEP_KEYS, MetricReport, Step

_RANK = {k: i for i, k in enumerate(STEP_KEYS)}
#: a step column: a whole number below 2**53 (every 15-digit number is)
_STEP_INT = r"([0-9]{1,15})"
#: a value in a ``NAME=NUMBER`` line (the grammar's number, with bounded digits)
_PLAIN_VALUE = r"([-+]?(?:[0-9]{1,40}\.?[0-9]{0,40}|\.[0-9]{1,40})(?:[eE][-+]?[0-9]{1,3})?|(?i:nan|inf(?:inity)?))"
#: a value in a JSON line (JSON's number grammar, with bounded digits, and Python's NaN/Infinity)
_JSON_VALUE = r"(-?(?:0|[1-9][0-9]{0,39})(?:\.[0-9]{1,40})?(?:[eE][-+]?[0-9]{1,3})?|NaN|-?Infinity)"
_JSON_STEP = r"(0|[1-9][0-9]{0,14})"
_JSON_PAIR = re.compile(r'(\s*"([^"\\]*)"\s*:\s*)' + _JSON_VALUE + r"(\s*[,}])")
#: the longest a value or step column can be, to bound a matched line below MAX_LINE
_COLUMN_MAX = 100
#: shapes kept per stream (a program alternating a few line formats keeps all of them)
MAX_SHAPES = 16


class Shape:
    """One learned line shape: its regex, the name of each number column, and which column is the step."""

    __slots__ = ("regex", "names", "step_col", "metric_cols", "json")

    def __init__(self, pattern: str, names: list[str], *, json: bool) -> None:
        self.regex = re.compile(pattern, re.MULTILINE)
        self.names = names
        self.json = json
        best: tuple[int, int] | None = None
        for i, name in enumerate(names):
            rank = _RANK.get(name.lower())
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, i)
        self.step_col = best[1] if best else None
        self.metric_cols = [(i, n) for i, n in enumerate(names) if n.lower() not in _RANK]

    def reports(self, rows: list[tuple[str, ...]], sticky: Step | None) -> list[MetricReport] | None:
        """The reports of matched lines (``rows``: each line's captured numbers); None: let the grammar read them."""
        cols = list(zip(*rows))
        steps: Any = map(int, cols[self.step_col]) if self.step_col is not None else repeat(sticky)
        if len(self.metric_cols) == 1:
            i, name = self.metric_cols[0]
            values = self._values(cols[i])
            if values is None:
                return None
            return list(map(MetricReport, repeat(name), values, steps))
        columns = []
        for i, name in self.metric_cols:
            values = self._values(cols[i])
            if values is None:
                return None
            columns.append((name, values))
        out: list[MetricReport] = []
        for r, step in zip(range(len(rows)), steps):
            out.extend([MetricReport(name, values[r], step) for name, values in columns])
        return out

    def _values(self, texts: tuple[str, ...]) -> list[float] | None:
        if self.json and "-0" in texts:  # JSON's int -0 is 0.0, float("-0") is -0.0
            return None
        values = list(map(float, texts))
        if math.inf in values or -math.inf in values:  # "inf" is fine, 1e999 is refused: the grammar says which
            return None
        return values


def learn_plain(line: str) -> Shape | None:
    """The shape of a line :func:`~hposweep.execution.metrics.lines.plain_pairs` read."""
    names = [pair.partition("=")[0] for pair in line.split(" ")]
    if sum(map(len, names)) + _COLUMN_MAX * len(names) > MAX_LINE:
        return None
    parts = [re.escape(n) + "=" + (_STEP_INT if n.lower() in _RANK else _PLAIN_VALUE) for n in names]
    return _own(Shape("^" + " ".join(parts) + "$", names, json=False), line)


def _own(shape: Shape, line: str) -> Shape | None:
    """The shape, if it reads the line it was learned from (``step=1.5`` does not fit a whole-number column)."""
    return shape if shape.regex.match(line) else None


def learn_json(line: str) -> Shape | None:
    """The shape of a flat JSON object of numbers (the whole stripped line), else None."""
    if not line.startswith("{") or not line.endswith("}") or line != line.strip():
        return None
    pos, parts, names = 1, ["^\\{"], []
    while True:
        m = _JSON_PAIR.match(line, pos)
        if m is None:
            return None
        prefix, name, _, suffix = m.groups()
        names.append(name)
        parts.append(re.escape(prefix) + (_JSON_STEP if name.lower() in _RANK else _JSON_VALUE) + re.escape(suffix))
        pos = m.end()
        if suffix.endswith("}"):
            break
    if pos != len(line) or len(set(names)) != len(names):  # a duplicate key keeps its first place, last value
        return None
    if len(line) + _COLUMN_MAX * len(names) > MAX_LINE:
        return None
    return _own(Shape("".join(parts) + "$", names, json=True), line)
