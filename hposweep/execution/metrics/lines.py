"""One line of a trial's output (or of its metrics file) into :class:`MetricReport` objects: the grammar.

The grammar is described in :mod:`hposweep.execution.metrics`. This module also holds its bounds:
a trial's output is untrusted text, so a line that would make the parser recurse deeply, hold
megabytes, or yield a number the checkpoint cannot store raises :class:`LineRefused`; the stream
parser counts those and says so once (:meth:`~hposweep.execution.metrics.parser.MetricParser.notes`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: a line longer than this is not parsed (ignored, counted, mentioned once): a program printing
#: megabytes without a newline must not make the parser's buffer grow or one line cost seconds
MAX_LINE = 65536
#: JSON nested deeper than this is not parsed (Python's decoder recurses: 3,000 levels overflow it)
MAX_DEPTH = 64
#: the largest step a report may have: every integer up to it is exact in a float and in JSON
MAX_STEP = 2**53

#: in order of preference when a line holds several
STEP_KEYS = ("epoch", "step", "global_step", "iteration", "iter")
STEP_RANK = {k: i for i, k in enumerate(STEP_KEYS)}

Step = int | float


class LineRefused(Exception):
    """A line outside the parser's bounds; ``kind`` is ``"long"``, ``"deep"`` or ``"range"``."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail


@dataclass(slots=True)
class MetricReport:
    """One number a trial reported: ``name``, ``value``, and the step it belongs to if known.

    A step is a whole number (``int``) or, when the program printed one (``'epoch': 1.5``), a
    fractional one (``float``): it is kept as printed rather than truncated. Not frozen only because
    frozen dataclasses are three times slower to create, and one is made for every number a trial
    prints; treat it as immutable.
    """

    name: str
    value: float
    step: Step | None = None


# --- lexical pieces ---------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
#: ``\d+(?:\.\d*)?``, not ``\d+\.?\d*`` (the same numbers): there the two digit runs compete for the same
#: digits, and a 60,000-digit run that is no value (``loss=111...1x``) took minutes of backtracking
_NUMBER = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf(?:inity)?))"
_NAME = r"[A-Za-z_](?:[\w./-]*\w)?"
TOKEN = re.compile(
    r"(?<![\w./'\"-])"  # not glued to a preceding name
    r"(?P<q>['\"]?)(?P<name>" + _NAME + r")(?:'s\s+(?P<sub>" + _NAME + r"))?(?P=q)"
    r"\s*[=:]\s*"
    r"(?:tensor\(|(?:np|numpy|torch)\.\w+\()?"
    r"(?P<value>" + _NUMBER + r")"
    r"(?=$|[\s,;|)\]}]|\.(?:\s|$)|%(?!\|))"
)
NAME_START = re.compile(r"['\"A-Za-z_]")
STEP_WORD = re.compile(
    r"(?<![\w./-])(?P<key>epoch|global_step|step|iteration|iter)(?:\s+|\s*\[\s*)(?P<n>\d+)(?=$|[\s/:,;|)\]])",
    re.IGNORECASE,
)
BRACKET_STEP = re.compile(r"^\[(\d+)\]\s")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")
NUMBER_FULL = re.compile(_NUMBER + r"$")
NAME_FULL = re.compile(_NAME + r"$")


def strip_ansi(text: str) -> str:
    """Drop terminal escape sequences (colours, cursor moves, OSC titles)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def to_float(text: str) -> float | None:
    """A printed number as a float; None if it is not one. Digits that overflow a float are refused."""
    try:
        value = float(text)
    except ValueError:
        return None
    if value in (math.inf, -math.inf) and "n" not in text.lower():  # 1e999, not "inf"
        raise LineRefused("range", text[:40])
    return value


def step_from(value: Any) -> Step | None:
    """A step key's value as a step: a finite non-negative number, whole ones as ``int`` (``1.0`` -> 1).

    A step beyond :data:`MAX_STEP` (``step=99999999999999999999999``) refuses the line: stored, it
    would not fit the checkpoint's integers, and no training loop counts that far.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = to_float(value)
    if isinstance(value, int):
        if value < 0:
            return None
        if value > MAX_STEP:
            raise LineRefused("range", str(value)[:40])
        return value
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        if value > MAX_STEP:
            raise LineRefused("range", repr(value))
        return int(value) if value.is_integer() else value
    return None


def best_step(found: Iterable[tuple[str, Step]]) -> Step | None:
    """The step of the most preferred step key among ``(key, step)`` pairs."""
    best: tuple[int, Step] | None = None
    for key, step in found:
        rank = STEP_RANK.get(key.lower())
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, step)
    return best[1] if best else None


def is_step_key(name: str) -> bool:
    return name.lower() in STEP_RANK


# --- structured lines (JSON, Python dict reprs, metrics file) ---------------------------------
def _flatten(obj: Mapping[Any, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    # Recursion is bounded: a line deeper than MAX_DEPTH never reaches json.loads (check_depth).
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + "/")
        else:
            yield name, value


def _number(value: Any) -> float | None:
    """A JSON entry as a metric value (None: not a number); an int too large for a float is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        raise LineRefused("range", str(value)[:40]) from None


def _reports_from_mapping(obj: Mapping[Any, Any], step: Step | None = None) -> list[MetricReport]:
    """Numeric entries as reports; step keys give the step (unless ``step`` is given)."""
    # The explicit one-metric form {"name": "val_loss", "value": 0.3, "step": 2}.
    if isinstance(obj.get("name"), str) and "value" in obj and set(obj) <= {"name", "value", "step"}:
        value = _number(obj["value"])
        if value is not None:
            own = step_from(obj.get("step")) if "step" in obj else None
            return [MetricReport(obj["name"], value, own if own is not None else step)]
    items = list(_flatten(obj))
    if step is None:
        step = best_step((k, s) for k, v in items if is_step_key(k) and (s := step_from(v)) is not None)
    out = []
    for name, value in items:
        if is_step_key(name):
            continue
        number = _number(value)
        if number is not None:
            out.append(MetricReport(name, number, step))
    return out


def check_depth(line: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH` before the (recursive) decoder sees it."""
    if line.count("{") + line.count("[") <= MAX_DEPTH:
        return
    depth = deepest = 0
    for m in _BRACKETS.finditer(_JSON_STRING.sub('""', line) if '"' in line else line):
        if m.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    if deepest > MAX_DEPTH:
        raise LineRefused("deep", str(deepest))


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: the literal Infinity/NaN go through parse_constant
        raise LineRefused("range", text[:40])
    return value


def _json_int(text: str) -> int | float:
    if len(text) > 300:  # float() of it overflows; int() of thousands of digits is refused by Python
        raise LineRefused("range", text[:40] + "...")
    return int(text)


#: a number written with an exponent: the only way a short line's float can overflow to inf
_EXPONENT = re.compile(r"\d[eE]")
#: below this length a JSON line can hold neither an int too long to convert nor a float that overflows
#: without an exponent, so it is decoded without the (Python, per number) bound checks
_SHORT_JSON = 300


def load_json_object(line: str) -> dict[str, Any] | None:
    """The line as a JSON object, or None if it is not one; bounded in depth and numbers."""
    check_depth(line)
    try:
        if len(line) <= _SHORT_JSON and not _EXPONENT.search(line):
            obj = json.loads(line)  # same result as below: no number here can trip _json_int/_json_float
        else:
            obj = json.loads(line, parse_float=_json_float, parse_int=_json_int)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def parse_json_metrics_line(line: str | bytes) -> list[MetricReport]:
    """Reports of one line of the metrics file (``HPOSWEEP_METRICS_FILE``, JSON lines).

    Each line is a JSON object: either ``{"val_loss": 0.41, "acc": 0.9, "epoch": 3}`` (every numeric
    entry a metric, step keys as in the output grammar, nested objects named ``outer/inner``) or
    ``{"name": "val_loss", "value": 0.41, "step": 3}``. ``NaN``/``Infinity`` are accepted (Python's
    ``json.dumps`` writes them). A malformed line is ignored: the file is the user's, and one bad
    line must not fail the trial. A line outside the bounds raises :class:`LineRefused`.
    """
    if isinstance(line, bytes):
        if len(line) > MAX_LINE:
            raise LineRefused("long", str(len(line)))
        line = line.decode("utf-8", errors="replace")
    elif len(line) > MAX_LINE:
        raise LineRefused("long", str(len(line)))
    line = line.strip()
    if not line.startswith("{"):
        return []
    obj = load_json_object(line)
    return _reports_from_mapping(obj) if obj is not None else []


# --- free text ----------------------------------------------------------------------------------
def line_step(line: str, found: list[tuple[str, Step]]) -> Step | None:
    """The step a line states: step-key tokens (``found``), ``epoch 3`` words, or a leading ``[10]``."""
    # Step words ("epoch 3") are rarer and cost a second scan: skip it when it cannot change the answer.
    if not any(k.lower() == "epoch" for k, _ in found):
        lower = line.lower()
        if "epoch" in lower or "step" in lower or "iter" in lower:
            for m in STEP_WORD.finditer(line):
                step = step_from(int(m.group("n")) if len(m.group("n")) < 30 else m.group("n"))
                if step is not None:
                    found = found + [(m.group("key"), step)]
    step = best_step(found) if found else None
    if step is None and line.startswith("["):
        bracket = BRACKET_STEP.match(line)
        if bracket:
            step = step_from(int(bracket.group(1)) if len(bracket.group(1)) < 30 else bracket.group(1))
    return step


#: words that end a multi-word name when met walking back (a log record's level is not part of a key)
_NOT_KEY_WORDS = frozenset(("INFO", "DEBUG", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL", "TRACE", "NOTICE"))
_VALUE_WORDS = frozenset(("nan", "inf", "infinity", "true", "false", "none", "null"))
#: at most this many words before a name's own word join it (``average validation loss``)
MAX_NAME_WORDS = 3


def words_before(line: str, start: int) -> list[str]:
    """The plain words written right before ``line[start]``, each followed by one space (nearest last).

    A word starts with a letter and holds letters, digits and ``_``; the walk stops at anything else
    (a number, ``-``, ``:``, ``]``, two spaces, a tab), at a log level (``INFO``), at a step key, and
    after :data:`MAX_NAME_WORDS` words. Cheap when there is nothing to find: most names follow ``, ``,
    ``- `` or a tab, and the first test fails.
    """
    words: list[str] = []
    end = start
    while len(words) < MAX_NAME_WORDS and end >= 2 and line[end - 1] == " " and (line[end - 2].isalnum()
                                                                                  or line[end - 2] == "_"):
        j = i = end - 1
        while j > 0 and (line[j - 1].isalnum() or line[j - 1] == "_"):
            j -= 1
        word = line[j:i]
        if (not word[0].isalpha() or not word.isascii() or word in _NOT_KEY_WORDS or word.lower() in STEP_RANK
                or word.lower() in _VALUE_WORDS):  # "a=nan b=1": nan is a's value, not part of b's name
            break
        if j > 0 and line[j - 1] in "./'\"-":  # glued to something that is not a plain word (3ms/step)
            break
        words.append(word)
        end = j
    words.reverse()
    return words


def scan_tokens(line: str) -> tuple[list[tuple[str, float]], list[tuple[str, Step]]]:
    """Rule 3's ``name: value`` tokens, split into metrics and step keys."""
    metrics: list[tuple[str, float]] = []
    steps: list[tuple[str, Step]] = []
    first = NAME_START.search(line)  # a token starts with a name or its quote: skip a progress bar's digits
    if first is None:
        return metrics, steps
    for m in TOKEN.finditer(line, first.start()):  # the look-behind still sees what precedes the start
        name, sub, text = m.group("name", "sub", "value")
        if sub is not None:
            name = f"{name}-{sub}"
        elif name.lower() in STEP_RANK:
            step = step_from(text)
            if step is not None:
                steps.append((name, step))
            continue
        value = to_float(text)
        if value is None:
            continue
        if not m.group("q"):
            before = words_before(line, m.start())
            if before:  # "validation loss: 1.1" is validation_loss, never plain "loss"
                name = "_".join(before) + "_" + name
        metrics.append((name, value))
    return metrics, steps


#: the shape most training loops print, ``step=3 loss=0.25 lr=0.001``: only ``NAME=NUMBER`` pairs, one space
#: apart. Rule 3 reads such a line exactly as :func:`plain_pairs` does (no multi-word names: the word before
#: each name is a number; no step words, brackets or JSON), so it skips the general scan.
_PLAIN_PAIRS = re.compile(rf"{_NAME}={_NUMBER}(?: {_NAME}={_NUMBER})*")


def plain_pairs(line: str) -> list[MetricReport] | None:
    """The fast path of :func:`parse_line` for a line of only ``NAME=NUMBER`` pairs; None for any other line.

    Gives exactly what the general rules give (the same names, values, step and refusals): about a fifth of
    their cost on the line a trial prints a million times.
    """
    if not _PLAIN_PAIRS.fullmatch(line):
        return None
    metrics: list[tuple[str, str]] = []
    step: Step | None = None
    rank = len(STEP_KEYS)
    for pair in line.split(" "):
        name, _, text = pair.partition("=")
        key_rank = STEP_RANK.get(name.lower())
        if key_rank is None:
            metrics.append((name, text))
        else:
            found = step_from(text)
            if found is not None and key_rank < rank:
                step, rank = found, key_rank
    out = []
    for name, text in metrics:
        value = float(text)
        if value in (math.inf, -math.inf) and "n" not in text.lower():  # 1e999, not "inf"
            raise LineRefused("range", text[:40])
        out.append(MetricReport(name, value, step))
    return out


def parse_line(line: str) -> list[MetricReport]:
    """Rules 1 and 3 on one complete, ANSI-free line; raises :class:`LineRefused` outside the bounds."""
    if len(line) > MAX_LINE:
        raise LineRefused("long", str(len(line)))
    fast = plain_pairs(line)
    return fast if fast is not None else parse_other_line(line)


def parse_other_line(line: str) -> list[MetricReport]:
    """:func:`parse_line` of a line :func:`plain_pairs` did not read (the caller checked its length)."""
    if line.startswith("{") or line.lstrip().startswith("{"):
        stripped = line.strip()
        if stripped.endswith("}"):
            obj = load_json_object(stripped)
            if obj is not None:
                return _reports_from_mapping(obj)
    if "=" not in line and ":" not in line:
        return []
    metrics, steps = scan_tokens(line)
    if not metrics:
        return []
    step = line_step(line, steps)
    return [MetricReport(name, value, step) for name, value in metrics]


def parse_text_line(line: str) -> list[MetricReport]:
    """Rules 1 and 3 of the grammar on one complete, ANSI-free line (no table state).

    A line outside the bounds (too long, nested too deep, a number out of range) gives nothing.
    """
    try:
        return parse_line(line)
    except LineRefused:
        return []
