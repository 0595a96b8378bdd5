"""W&B sweep syntax for one parameter: ``values:``, ``value:``, ``distribution:`` with ``min``/``max``/``q``.

Each W&B distribution maps onto a native range with the same support: ``log_uniform`` bounds are
exponents of e, ``inv_log_uniform`` is the range of ``1/X``, ``q_*`` are stepped. Where W&B draws
something hposweep's samplers cannot (normal distributions, weighted choices), the mapping is an
error that says so, never a silent approximation. Nested ``parameters:`` blocks are read in
:mod:`.parameters`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hposweep.errors import did_you_mean
from hposweep.spacefile.specs import SpecNote, SpecProblem, choices, number, plain_value, reject_unknown, with_when

_RANGE = {"min", "max", "distribution", "when"}
#: W&B distribution -> the keys it takes (an empty set: not supported)
WANDB_DISTS: dict[str, set[str]] = {
    "constant": {"value", "distribution", "when"},
    "categorical": {"values", "distribution", "when", "probabilities"},
    "int_uniform": _RANGE,
    "uniform": _RANGE,
    "q_uniform": _RANGE | {"q"},
    "log_uniform": _RANGE,
    "log_uniform_values": _RANGE,
    "q_log_uniform": _RANGE | {"q"},
    "q_log_uniform_values": _RANGE | {"q"},
    "inv_log_uniform": _RANGE,
    "inv_log_uniform_values": _RANGE,
    "normal": set(),
    "q_normal": set(),
    "log_normal": set(),
    "q_log_normal": set(),
}


def wandb(spec: Mapping[str, Any], notes: list[SpecNote]) -> dict[str, Any]:
    """The normalized spec of one W&B parameter; caveats of the mapping go to ``notes``."""
    if "probabilities" in spec:
        raise SpecProblem(
            "`probabilities` is not supported: hposweep's samplers weigh all choices equally",
            key="probabilities",
            hint="remove `probabilities:`, or repeat no value; list the choices with `values:`",
        )
    if "mu" in spec or "sigma" in spec:
        raise SpecProblem(
            "normal distributions (mu/sigma) are not supported",
            key="mu" if "mu" in spec else "sigma",
            hint="use `distribution: uniform` or `log_uniform_values` with min/max bounds",
        )
    dist = spec.get("distribution")
    if dist is None:
        dist = _infer_distribution(spec)
    if not isinstance(dist, str) or dist not in WANDB_DISTS:
        hint = did_you_mean(str(dist), WANDB_DISTS) or "W&B distributions: " + ", ".join(WANDB_DISTS)
        raise SpecProblem(f"unknown distribution {dist!r}", key="distribution", hint=hint)
    if not WANDB_DISTS[dist]:
        raise SpecProblem(
            f"distribution '{dist}' is not supported (it has no bounds to search within)",
            key="distribution",
            hint="use `uniform` or `log_uniform_values` with min/max bounds",
        )
    reject_unknown(spec, WANDB_DISTS[dist], f" for distribution '{dist}'")
    if dist == "constant":
        if "value" not in spec:
            raise SpecProblem("missing 'value'", key="distribution", hint="e.g. {value: 20}")
        return with_when({"type": "fixed", "value": plain_value(spec["value"], "value")}, spec)
    if dist == "categorical":
        return with_when({"type": "categorical", "choices": choices(spec.get("values"), "values")}, spec)
    for key in ("min", "max"):
        if key not in spec:
            raise SpecProblem(f"missing '{key}'", key="distribution", hint=f"distribution '{dist}' needs min and max")
    return with_when(_wandb_range(dist, spec, notes), spec)


def _infer_distribution(spec: Mapping[str, Any]) -> str:
    """W&B's rules: values -> categorical, value -> constant, int min/max -> int_uniform, else uniform."""
    if "values" in spec:
        return "categorical"
    if "value" in spec:
        return "constant"
    if "min" in spec or "max" in spec:
        ints = all(isinstance(spec.get(k), int) and not isinstance(spec.get(k), bool) for k in ("min", "max"))
        if "q" in spec:
            return "q_uniform"
        return "int_uniform" if ints else "uniform"
    raise SpecProblem("spec has no `distribution`, `values`, `value` or min/max", hint="e.g. {min: 0.0, max: 1.0}")


def _wandb_range(dist: str, spec: Mapping[str, Any], notes: list[SpecNote]) -> dict[str, Any]:
    low, high = number(spec["min"], "min"), number(spec["max"], "max")
    if dist == "int_uniform":
        return {"type": "int", "low": number(low, "min", as_int=True), "high": number(high, "max", as_int=True)}
    if dist == "uniform":
        return {"type": "float", "low": float(low), "high": float(high)}
    if dist == "q_uniform":
        q = _q(spec)
        ints = all(isinstance(v, int) for v in (low, high, q)) and "distribution" not in spec
        return multiples_of_q("int" if ints else "float", low, high, q, notes)
    if dist in ("log_uniform_values", "inv_log_uniform_values"):
        return {"type": "float", "low": float(low), "high": float(high), "log": True}
    if dist == "log_uniform":  # bounds are exponents: X = exp(U(min, max))
        return {"type": "float", "low": _exp(low, "min"), "high": _exp(high, "max"), "log": True}
    if dist == "inv_log_uniform":  # log(1/X) ~ U(min, max)  =>  X in [exp(-max), exp(-min)]
        return {"type": "float", "low": _exp(-high, "max"), "high": _exp(-low, "min"), "log": True}
    if dist == "q_log_uniform_values":
        return quantized_log(low, high, _q(spec), notes)
    return quantized_log(_exp(low, "min"), _exp(high, "max"), _q(spec), notes)


def _q(spec: Mapping[str, Any]) -> int | float:
    q = number(spec.get("q", 1), "q")
    if not math.isfinite(q) or q <= 0:
        raise SpecProblem(f"q must be a positive number, got {spec.get('q')!r}", key="q", hint="e.g. q: 0.1")
    return q


def _exp(x: float, key: str) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        hint = "log_uniform bounds are exponents of e"
        raise SpecProblem(f"exp({key}) overflows: {key}={x}", key=key, hint=hint) from None


def _clean(x: float) -> float:
    return float(f"{x:.12g}")  # 3 * 0.1 = 0.30000000000000004: users wrote 0.3


def multiples_of_q(
    ptype: str, low: int | float, high: int | float, q: int | float, notes: list[SpecNote]
) -> dict[str, Any]:
    """A range stepped by ``q`` whose values are multiples of ``q`` inside ``low..high``, as W&B draws them.

    W&B rounds a draw to the nearest multiple of ``q`` (``round(x / q) * q``). When a bound is not
    such a multiple, the range searched is the multiples of ``q`` inside the bounds, and a note says so
    (the alternative, a stepped range from ``low``, would search values W&B never gives).
    """
    if not all(math.isfinite(v) for v in (low, high)) or low >= high:
        return {"type": ptype, "low": low, "high": high, "step": q}  # param_from_spec says what is wrong
    exact = all(isinstance(v, int) for v in (low, high, q))
    if exact:
        k_low, k_high = -(-int(low) // int(q)), int(high) // int(q)
    else:
        k_low, k_high = math.ceil(low / q - 1e-9), math.floor(high / q + 1e-9)
    on_grid = k_low * q, k_high * q
    if exact and on_grid == (low, high) or not exact and all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(on_grid, (low, high), strict=True)
    ):
        return {"type": ptype, "low": low, "high": high, "step": q}
    if k_low > k_high:
        raise SpecProblem(
            f"no multiple of q={q:g} lies in {low:g}..{high:g}", key="q", hint="use a smaller q or a wider range"
        )
    new_low, new_high = (on_grid if exact else (_clean(on_grid[0]), _clean(on_grid[1])))
    if ptype == "float":
        new_low, new_high = float(new_low), float(new_high)
    notes.append(SpecNote(
        f"q={q:g} does not divide {low:g}..{high:g}: searching the multiples of {q:g} from {new_low:g} to {new_high:g}"
        " (W&B rounds to multiples of q)",
        key="q",
    ))
    if k_low == k_high:
        return {"type": "fixed", "value": new_low}
    return {"type": ptype, "low": new_low, "high": new_high, "step": q}


def quantized_log(low: float, high: float, q: float, notes: list[SpecNote]) -> dict[str, Any]:
    """Log scale with a step exists only as a log-scaled int range (step 1).

    With ``q: 1`` and bounds that are not whole, the range is the whole numbers inside them (a note
    says so); any other ``q`` is refused: a log scale with steps would need a sampler that hposweep
    does not have, and a list of values would lose the log scale.
    """
    if q != 1:
        raise SpecProblem(
            f"a log scale with a step q={q:g} is not supported (only q=1, as a log int)",
            key="q",
            hint="use `distribution: log_uniform_values` (continuous), or list the values with `values: [...]`",
        )
    if not all(math.isfinite(v) for v in (low, high)) or low >= high:
        return {"type": "int", "low": low, "high": high, "log": True}  # param_from_spec says what is wrong
    k_low, k_high = math.ceil(low - 1e-9), math.floor(high + 1e-9)
    if k_low > k_high:
        raise SpecProblem(f"no whole number lies in {low:g}..{high:g}", key="min", hint="widen the range")
    if (k_low, k_high) != (low, high):
        notes.append(SpecNote(
            f"bounds {low:g}..{high:g} are not whole numbers: searching the whole numbers {k_low}..{k_high}"
            " (W&B rounds to multiples of q=1)",
            key="min",
        ))
    if k_low == k_high:
        return {"type": "fixed", "value": k_low}
    return {"type": "int", "low": k_low, "high": k_high, "log": True}
