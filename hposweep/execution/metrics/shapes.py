"""Line shapes: read a run of lines that differ only in their numbers with one regex over the whole chunk.

Why: a training loop prints the same line a million times with new numbers (``step=41 loss=0.31``,
``{"step": 41, "loss": 0.31}``, a tqdm bar redrawn with ``\r``), and Python work per line is what made a
million lines cost a minute. After the grammar (:mod:`.lines`) has read a line, it is learned as a shape:
the line with its numbers replaced by capture groups, the rest literal. :meth:`MetricParser.feed
<hposweep.execution.metrics.parser.MetricParser.feed>` then takes a whole run of following lines of that
shape with one ``match`` and one ``findall``, and converts the captured numbers column by column; any
other line (a gap) goes through the grammar as before. Nothing is thinned: every line still gives exactly
the reports the grammar gives it (``tests/test_throughput_parser.py`` checks this against the grammar).

Three kinds of shape, each exact by construction:

* :class:`Shape` from a line of only ``NAME=NUMBER`` pairs one space apart (no multi-word names, no step
  words, see :func:`~hposweep.execution.metrics.lines.plain_pairs`), or from a flat JSON object of numbers;
* :class:`Template` from any other line the general rules read: its free-standing digit runs may change.

The patterns are stricter than the grammar (step columns of a :class:`Shape` take whole numbers of at most
15 digits, values at most 40 digits and a 3-digit exponent; every line stays within ``MAX_LINE``), so a
line they refuse is simply read by the grammar; a run holding a number that would overflow a float (or
JSON's ``-0``) goes back to the grammar too, so the refusals and their counts stay exactly as they were.
"""

from __future__ import annotations

import math
import re
from itertools import repeat
from typing import Any

from hposweep.execution.metrics.lines import (
    BRACKET_STEP,
    MAX_LINE,
    NAME_START,
    STEP_RANK,
    STEP_WORD,
    TOKEN,
    LineRefused,
    MetricReport,
    Step,
    best_step,
    step_from,
    words_before,
)

_RANK = STEP_RANK
#: a step column: a whole number below 2**53 (every 15-digit number is)
_STEP_INT = r"([0-9]{1,15})"
#: a value in a ``NAME=NUMBER`` line (the grammar's number, with bounded digits)
_PLAIN_VALUE = r"([-+]?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})(?:[eE][-+]?[0-9]{1,3})?|(?i:nan|inf(?:inity)?))"
#: a value in a JSON line (JSON's number grammar, with bounded digits, and Python's NaN/Infinity)
_JSON_VALUE = r"(-?(?:0|[1-9][0-9]{0,39})(?:\.[0-9]{1,40})?(?:[eE][-+]?[0-9]{1,3})?|NaN|-?Infinity)"
_JSON_STEP = r"(0|[1-9][0-9]{0,14})"
_JSON_PAIR = re.compile(r'(\s*"([^"\\]*)"\s*:\s*)' + _JSON_VALUE + r"(\s*[,}])")
#: the longest a value or step column can be, to bound a matched line below MAX_LINE
_COLUMN_MAX = 100
#: shapes kept per stream (a program alternating a few line formats keeps all of them)
MAX_SHAPES = 16


def run_regex(pattern: str) -> re.Pattern[str]:
    """A run of consecutive lines of the shape ``^...$``, each ended by ``\\n``: found by one match.

    Nothing follows the repetition, so a line that does not fit only ends the run (no backtracking into the
    lines before it).
    """
    return re.compile("(?:" + pattern[1:-1] + "\n)+")


def rows_of(shape: Shape | Template, text: str, pos: int, end: int) -> list[tuple[str, ...]]:
    """Each line's captured texts in ``text[pos:end]`` (a run of the shape's lines), one ``findall``."""
    found = shape.regex.findall(text, pos, end)
    groups = shape.regex.groups
    if groups == 1:
        return [(x,) for x in found]
    return found if groups else [()] * len(found)


class Shape:
    """One learned line shape: its regex, the name of each number column, and which column is the step."""

    __slots__ = ("regex", "run", "names", "step_col", "metric_cols", "json")
    #: also while a table is active (such a line is never a table row)
    anywhere = True
    #: its lines always carry a number to report
    empty = False

    def __init__(self, pattern: str, names: list[str], *, json: bool) -> None:
        self.regex = re.compile(pattern, re.MULTILINE)
        self.run = run_regex(pattern)
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
        return self.column_reports(list(zip(*rows)), sticky)

    def column_reports(self, cols: list[Any], sticky: Step | None) -> list[MetricReport] | None:
        """:meth:`reports` from the numbers as columns (one sequence of texts per capture group)."""
        if not cols:
            return []
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
        for r, step in zip(range(len(cols[0])), steps):
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


# --- any other line: its digits may change, nothing else ---------------------------------------------------
_DIGITS = re.compile(r"[0-9]+")
#: how one number of a templated line is rebuilt: literal text and captured digit runs (by group number)
Recipe = tuple[str | int, ...]
Formatter = Any  # str.format of a recipe (see _formatter)


class Template:
    """A line read by the grammar's general rules, as a pattern where its free-standing digit runs may change.

    Why this is exact: the grammar's regexes treat every ASCII digit alike and never count digits, so a line
    that differs from the learned one only in the digit runs outside names (counters, times, values) has
    the same tokens, the same names and the same step sources; only the numbers differ, and those are
    rebuilt from the captured runs and converted by the grammar's own functions (:func:`to_float`,
    :func:`step_from`, :func:`best_step`). Digits inside a name (``valid_0``, ``np.float64(``, the words
    joined to a name) stay literal. A line that would be refused (a number out of range) sends its run back
    to the grammar, which counts it.
    """

    __slots__ = ("regex", "run", "metrics", "step_tokens", "step_words", "bracket", "empty")
    #: not while a table is active: with other digits, the line could be one of its rows
    anywhere = False

    def __init__(self, pattern: str, metrics: list[tuple[str, Recipe]], step_tokens: list[tuple[str, Recipe]],
                 step_words: list[tuple[str, Recipe]], bracket: Recipe | None) -> None:
        self.regex = re.compile(pattern, re.MULTILINE)
        self.run = run_regex(pattern)
        self.metrics = [(name, _formatter(r)) for name, r in metrics]
        self.step_tokens = [(key, _formatter(r)) for key, r in step_tokens]
        self.step_words = [(key, _formatter(r)) for key, r in step_words]
        self.bracket = _formatter(bracket) if bracket is not None else None
        #: a line with no token at all gives nothing, whatever its digits (a plain progress bar)
        self.empty = not metrics and not step_tokens

    def reports(self, rows: list[tuple[str, ...]], sticky: Step | None) -> list[MetricReport] | None:
        if self.empty:
            return []
        try:
            return self._reports(rows, sticky)
        except (LineRefused, ValueError):
            return None

    def _reports(self, rows: list[tuple[str, ...]], sticky: Step | None) -> list[MetricReport] | None:
        # The grammar's order: step-key tokens are converted (and may refuse the line) even with no metric.
        token_steps = [(key, [step_from(fmt(*row)) for row in rows]) for key, fmt in self.step_tokens]
        if not self.metrics:
            return []
        columns = []
        for name, fmt in self.metrics:
            values = list(map(float, [fmt(*row) for row in rows]))
            if math.inf in values or -math.inf in values:  # "inf" or 1e999 (refused): the grammar says which
                return None
            columns.append((name, values))
        steps: Any = repeat(sticky)
        if token_steps or self.step_words or self.bracket is not None:
            steps = [self._step(i, row, token_steps, sticky) for i, row in enumerate(rows)]
        if len(columns) == 1:
            name, values = columns[0]
            return list(map(MetricReport, repeat(name), values, steps))
        out: list[MetricReport] = []
        for i, step in zip(range(len(rows)), steps):
            out.extend([MetricReport(name, values[i], step) for name, values in columns])
        return out

    def _step(self, i: int, row: tuple[str, ...], token_steps: list[tuple[str, list[Step | None]]],
              sticky: Step | None) -> Step | None:
        """The step of one line, as :func:`~hposweep.execution.metrics.lines.line_step` finds it."""
        found: list[tuple[str, Step]] = []
        for key, steps in token_steps:
            token_step = steps[i]
            if token_step is not None:
                found.append((key, token_step))
        for key, fmt in self.step_words:
            n = fmt(*row)
            step = step_from(int(n) if len(n) < 30 else n)
            if step is not None:
                found.append((key, step))
        line_step = best_step(found) if found else None
        if line_step is None and self.bracket is not None:
            n = self.bracket(*row)
            line_step = step_from(int(n) if len(n) < 30 else n)
        return sticky if line_step is None else line_step


def _formatter(recipe: Recipe) -> Any:
    """A recipe as a ``str.format`` bound method taking a line's captured runs: one C call per number."""
    return "".join(f"{{{p}}}" if isinstance(p, int) else p.replace("{", "{{").replace("}", "}}")
                   for p in recipe).format


def learn_template(line: str) -> Template | None:
    """The template of a line the general rules read (not JSON, not a header, no table active), else None."""
    if len(line) > MAX_LINE // 2 or line.lstrip().startswith("{") or "\n" in line:
        return None
    fixed: list[tuple[int, int]] = []  # spans whose digits are part of a name: literal
    cuts: set[int] = set()  # where a number starts or ends: a piece boundary
    metrics: list[tuple[str, tuple[int, int]]] = []
    step_tokens: list[tuple[str, tuple[int, int]]] = []
    first = NAME_START.search(line)
    for m in TOKEN.finditer(line, first.start()) if first is not None else ():
        name, sub = m.group("name", "sub")
        start = m.start()
        span = m.span("value")
        if sub is not None:
            name = f"{name}-{sub}"
        elif name.lower() in STEP_RANK:
            step_tokens.append((name, span))
            fixed.append((start, span[0]))
            cuts.update(span)
            continue
        if not m.group("q"):
            before = words_before(line, start)
            if before:
                name = "_".join(before) + "_" + name
                start -= sum(len(w) + 1 for w in before)
        metrics.append((name, span))
        fixed.append((start, span[0]))
        cuts.update(span)
    step_words: list[tuple[str, tuple[int, int]]] = []
    lower = line.lower()
    if not any(k.lower() == "epoch" for k, _ in step_tokens) and ("epoch" in lower or "step" in lower
                                                                   or "iter" in lower):
        for m in STEP_WORD.finditer(line):
            step_words.append((m.group("key"), m.span("n")))
            cuts.update(m.span("n"))
    bracket_span = None
    bracket = BRACKET_STEP.match(line) if line.startswith("[") else None
    if bracket is not None:
        bracket_span = bracket.span(1)
        cuts.update(bracket_span)
    # Pieces: literal text, and the free-standing digit runs as groups.
    slots = [m.span() for m in _DIGITS.finditer(line)
             if not any(a <= m.start() < b for a, b in fixed)]
    bounds = sorted(cuts | {0, len(line)} | {p for s in slots for p in s})
    slot_starts = {a: b for a, b in slots}
    pieces: list[tuple[int, int, int | None]] = []  # (start, end, group or None)
    group = 0
    for a, b in zip(bounds, bounds[1:]):
        if a in slot_starts and slot_starts[a] == b:
            pieces.append((a, b, group))
            group += 1
        else:
            pieces.append((a, b, None))
    # Bounded runs: a matched line stays within MAX_LINE, as the grammar requires of a line it reads.
    room = (MAX_LINE - len(line)) // max(1, group)
    slot = f"([0-9]{{1,{room}}})"
    pattern = "^" + "".join(slot if g is not None else re.escape(line[a:b]) for a, b, g in pieces) + "$"

    def recipe(span: tuple[int, int]) -> Recipe:
        return tuple(g if g is not None else line[a:b] for a, b, g in pieces if span[0] <= a and b <= span[1])

    template = Template(pattern, [(n, recipe(s)) for n, s in metrics], [(k, recipe(s)) for k, s in step_tokens],
                        [(k, recipe(s)) for k, s in step_words], recipe(bracket_span) if bracket_span else None)
    return template if template.regex.match(line) else None
