"""Outcome constraints (``memory_gb <= 10``): parsing and the violation of one value. Pure.

A constraint names a metric the trial reports like any other; a trial whose metric breaks it is
complete but *infeasible*. Samplers need more than yes/no: the *violation* (how far past the bound
the value is, 0 when it holds) lets them rank infeasible trials (c-TPE, constrained domination), so
that is what :meth:`Constraint.violation` returns.

Strict bounds (``<``, ``>``) and ``==`` have no natural distance when they fail exactly at the
bound; such a value counts as a violation of the smallest positive size, so "infeasible" never
means "violation 0".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hposweep.errors import ConfigError

OPERATORS = ("<=", ">=", "==", "<", ">")
_EXPR = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(<=|>=|==|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
#: the violation of a strict bound broken exactly at the bound
_TINY = 1e-12


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, expr: str) -> Constraint:
        """``name op number``; anything else is a ConfigError quoting the expression."""
        if not isinstance(expr, str):
            raise ConfigError(f"a constraint must be a string like 'memory_gb <= 10', got {expr!r}")
        m = _EXPR.match(expr)
        if m is None:
            raise ConfigError(
                f"cannot read the constraint {expr!r}",
                hint="write `METRIC OP NUMBER` with OP one of " + ", ".join(OPERATORS) + ", e.g. 'memory_gb <= 10'",
            )
        bound = float(m.group(3))
        if not math.isfinite(bound):
            raise ConfigError(f"the constraint {expr!r} needs a finite bound")
        return cls(m.group(1), m.group(2), bound)

    def violation(self, value: float | None) -> float:
        """0 when ``value`` satisfies the constraint; else how far it is from doing so (inf: no value, NaN)."""
        if value is None or not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            return math.inf
        v, b = float(value), self.bound
        if self.op == "<=":
            return max(0.0, v - b)
        if self.op == ">=":
            return max(0.0, b - v)
        if self.op == "<":
            return 0.0 if v < b else max(v - b, _TINY)
        if self.op == ">":
            return 0.0 if v > b else max(b - v, _TINY)
        return 0.0 if v == b else max(abs(v - b), _TINY)  # ==

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


def parse_constraints(exprs: Iterable[str] | None) -> list[Constraint]:
    """Parse a list of expressions; duplicates are kept once (same metric, op and bound)."""
    out: list[Constraint] = []
    for e in exprs or ():
        c = Constraint.parse(e)
        if c not in out:
            out.append(c)
    return out


def constraint_strings(constraints: Sequence[Constraint]) -> list[str]:
    """How the checkpoint records them (the canonical text, parsed again on load)."""
    return [str(c) for c in constraints]
