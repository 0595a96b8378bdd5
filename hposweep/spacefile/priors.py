"""One-line priors: ``lr: loguniform(1e-5, 1e-1)``, ``layers: randint(1, 8)``, ``act: choice([relu, gelu])``.

The arguments are read as YAML data (a flow list), never evaluated. A string that only looks like
a call (``activation: relu(x)``) stays a fixed string value unless its name is close to a prior's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hposweep.errors import ConfigError, did_you_mean
from hposweep.spacefile.source import parse_yaml
from hposweep.spacefile.specs import SpecNote, SpecProblem, choices, number
from hposweep.spacefile.wandb import quantized_log

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)

Builder = Callable[[list[Any], list[SpecNote]], dict[str, Any]]


def _prior_range(ptype: str, *, log: bool = False, step: bool = False) -> Builder:
    def build(args: list[Any], notes: list[SpecNote]) -> dict[str, Any]:
        names = ["low", "high"] + (["step"] if step else [])
        if len(args) != len(names):
            raise SpecProblem(f"takes {len(names)} numbers ({', '.join(names)}), got {len(args)}")
        out: dict[str, Any] = {"type": ptype}
        for name, arg in zip(names, args, strict=True):
            out[name] = number(arg, name, as_int=ptype == "int")
        if log:
            out["log"] = True
        return out

    return build


def _prior_choice(args: list[Any], notes: list[SpecNote]) -> dict[str, Any]:
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return {"type": "categorical", "choices": choices(list(items), "choices")}


def _prior_qloguniform(args: list[Any], notes: list[SpecNote]) -> dict[str, Any]:
    if len(args) != 3:
        raise SpecProblem(f"takes 3 numbers (low, high, q), got {len(args)}")
    return quantized_log(number(args[0], "low"), number(args[1], "high"), number(args[2], "q"), notes)


#: prior name -> (signature shown in errors, builder of the normalized spec)
PRIORS: dict[str, tuple[str, Builder]] = {
    "uniform": ("uniform(low, high)", _prior_range("float")),
    "loguniform": ("loguniform(low, high)", _prior_range("float", log=True)),
    "quniform": ("quniform(low, high, step)", _prior_range("float", step=True)),
    "qloguniform": ("qloguniform(low, high, 1)  (whole numbers in the range, log scale)", _prior_qloguniform),
    "randint": ("randint(low, high)  (both ends included)", _prior_range("int")),
    "qrandint": ("qrandint(low, high, step)", _prior_range("int", step=True)),
    "logint": ("logint(low, high)", _prior_range("int", log=True)),
    "choice": ("choice([a, b, c])", _prior_choice),
}


def parse_prior(text: str, notes: list[SpecNote]) -> dict[str, Any] | None:
    """``loguniform(1e-5, 0.1)`` -> a spec; None when ``text`` is an ordinary string value."""
    match = _CALL.match(text)
    if not match:
        return None
    fname, inner = match.groups()
    if fname not in PRIORS:
        close = did_you_mean(fname, PRIORS, cutoff=0.75)
        if close is None:
            return None  # e.g. `activation: relu(x)` is a string the user wants passed as is
        raise SpecProblem(f"unknown prior '{fname}(...)'", hint=close)
    signature, build = PRIORS[fname]
    try:
        args = parse_yaml(f"[{inner}]", None)  # data only, never eval
    except ConfigError:
        args = None
    if not isinstance(args, list):
        raise SpecProblem(f"cannot read the arguments of {fname}({inner})", hint=f"write {signature}")
    try:
        return build(list(args), notes)
    except SpecProblem as problem:
        raise SpecProblem(f"{fname}(...): {problem.message}", hint=problem.hint or f"write {signature}") from None
