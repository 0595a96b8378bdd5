"""Metrics from a trial's output: what the user's program prints, parsed line by line.

Nothing here knows about samplers or the Study: bytes go in, :class:`MetricReport` objects come
out, and :class:`MetricTracker` folds them into the numbers a trial records. It runs on every line
a trial prints, so the common case (a line with no ``=`` or ``:``) costs one substring test.

Output grammar (the default, without ``--metric-regex``)
--------------------------------------------------------
Lines end at ``\\n``, ``\\r`` or backspaces (progress bars redraw with ``\\r``; an unfinished line
is never parsed), ANSI escape sequences (colours, cursor moves) are dropped first. Then a line is
read in this order:

1. **JSON line** - the whole line (stripped) is a JSON object ``{...}``: every numeric entry is a
   metric, nested objects give ``outer/inner`` names, booleans and strings are ignored. Any other
   ``{...}`` line, such as the Python dict reprs HF Trainer prints (``{'loss': 0.4, 'epoch': 1.0}``,
   ``{'eval_loss': nan}``, ``np.float64(0.4)`` values), is read by rule 3, whose names may be quoted.
2. **Table rows** (fastai) - a header line made only of names whose first name is a step key
   (``epoch  train_loss  valid_loss  accuracy  time``) makes the following lines with the same
   number of columns, all numbers except ``mm:ss`` times, into one report per column.
3. **name/value tokens** anywhere in the line: ``NAME SEP VALUE`` where

   * ``NAME`` starts with a letter or ``_`` and continues with letters, digits, ``_ . / -``
     (ending on a letter, digit or ``_``), optionally quoted with ``'`` or ``"``. It must not be
     glued to a preceding name character, so in ``INFO:root:val_loss=0.3`` the name is
     ``val_loss``. LightGBM's ``valid_0's l2: 0.5`` is read as ``valid_0-l2`` (XGBoost style).
   * ``SEP`` is ``=`` or ``:`` with optional spaces around (``val_loss = 0.41``, ``loss: 0.2``).
   * ``VALUE`` is a decimal number with optional sign, fraction and exponent (``1e-05``), or
     ``nan``/``inf``/``infinity`` in any case with optional sign; ``tensor(0.41)`` and
     ``np.float64(0.41)`` wrappers are unwrapped. It must end the token: it is followed by the end
     of the line, a space, one of ``, ; | ) ] }``, a sentence-ending ``.``, or ``%`` (the number
     is kept as printed: ``acc=91%`` is 91.0). So ``ETA: 0:01:02``, ``time=12:30:01``,
     ``version=1.2.3`` and ``2024-01-01`` give nothing, and a tqdm bar ``Training: 50%|###``
     (a percentage followed by ``|``) is not a metric either.

   Only the word before the separator is the name: ``Test loss: 0.3`` reports ``loss``. A name and
   a value with no separator (``loss 0.3``) or a rich/box table is not read: use the metrics file or
   ``--metric-regex`` for those. Names are case-sensitive and matched exactly.

Steps: a report's step comes from a *step key* on the same line, in this order of preference:
``epoch``, ``step``, ``global_step``, ``iteration``, ``iter`` (any case). Epochs come first because
a batch counter depends on the batch size, which is often one of the swept parameters. A step key
may also be written with a space (``epoch 3``, ``Epoch 3/10``, ``Epoch 3: 100%|...``); a float is
truncated (``'epoch': 1.0`` -> 1). A leading ``[10]`` (XGBoost, LightGBM) is step 10. A line that
is only ``Epoch 3/10`` (Keras prints it above the epoch's progress line) sets step 3 for the
following lines of that stream until the next such line. Step keys are not reported as metrics.
Reports without any step get ``step=None``; :class:`MetricTracker` numbers those.

``--metric-regex``: a user regex replaces rules 1-3. It is searched (``finditer``) in every line;
named group ``value`` is required, ``name`` optional (else the study's metric name is used), and
``step`` optional (else the step keys above apply).
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hposweep.errors import ConfigError

#: a line longer than this is cut (and a partial line this long is parsed as a line): a program
#: printing megabytes without a newline must not make the parser's buffer grow without bound
MAX_LINE = 65536

#: in order of preference when a line holds several
STEP_KEYS = ("epoch", "step", "global_step", "iteration", "iter")
_STEP_RANK = {k: i for i, k in enumerate(STEP_KEYS)}


@dataclass(slots=True)
class MetricReport:
    """One number a trial reported: ``name``, ``value``, and the step it belongs to if known.

    Not frozen only because frozen dataclasses are three times slower to create, and one is made
    for every number a trial prints; treat it as immutable.
    """

    name: str
    value: float
    step: int | None = None


# --- lexical pieces ---------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x08]+")
_NUMBER = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf(?:inity)?))"
_NAME = r"[A-Za-z_](?:[\w./-]*\w)?"
_TOKEN = re.compile(
    r"(?<![\w./'\"-])"  # not glued to a preceding name
    r"(?P<q>['\"]?)(?P<name>" + _NAME + r")(?:'s\s+(?P<sub>" + _NAME + r"))?(?P=q)"
    r"\s*[=:]\s*"
    r"(?:tensor\(|(?:np|numpy|torch)\.\w+\()?"
    r"(?P<value>" + _NUMBER + r")"
    r"(?=$|[\s,;|)\]}]|\.(?:\s|$)|%(?!\|))"
)
_STEP_WORD = re.compile(r"(?<![\w./-])(?P<key>epoch|global_step|step|iteration|iter)\s+(?P<n>\d+)(?=$|[\s/:,;|)\]])",
                        re.IGNORECASE)
_BRACKET_STEP = re.compile(r"^\[(\d+)\]\s")
_KERAS_HEADER = re.compile(r"^\s*Epoch\s+(\d+)\s*/\s*\d+\s*$")
_TABLE_CELL_TIME = re.compile(r"^\d+:\d\d(?::\d\d)?$")
_NUMBER_FULL = re.compile(_NUMBER + r"$")
_NAME_FULL = re.compile(_NAME + r"$")


def strip_ansi(text: str) -> str:
    """Drop terminal escape sequences (colours, cursor moves, OSC titles)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _step_from(value: Any) -> int | None:
    """A step key's value as a step: a finite non-negative number, truncated (``1.0`` -> 1)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = _to_float(value)
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return int(value)
    return None


def _best_step(found: Iterable[tuple[str, int]]) -> int | None:
    """The step of the most preferred step key among ``(key, step)`` pairs."""
    best: tuple[int, int] | None = None
    for key, step in found:
        rank = _STEP_RANK.get(key.lower())
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, step)
    return best[1] if best else None


# --- structured lines (JSON, Python dict reprs, metrics file) ---------------------------------
def _flatten(obj: Mapping[Any, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + "/")
        else:
            yield name, value


def _reports_from_mapping(obj: Mapping[Any, Any], step: int | None = None) -> list[MetricReport]:
    """Numeric entries as reports; step keys give the step (unless ``step`` is given)."""
    # The explicit one-metric form {"name": "val_loss", "value": 0.3, "step": 2}.
    if isinstance(obj.get("name"), str) and "value" in obj and set(obj) <= {"name", "value", "step"}:
        value = obj["value"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            own = _step_from(obj.get("step")) if "step" in obj else None
            return [MetricReport(obj["name"], float(value), own if own is not None else step)]
    items = list(_flatten(obj))
    if step is None:
        step = _best_step((k, s) for k, v in items if k.lower() in _STEP_RANK and (s := _step_from(v)) is not None)
    out = []
    for name, value in items:
        if name.lower() in _STEP_RANK or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out.append(MetricReport(name, float(value), step))
    return out


def _parse_object_line(line: str) -> list[MetricReport] | None:
    """Rule 1: a line that is a JSON object; None if it is not (Python dict reprs go to rule 3)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return _reports_from_mapping(obj)


def parse_json_metrics_line(line: str | bytes) -> list[MetricReport]:
    """Reports of one line of the metrics file (``HPOSWEEP_METRICS_FILE``, JSON lines).

    Each line is a JSON object: either ``{"val_loss": 0.41, "acc": 0.9, "epoch": 3}`` (every numeric
    entry a metric, step keys as in the output grammar, nested objects named ``outer/inner``) or
    ``{"name": "val_loss", "value": 0.41, "step": 3}``. ``NaN``/``Infinity`` are accepted (Python's
    ``json.dumps`` writes them). A malformed line is ignored: the file is the user's, and one bad
    line must not fail the trial.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line.startswith("{"):
        return []
    try:
        obj = json.loads(line)
    except ValueError:
        return []
    return _reports_from_mapping(obj) if isinstance(obj, dict) else []


# --- free text ----------------------------------------------------------------------------------
def _line_steps(line: str, found: list[tuple[str, int]]) -> int | None:
    """The step a line states: step-key tokens (``found``), ``epoch 3`` words, or a leading ``[10]``."""
    # Step words ("epoch 3") are rarer and cost a second scan: skip it when it cannot change the answer.
    if not any(k.lower() == "epoch" for k, _ in found):
        lower = line.lower()
        if "epoch" in lower or "step" in lower or "iter" in lower:
            found = found + [(m.group("key"), int(m.group("n"))) for m in _STEP_WORD.finditer(line)]
    step = _best_step(found) if found else None
    if step is None and line.startswith("["):
        m = _BRACKET_STEP.match(line)
        if m:
            step = int(m.group(1))
    return step


def _scan_tokens(line: str) -> tuple[list[tuple[str, float]], list[tuple[str, int]]]:
    """Rule 3's ``name: value`` tokens, split into metrics and step keys."""
    metrics: list[tuple[str, float]] = []
    steps: list[tuple[str, int]] = []
    for m in _TOKEN.finditer(line):
        name, sub, text = m.group("name", "sub", "value")
        if sub is not None:
            name = f"{name}-{sub}"
        elif name.lower() in _STEP_RANK:
            step = _step_from(text)
            if step is not None:
                steps.append((name, step))
            continue
        metrics.append((name, float(text)))
    return metrics, steps


def parse_text_line(line: str) -> list[MetricReport]:
    """Rules 1 and 3 of the grammar on one complete, ANSI-free line (no table state)."""
    if line.startswith("{") or line.lstrip().startswith("{"):
        stripped = line.strip()
        if stripped.endswith("}"):
            reports = _parse_object_line(stripped)
            if reports is not None:
                return reports
    if "=" not in line and ":" not in line:
        return []
    metrics, steps = _scan_tokens(line)
    if not metrics:
        return []
    step = _line_steps(line, steps)
    return [MetricReport(name, value, step) for name, value in metrics]


@dataclass
class _Table:
    """A fastai-style table header seen earlier in the stream (rule 2)."""

    columns: list[str]

    def row(self, line: str) -> list[MetricReport] | None:
        cells = line.split()
        if len(cells) != len(self.columns) or not _NUMBER_FULL.match(cells[0]):
            return None
        pairs = []
        for col, cell in zip(self.columns, cells, strict=True):
            if _TABLE_CELL_TIME.match(cell):
                continue
            if not _NUMBER_FULL.match(cell):
                return None
            pairs.append((col, float(cell)))
        step = _step_from(pairs[0][1]) if pairs and pairs[0][0].lower() in _STEP_RANK else None
        return [MetricReport(c, v, step) for c, v in pairs if c.lower() not in _STEP_RANK]


def _table_header(line: str) -> _Table | None:
    cells = line.split()
    if len(cells) >= 2 and cells[0].lower() in _STEP_RANK and all(_NAME_FULL.match(c) for c in cells):
        return _Table(cells)
    return None


class MetricParser:
    """Incremental parser: feed it output chunks as they arrive, get reports of complete lines.

    One parser per stream (stdout and stderr each need their own, or a partial line of one would
    be glued to the other's). ``regex`` is the user's ``--metric-regex``; ``default_name`` names the
    metric of a regex without a ``name`` group (the study's metric).
    """

    def __init__(self, regex: str | None = None, *, default_name: str | None = None) -> None:
        self.regex = _compile_user_regex(regex, default_name) if regex else None
        self.default_name = default_name
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._sticky_step: int | None = None  # Keras "Epoch 3/10" header
        self._table: _Table | None = None

    def feed(self, chunk: bytes | str) -> list[MetricReport]:
        """Add output; return the reports of every line completed by it."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return []
        buf = self._pending + text
        last = max(buf.rfind("\n"), buf.rfind("\r"), buf.rfind("\x08"))
        if last < 0:
            if len(buf) > MAX_LINE:
                self._pending = ""
                return self._parse_lines([buf])
            self._pending = buf
            return []
        self._pending = buf[last + 1:]
        reports = self._parse_lines(_LINE_BREAK.split(buf[: last + 1]))
        if len(self._pending) > MAX_LINE:
            reports += self._parse_lines([self._pending])
            self._pending = ""
        return reports

    def flush(self) -> list[MetricReport]:
        """End of stream: parse the last line even without a line break."""
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return self._parse_lines(_LINE_BREAK.split(rest)) if rest else []

    def parse_line(self, line: str) -> list[MetricReport]:
        """One complete line (updates the Keras/table state like :meth:`feed` does)."""
        return self._parse_lines([line])

    def _parse_lines(self, lines: Iterable[str]) -> list[MetricReport]:
        out: list[MetricReport] = []
        for line in lines:
            if not line:
                continue
            line = strip_ansi(line[:MAX_LINE])
            if not line.strip():
                continue
            out.extend(self._parse_one(line))
        return out

    def _parse_one(self, line: str) -> list[MetricReport]:
        if self.regex is not None:
            return self._parse_user_regex(line)
        header = _KERAS_HEADER.match(line)
        if header:
            self._sticky_step = int(header.group(1))
            return []
        if self._table is not None:
            rows = self._table.row(line)
            if rows is not None:
                return rows
        table = _table_header(line)
        if table is not None:
            self._table = table
            return []
        return self._with_sticky(parse_text_line(line))

    def _with_sticky(self, reports: list[MetricReport]) -> list[MetricReport]:
        if self._sticky_step is None:
            return reports
        return [r if r.step is not None else MetricReport(r.name, r.value, self._sticky_step) for r in reports]

    def _parse_user_regex(self, line: str) -> list[MetricReport]:
        assert self.regex is not None
        groups = self.regex.groupindex
        out = []
        line_step: int | None = None
        line_step_known = False
        for m in self.regex.finditer(line):
            value = _to_float(m.group("value") or "")
            if value is None:
                continue
            name = m.group("name") if "name" in groups else None
            name = name or self.default_name or "value"
            step = _step_from(m.group("step")) if "step" in groups and m.group("step") is not None else None
            if step is None and "step" not in groups:
                if not line_step_known:
                    line_step = _line_steps(line, _scan_tokens(line)[1])
                    line_step_known = True
                step = line_step
            out.append(MetricReport(name, value, step))
        return out


def _compile_user_regex(regex: str, default_name: str | None) -> re.Pattern[str]:
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


# --- the metrics file ---------------------------------------------------------------------------
class MetricsFileTailer:
    """Follows a JSON-lines metrics file the trial appends to; each poll returns the new reports.

    Only complete lines (ending with ``\\n``) are read, so a line being written is picked up on the
    next poll. The file may not exist yet (or ever): that is not an error. If it shrinks (the
    program truncated and rewrote it), reading restarts at the beginning.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[MetricReport]:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return []
        if size < self._offset:
            self._offset, self._partial = 0, b""
        if size == self._offset:
            return []
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read(size - self._offset)
        except OSError:
            return []
        self._offset += len(data)
        data = self._partial + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1:]
        out: list[MetricReport] = []
        for raw in data[:cut].split(b"\n"):
            out.extend(parse_json_metrics_line(raw))
        return out

    def flush(self) -> list[MetricReport]:
        """After the trial ended: also read a last line written without its newline."""
        out = self.poll()
        if self._partial.strip():
            out.extend(parse_json_metrics_line(self._partial))
        self._partial = b""
        return out


# --- folding reports into a trial's numbers -----------------------------------------------------
@dataclass
class ObjectiveHistory:
    """What one objective metric reported: values by step, the last one and the best finite one."""

    direction: str = "minimize"
    intermediate: dict[int, float] = field(default_factory=dict)
    last: float | None = None
    best: float | None = None
    last_step: int | None = None

    def add(self, value: float, step: int) -> None:
        self.intermediate[step] = value
        self.last = value
        self.last_step = step
        if math.isfinite(value) and (self.best is None or self._better(value, self.best)):
            self.best = value

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


class MetricTracker:
    """Folds reports into a trial's objective histories and other metrics.

    * A report whose name is an objective is recorded at its step; a report without a step gets
      the step after the last one recorded for that name (0, 1, 2, ... if none ever has one). A
      step reported twice keeps the later value (a progress bar redraws the same epoch).
    * ``last`` is the value reported last (``nan`` included: a diverged run ends on ``nan``, and
      the runner must see that); ``best`` ignores non-finite values.
    * Every other metric keeps only its last value, in ``user_attrs``.
    """

    def __init__(self, objective_names: list[str], directions: list[str] | None = None) -> None:
        directions = directions or ["minimize"] * len(objective_names)
        self.objectives: dict[str, ObjectiveHistory] = {
            n: ObjectiveHistory(direction=d) for n, d in zip(objective_names, directions, strict=True)
        }
        self.user_attrs: dict[str, float] = {}
        self._last_step: dict[str, int] = {}
        self.n_reports = 0

    def add(self, report: MetricReport) -> int | None:
        """Record one report; return the step it was filed under if it is an objective's."""
        self.n_reports += 1
        hist = self.objectives.get(report.name)
        if hist is None:
            self.user_attrs[report.name] = report.value
            return None
        step = report.step
        if step is None:
            prev = self._last_step.get(report.name)
            step = 0 if prev is None else prev + 1
        self._last_step[report.name] = step
        hist.add(report.value, step)
        return step

    def add_all(self, reports: Iterable[MetricReport]) -> None:
        for r in reports:
            self.add(r)

    @property
    def primary(self) -> ObjectiveHistory:
        """The first objective (the one intermediate values and pruning are about)."""
        return next(iter(self.objectives.values()))

    def final_values(self, use: str = "last") -> list[float] | None:
        """The trial's values, one per objective (``use`` = ``last`` or ``best``); None if one is missing."""
        values = []
        for hist in self.objectives.values():
            v = hist.best if use == "best" else hist.last
            if v is None:
                return None
            values.append(v)
        return values

    def missing(self) -> list[str]:
        """Objectives never reported (for a clear "metric not found" message)."""
        return [n for n, h in self.objectives.items() if h.last is None]
