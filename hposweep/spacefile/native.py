"""hposweep's own parameter syntax: ``lr: {type: float, low: 1e-5, high: 1e-1, log: true}``.

``type:`` may be left out when the keys say it (``choices:`` → categorical, int ``low``/``high`` →
int, else float); a plain scalar is a fixed value (read in :mod:`.parameters`). ``{type: bool}`` is a
categorical of false/true; ``pass: flag`` / ``pass: flag_no`` makes it a bare ``--name`` flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hposweep.core.params import BOOL_PASS, PARAM_TYPES
from hposweep.errors import did_you_mean
from hposweep.spacefile.specs import NUMERIC_TYPES, SpecProblem, choices, number, plain_value, reject_unknown, with_when
from hposweep.spacefile.wandb import WANDB_DISTS

_VALID_KEYS: dict[str, set[str]] = {
    "float": {"low", "high", "log", "step"},
    "int": {"low", "high", "log", "step"},
    "categorical": {"choices"},
    "bool": {"pass"},
    "fixed": {"value"},
}


def infer_native_type(spec: Mapping[str, Any]) -> str:
    """The type a spec without ``type:`` means: categorical with ``choices:``, int for int bounds, else float."""
    if "choices" in spec:
        return "categorical"
    ints = all(isinstance(spec.get(k), int) and not isinstance(spec.get(k), bool) for k in ("low", "high"))
    return "int" if ints else "float"


def native(spec: Mapping[str, Any], ptype: Any) -> dict[str, Any]:
    """The normalized spec of a native ``{type: .., ...}`` mapping."""
    if ptype not in PARAM_TYPES:
        hint = did_you_mean(str(ptype), PARAM_TYPES) or "type must be one of: " + ", ".join(PARAM_TYPES)
        if ptype in WANDB_DISTS:
            hint = f"'{ptype}' is a W&B distribution: write `distribution: {ptype}` with min/max, or use type: float"
        raise SpecProblem(f"unknown type {ptype!r}", key="type", hint=hint)
    reject_unknown(spec, {"type", "when"} | _VALID_KEYS[ptype], f" for a {ptype} parameter")
    out: dict[str, Any] = {"type": ptype}
    if ptype in NUMERIC_TYPES:
        for key in ("low", "high"):
            if key not in spec:
                raise SpecProblem(f"missing '{key}'", key="type", hint=f"a {ptype} parameter needs low and high")
            out[key] = number(spec[key], key, as_int=ptype == "int")
        if "log" in spec:
            if not isinstance(spec["log"], bool):
                raise SpecProblem(
                    f"log must be true or false, got {spec['log']!r}", key="log", hint="write log: true (no quotes)"
                )
            out["log"] = spec["log"]
        if spec.get("step") is not None:
            out["step"] = number(spec["step"], "step", as_int=ptype == "int")
    elif ptype == "categorical":
        out["choices"] = choices(spec.get("choices"), "choices")
    elif ptype == "bool":
        if "pass" in spec and spec["pass"] != "value":
            style = spec["pass"]
            if style not in BOOL_PASS:
                hint = did_you_mean(str(style), BOOL_PASS) or "pass must be one of: " + ", ".join(BOOL_PASS)
                raise SpecProblem(f"unknown pass {style!r} for a bool parameter", key="pass",
                                  hint=hint + " (flag: --name or nothing; flag_no: --name or --no-name)")
            out["pass"] = style
    else:
        if "value" not in spec:
            raise SpecProblem("missing 'value'", key="type", hint="e.g. {type: fixed, value: 20}")
        out["value"] = plain_value(spec["value"], "value")
    return with_when(out, spec)
