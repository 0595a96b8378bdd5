"""The ``--pick`` rule language: choose one trial of a (multi-objective) sweep by a short rule.

``knee``, ``max METRIC`` or ``min METRIC``, optionally ``where METRIC OP NUMBER [and ...]``; metrics are
the objectives' names and the numeric ``user_attrs`` trials reported. Parsing and the choice live here;
the dominance and knee numerics are ``hposweep.analysis.pareto``'s.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hposweep.analysis.pareto import complete_trials, knee_point, to_minimize
from hposweep.core.objectives import value_columns
from hposweep.errors import ConfigError, StudyError

if TYPE_CHECKING:
    from hposweep.core.trial import Trial

__all__ = ["PICK_SYNTAX", "Condition", "PickRule", "parse_pick_rule", "pick"]


# --- the --pick rule language --------------------------------------------------------------------
PICK_SYNTAX = (
    "a rule is `knee`, `max METRIC` or `min METRIC`, optionally followed by "
    "`where METRIC OP NUMBER [and METRIC OP NUMBER ...]` with OP one of < <= > >= == !=; "
    "e.g. --pick \"max val_acc where latency_ms<20\""
)

_TOKEN = re.compile(
    r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_])"
    r"|(?P<op><=|>=|==|!=|<|>|=)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.\-/:]*))"
)
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Condition:
    """``metric op number`` from a where-clause."""

    metric: str
    op: str
    value: float

    def holds(self, x: float) -> bool:
        return bool(_OPS[self.op](x, self.value))

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


@dataclass(frozen=True)
class PickRule:
    """A parsed ``--pick`` rule: ``kind`` is "knee", "max" or "min" (``metric`` set for the last two)."""

    kind: str
    metric: str | None = None
    where: tuple[Condition, ...] = ()


def _bad_rule(rule: str, what: str) -> ConfigError:
    return ConfigError(f"bad --pick rule {rule!r}: {what}", hint=PICK_SYNTAX)


def _tokenize(rule: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = rule.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _bad_rule(rule, f"unexpected {text[pos:].lstrip()[:1]!r} at position {pos + 1}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def parse_pick_rule(rule: str) -> PickRule:
    """Parse a ``--pick`` rule with a small hand-written recursive-descent parser (no ``eval``).

    Grammar (keywords are case-insensitive, ``=`` is accepted for ``==``)::

        rule      := head [ "where" condition { "and" condition } ] | "where" conditions   (knee)
        head      := "knee" | ("max" | "min") METRIC
        condition := METRIC OP NUMBER
    """
    tokens = _tokenize(rule)
    if not tokens:
        raise _bad_rule(rule, "the rule is empty")
    pos = 0

    def word(i: int) -> str | None:
        return tokens[i][1].lower() if i < len(tokens) and tokens[i][0] == "word" else None

    head = word(0)
    if head == "knee":
        kind, metric, pos = "knee", None, 1
    elif head in ("max", "min", "maximize", "minimize"):
        if word(1) is None or word(1) in ("where", "and"):
            raise _bad_rule(rule, f"`{tokens[0][1]}` must be followed by a metric name")
        kind, metric, pos = head[:3], tokens[1][1], 2
    elif head == "where":
        kind, metric, pos = "knee", None, 0
    else:
        raise _bad_rule(rule, f"it must start with knee, max or min, not {tokens[0][1]!r}")
    conditions: list[Condition] = []
    if pos < len(tokens):
        if word(pos) != "where":
            raise _bad_rule(rule, f"expected `where` after the head, got {tokens[pos][1]!r}")
        pos += 1
        while True:
            cond, pos = _parse_condition(rule, tokens, pos)
            conditions.append(cond)
            if pos == len(tokens):
                break
            if word(pos) != "and":
                raise _bad_rule(rule, f"expected `and` between conditions, got {tokens[pos][1]!r}")
            pos += 1
    return PickRule(kind, metric, tuple(conditions))


def _parse_condition(rule: str, tokens: list[tuple[str, str]], pos: int) -> tuple[Condition, int]:
    if pos + 3 > len(tokens):
        raise _bad_rule(rule, "a condition needs METRIC OP NUMBER (e.g. latency_ms<20)")
    (k1, name), (k2, op), (k3, num) = tokens[pos:pos + 3]
    if k1 != "word" or name.lower() in ("where", "and"):
        raise _bad_rule(rule, f"expected a metric name, got {name!r}")
    if k2 != "op":
        raise _bad_rule(rule, f"expected a comparison (< <= > >= == !=) after {name!r}, got {op!r}")
    if k3 != "num":
        raise _bad_rule(rule, f"expected a number after `{name}{op}`, got {num!r}")
    return Condition(name, "==" if op == "=" else op, float(num)), pos + 3


def _metric_names(usable: Sequence[Trial], names: Sequence[str]) -> list[str]:
    extra: dict[str, None] = {}
    for t in usable:
        for k, val in t.user_attrs.items():
            if k not in names and isinstance(val, (int, float)) and not isinstance(val, bool):
                extra[k] = None
    return list(names) + sorted(extra)


def _metric(t: Trial, name: str, names: Sequence[str]) -> float | None:
    if name in names:
        return float(t.values[list(names).index(name)])  # type: ignore[index]  # callers pass complete trials, whose values are set
    val = t.user_attrs.get(name)
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        return None
    return float(val)


def pick(
    trials: Sequence[Trial],
    directions: Sequence[str],
    names: Sequence[str] | None = None,
    rule: str | None = None,
) -> Trial:
    """Choose one trial from a (multi-objective) sweep with a ``--pick`` rule; ``None`` means ``knee``.

    ``names`` name the objectives (default ``value`` for one objective, ``value_0``, ``value_1``... for
    several); where-clauses may also use numeric ``user_attrs`` the trials reported. ``max``/``min``
    breaks ties with the objectives in order, then the lowest trial number; ``knee`` applies
    :func:`knee_point` to the trials that satisfy the where-clause.
    """
    m = len(directions)
    if names is None:
        names = value_columns(m)
    if len(names) != m:
        raise ValueError(f"{len(names)} objective name(s) for {m} direction(s)")
    parsed = parse_pick_rule(rule if rule is not None else "knee")
    usable = complete_trials(trials, m)
    if not usable:
        raise StudyError("no complete trial to pick from", hint="run some trials first (hposweep run ...)")
    known = _metric_names(usable, names)
    used = [parsed.metric] if parsed.metric else []
    for name in used + [c.metric for c in parsed.where]:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = (f"did you mean '{close[0]}'? " if close else "") + "metrics: " + ", ".join(known)
            raise ConfigError(f"--pick: unknown metric '{name}'", hint=hint)
    chosen = [t for t in usable if _satisfies(t, parsed.where, names)]
    if parsed.metric is not None:
        chosen = [t for t in chosen if _metric(t, parsed.metric, names) is not None]
    if not chosen:
        raise ConfigError(
            f"--pick: no complete trial satisfies `{' and '.join(map(str, parsed.where))}`",
            hint="observed ranges: " + _ranges(usable, [c.metric for c in parsed.where], names)
            + "; loosen the where-clause",
        )
    vals = to_minimize([t.values for t in chosen], directions)
    if parsed.kind == "knee":
        return chosen[knee_point(vals)]
    assert parsed.metric is not None
    sign = -1.0 if parsed.kind == "max" else 1.0
    key = np.array([sign * _metric(t, parsed.metric, names) for t in chosen])  # type: ignore[operator]  # the rule's metric was checked to exist on every chosen trial
    numbers = [t.number for t in chosen]
    order = np.lexsort([np.asarray(numbers), *[vals[:, j] for j in range(m - 1, -1, -1)], key])
    return chosen[int(order[0])]


def _satisfies(t: Trial, where: Sequence[Condition], names: Sequence[str]) -> bool:
    for c in where:
        x = _metric(t, c.metric, names)
        if x is None or not c.holds(x):
            return False
    return True


def _ranges(trials: Sequence[Trial], metrics: Sequence[str], names: Sequence[str]) -> str:
    parts = []
    for name in dict.fromkeys(metrics):
        xs = [x for t in trials if (x := _metric(t, name, names)) is not None]
        parts.append(f"{name} in [{min(xs):g}, {max(xs):g}]" if xs else f"{name}: never reported")
    return ", ".join(parts)
