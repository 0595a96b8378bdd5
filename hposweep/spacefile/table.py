"""The rows ``hposweep validate`` prints: one per parameter, every cell already text."""

from __future__ import annotations

import json
from typing import Any

from hposweep.core.params import CategoricalParam, FixedParam, NumericParam, Param
from hposweep.core.space import SearchSpace


def space_table_rows(space: SearchSpace) -> list[tuple[str, str, str, str, str]]:
    """(name, type, range/choices, scale, condition) per parameter, for ``hposweep validate``."""
    return [(p.name, p.kind, _range_text(p), _scale_text(p), _condition_text(p)) for p in space]


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _range_text(p: Param) -> str:
    if isinstance(p, NumericParam):
        return f"{_fmt(p.low)} .. {_fmt(p.high)}"
    if isinstance(p, CategoricalParam):
        return ", ".join(_fmt(c) for c in p.choices)
    if isinstance(p, FixedParam):
        return _fmt(p.value)
    return ""


def _scale_text(p: Param) -> str:
    if not isinstance(p, NumericParam):
        return "-"
    if p.log:
        return "log"
    if p.step is not None and not (p.type == "int" and p.step == 1):
        return f"step {_fmt(p.step)}"
    return "linear"


def _condition_text(p: Param) -> str:
    parts = []
    for c in p.when:
        if len(c.values) == 1:
            parts.append(f"{c.parent} = {_fmt(c.values[0])}")
        else:
            parts.append(f"{c.parent} in {{{', '.join(_fmt(v) for v in c.values)}}}")
    return " and ".join(parts)
