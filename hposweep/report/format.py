"""How the report spells values, and the unit-cube position it plots them at.

One formatter for the whole report package (figures, sections, page), so a number reads the same
in a hover label, a card and the trials table.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hposweep.core.space import CategoricalParam, NumericParam, Param


def finite(v: Any) -> bool:
    """A real number that plots: not a bool, not NaN or infinite."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def format_value(v: Any, missing: str = "") -> str:
    """A value as the report shows it: 6 significant digits, YAML spelling for booleans and null.

    ``missing`` is what ``None`` becomes: blank for a metric a trial has not reported, ``"null"``
    for a parameter whose value *is* null (a categorical choice).
    """
    if v is None:
        return missing
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, int):
        return str(v)
    return json.dumps(v, default=str)


def format_param(v: Any) -> str:
    """A parameter value (``None`` is the choice ``null``, not a blank)."""
    return format_value(v, missing="null")


def clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null (plotly draws gaps), tuples lists, other objects strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "tolist"):
        return clean(obj.tolist())
    return str(obj)


def describe_param(p: Param) -> str:
    """``float 1e-05..0.1 log``, ``{adam, sgd}``, ``fixed 10``, with its condition."""
    if isinstance(p, CategoricalParam):
        text = "{" + ", ".join(format_param(c) for c in p.choices) + "}"
    elif isinstance(p, NumericParam):
        text = f"{p.type} {format_value(p.low)}..{format_value(p.high)}" + (" log" if p.log else "") + (
            f" step {format_value(p.step)}" if p.step is not None else "")
    else:
        text = f"fixed {format_param(getattr(p, 'value', None))}"
    if p.when:
        text += " when " + " and ".join(
            f"{c.parent} in {{{', '.join(map(format_param, c.values))}}}" for c in p.when)
    return text
