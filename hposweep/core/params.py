"""Parameter kinds: what values one parameter may take, and how they map to a sampler's coordinates.

Each kind (:class:`FloatParam`, :class:`IntParam`, :class:`CategoricalParam`, :class:`BoolParam`, :class:`FixedParam`)
checks its own spec when it is built, so a space that exists is a space every sampler can handle:
finite bounds whose width does not overflow, int bounds and step counts that floats represent
exactly, fixed values and choices that JSON can store. :func:`param_from_spec` builds one from the
*normalized* spec dict (``{"type": "float", "low": ..}``); richer file syntaxes are normalized by
``hposweep.spacefile`` first.

Numeric samplers (TPE, GP, CMA-ES) work in an *internal* coordinate per parameter: ``log(x)`` for
log-scaled numbers, ``x`` for linear ones, the choice index for categoricals. Each parameter knows
how to go there (:meth:`to_internal`) and back, snapping to ints and steps (:meth:`from_internal`),
so that no sampler re-implements the rounding rules.

The module is over 500 lines because it does one job: every parameter kind and the reader of their
normalized specs, whose rules (what a value may be, what a spec may hold) must be read side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hposweep.errors import ConfigError, did_you_mean

PARAM_TYPES = ("float", "int", "categorical", "bool", "fixed")
#: how a bool parameter reaches an appended command line: ``--name=true|false`` (value), ``--name`` or
#: nothing (flag: argparse ``store_true``, click ``is_flag``), ``--name`` or ``--no-name`` (flag_no)
BOOL_PASS = ("value", "flag", "flag_no")
_SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step", "when"},
    "int": {"type", "low", "high", "log", "step", "when"},
    "categorical": {"type", "choices", "when"},
    "bool": {"type", "pass", "when"},
    "fixed": {"type", "value", "when"},
}


#: the largest int bound and the most steps a range may have: samplers place values on a float axis,
#: and beyond 2**53 a float no longer tells neighbouring whole numbers (or steps) apart
MAX_EXACT = 2**53


def check_name(name: Any) -> None:
    """Refuse a name that cannot be passed to a command as ``--name=value`` (or Hydra's ``name=value``)."""
    text = name if isinstance(name, str) else ""
    problems = [
        (not text.strip(), "is empty"),
        (any(ch.isspace() or ord(ch) < 32 for ch in text), "contains whitespace or a control character"),
        ("=" in text, "contains '='"),
        (text.startswith("-"), "starts with '-'"),
    ]
    problem = next((what for bad, what in problems if bad), None)
    if problem:
        raise ConfigError(
            f"name {name!r} {problem}: it would be passed to the command as a broken flag (--{name}=VALUE)",
            param=str(name),
            hint="use letters, digits, '_', '-' and '.' (e.g. learning_rate, model.depth)",
        )


def check_storable(value: Any, what: str, name: str) -> None:
    """Refuse inf and nan anywhere in a value: JSON (the checkpoint, HPOSWEEP_PARAMS) cannot hold them."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(
                f"{what} {value!r} is not a finite number" if v is value else f"{what} {value!r} holds {v!r}",
                param=name,
                hint="a value must fit in JSON: write a finite number (1e400 reads as inf), or quote it as text",
            )
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())


def value_key(value: Any) -> tuple[str, Any]:
    """A hashable key that keeps ``True``, ``1`` and ``1.0`` apart, as YAML users expect.

    Python says ``True == 1``; a condition ``when: {flag: true}`` must not fire for ``flag: 1``.
    """
    if isinstance(value, bool):
        return ("bool", value)
    if value is None:
        return ("none", None)
    if isinstance(value, (int, float)):
        return ("num", float(value))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(value_key(v) for v in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), value_key(v)) for k, v in value.items())))
    return (type(value).__name__, value)


@dataclass(frozen=True)
class Condition:
    """``when: {parent: [v1, v2]}``: active only if ``parent`` is active and takes one of the values."""

    parent: str
    values: tuple[Any, ...]

    def holds(self, params: Mapping[str, Any]) -> bool:
        if self.parent not in params:
            return False
        key = value_key(params[self.parent])
        return any(value_key(v) == key for v in self.values)

    def to_json(self) -> list[Any]:
        return list(self.values)


@dataclass(frozen=True)
class Param:
    """Common part of every parameter: a name and the conditions that make it active."""

    name: str
    when: tuple[Condition, ...] = field(default=(), kw_only=True)

    type = "abstract"

    def is_active(self, params: Mapping[str, Any]) -> bool:
        return all(c.holds(params) for c in self.when)

    @property
    def kind(self) -> str:
        """The kind as a person reads it (``validate``'s type column); :attr:`type` is what code dispatches on."""
        return self.type

    @property
    def is_fixed(self) -> bool:
        return False

    # --- the interface every kind implements: contains, n_values (None: continuous), values, to_json
    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def n_values(self) -> int | None:
        raise NotImplementedError

    def values(self) -> list[Any]:
        """Every value, in order (a continuous range raises a ConfigError: it has no grid)."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def _when_json(self) -> dict[str, Any]:
        return {"when": {c.parent: c.to_json() for c in self.when}} if self.when else {}


@dataclass(frozen=True)
class NumericParam(Param):
    """A float or int range, optionally log-scaled or stepped."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        self._validate()

    def _validate(self) -> None:
        if not (_finite(self.low) and _finite(self.high)):
            raise ConfigError("low and high must be finite numbers", param=self.name)
        if self.low >= self.high:
            raise ConfigError(
                f"low ({self.low}) must be less than high ({self.high})",
                param=self.name,
                hint="swap them, or use a fixed value (`name: value`) if the parameter should not vary",
            )
        if not self.log and not math.isfinite(float(self.high) - float(self.low)):
            raise ConfigError(
                f"range {self.low:g}..{self.high:g} is too wide: high - low overflows to infinity",
                param=self.name,
                hint="samplers scale a range by its width (high - low); keep it below 1.7e308, or use log: true",
            )
        if self.log and self.low <= 0:
            raise ConfigError(
                f"log scale needs low > 0, got low={self.low}",
                param=self.name,
                hint="raise low to a small positive number (e.g. 1e-6), or drop `log: true`",
            )
        if self.step is not None:
            if not _finite(self.step) or self.step <= 0:
                raise ConfigError(f"step must be a positive number, got {self.step}", param=self.name)
            if self.log:
                raise ConfigError(
                    "step and log cannot be combined",
                    param=self.name,
                    hint="use a categorical list of the values you want, or drop one of step/log",
                )
            span = (self.high - self.low) / self.step
            if span > MAX_EXACT:
                raise ConfigError(
                    f"step {self.step:g} splits {self.low:g}..{self.high:g} into {span:.3g} steps, more than 2**53",
                    param=self.name,
                    hint="floats cannot tell that many steps apart: use a larger step, or drop `step:`",
                )
            if span < 1 - 1e-9:
                raise ConfigError(
                    f"step {self.step} is larger than the range {self.low}..{self.high}",
                    param=self.name,
                    hint="use a smaller step or a wider range",
                )
            if abs(span - round(span)) > 1e-6 * max(1.0, span):
                fitted = self.low + math.floor(span + 1e-9) * self.step
                raise ConfigError(
                    f"step {self.step} does not divide the range {self.low}..{self.high}",
                    param=self.name,
                    hint=f"set high to {fitted:g} (low + a whole number of steps) or pick another step",
                )

    # --- internal coordinates -------------------------------------------------------------
    @property
    def internal_low(self) -> float:
        return math.log(self.low) if self.log else float(self.low)

    @property
    def internal_high(self) -> float:
        return math.log(self.high) if self.log else float(self.high)

    def to_internal(self, value: Any) -> float:
        return math.log(value) if self.log else float(value)

    def from_internal(self, x: float) -> Any:
        """Map an internal coordinate back to a legal value (clipped, snapped to step/int)."""
        x = min(max(float(x), self.internal_low), self.internal_high)
        value = math.exp(x) if self.log else x
        return self.snap(value)

    def snap(self, value: float) -> Any:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def n_values(self) -> int | None:
        return None

    def values(self) -> list[Any]:
        raise ConfigError(
            "a float range without a step has no finite grid",
            param=self.name,
            hint="add `step:` to the parameter, or list the values as a categorical `choices:`",
        )


@dataclass(frozen=True)
class FloatParam(NumericParam):
    type = "float"

    def snap(self, value: float) -> float:
        value = min(max(float(value), self.low), self.high)
        if self.step is not None:
            k = round((value - self.low) / self.step)
            value = min(self.low + k * self.step, self.high)
            # Round away float noise (0.1 + 3*0.05 = 0.25000000000000006) so users see clean values.
            value = float(f"{value:.12g}")
        return value

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            return False
        if not (self.low - 1e-12 * abs(self.low) <= value <= self.high + 1e-12 * abs(self.high)):
            return False
        if self.step is not None:
            k = (value - self.low) / self.step
            return abs(k - round(k)) < 1e-6
        return True

    def n_values(self) -> int | None:
        if self.step is None:
            return None
        return int(round((self.high - self.low) / self.step)) + 1

    def values(self) -> list[Any]:
        if self.step is None:
            return super().values()
        return [self.snap(self.low + k * self.step) for k in range(self.n_values() or 0)]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        return d | self._when_json()


@dataclass(frozen=True)
class IntParam(NumericParam):
    type = "int"

    def _validate(self) -> None:
        for what, v in (("low", self.low), ("high", self.high)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(
                    f"{what} of an int parameter must be a whole number, got {v!r}",
                    param=self.name,
                    hint="use `type: float` for fractional ranges",
                )
        if self.step is not None and (isinstance(self.step, bool) or not isinstance(self.step, int)):
            raise ConfigError(f"step of an int parameter must be a whole number, got {self.step!r}", param=self.name)
        for what, v in (("low", self.low), ("high", self.high)):
            if abs(v) > MAX_EXACT:
                raise ConfigError(
                    f"{what} ({v:.3g}) of an int parameter is beyond ±2**53 ({MAX_EXACT:,})",
                    param=self.name,
                    hint="samplers place ints on a float axis, which skips whole numbers beyond 2**53; "
                    "use type: float (with log: true for a huge range)",
                )
        super()._validate()

    @property
    def int_step(self) -> int:
        return int(self.step) if self.step is not None else 1

    def snap(self, value: float) -> int:
        value = min(max(float(value), self.low), self.high)
        k = round((value - self.low) / self.int_step)
        return int(min(self.low + k * self.int_step, self.high))

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return self.low <= value <= self.high and (value - self.low) % self.int_step == 0

    def n_values(self) -> int:
        return (int(self.high) - int(self.low)) // self.int_step + 1

    def values(self) -> list[Any]:
        return list(range(int(self.low), int(self.high) + 1, self.int_step))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None and self.step != 1:
            d["step"] = self.step
        return d | self._when_json()


@dataclass(frozen=True)
class CategoricalParam(Param):
    """An unordered set of choices (strings, numbers, booleans, null, mixed)."""

    choices: tuple[Any, ...] = ()
    type = "categorical"

    def __post_init__(self) -> None:
        check_name(self.name)
        if not self.choices:
            raise ConfigError("choices is empty", param=self.name, hint="list at least one value")
        seen: set[Any] = set()
        for c in self.choices:
            try:
                k = value_key(c)
                hash(k)
            except TypeError as exc:
                raise ConfigError(f"choice {c!r} cannot be used as a value", param=self.name) from exc
            if k in seen:
                raise ConfigError(
                    f"choice {c!r} is listed twice", param=self.name, hint="remove the duplicate"
                )
            seen.add(k)
            check_storable(c, "choice", self.name)

    def index(self, value: Any) -> int:
        key = value_key(value)
        for i, c in enumerate(self.choices):
            if value_key(c) == key:
                return i
        raise ValueError(f"{value!r} is not a choice of {self.name}")

    @property
    def internal_low(self) -> float:
        return 0.0

    @property
    def internal_high(self) -> float:
        return float(len(self.choices) - 1)

    def to_internal(self, value: Any) -> float:
        return float(self.index(value))

    def from_internal(self, x: float) -> Any:
        return self.choices[int(min(max(round(x), 0), len(self.choices) - 1))]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def n_values(self) -> int:
        return len(self.choices)

    def values(self) -> list[Any]:
        return list(self.choices)

    def to_json(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices)} | self._when_json()


@dataclass(frozen=True)
class BoolParam(CategoricalParam):
    """``{type: bool}``: a categorical of ``false``/``true`` that may be passed as a bare flag.

    It *is* a :class:`CategoricalParam` (``type`` stays ``"categorical"``), so every sampler, the
    codec, the grid and importance treat it as a 2-choice categorical without knowing it exists;
    only how it is written differs: ``to_json`` keeps ``{"type": "bool"}`` (and ``pass``) so the
    checkpoint round-trips it, and ``pass_as`` tells the command-line builder to write ``--name``
    instead of ``--name=true``.
    """

    choices: tuple[Any, ...] = (False, True)
    pass_as: str = "value"

    def __post_init__(self) -> None:
        if self.choices != (False, True):
            raise ConfigError("a bool parameter's choices are false and true", param=self.name)
        if self.pass_as not in BOOL_PASS:
            hint = did_you_mean(str(self.pass_as), BOOL_PASS) or "pass must be one of: " + ", ".join(BOOL_PASS)
            raise ConfigError(f"unknown pass {self.pass_as!r} for a bool parameter", param=self.name, hint=hint)
        super().__post_init__()

    @property
    def kind(self) -> str:
        return "bool" if self.pass_as == "value" else f"bool ({self.pass_as})"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "bool"}
        if self.pass_as != "value":
            d["pass"] = self.pass_as
        return d | self._when_json()


@dataclass(frozen=True)
class FixedParam(Param):
    """A constant passed to every trial (``epochs: 20``). Samplers never see it."""

    value: Any = None
    type = "fixed"

    def __post_init__(self) -> None:
        check_name(self.name)
        check_storable(self.value, "fixed value", self.name)

    @property
    def is_fixed(self) -> bool:
        return True

    def contains(self, value: Any) -> bool:
        return value_key(value) == value_key(self.value)

    def n_values(self) -> int:
        return 1

    def values(self) -> list[Any]:
        return [self.value]

    def to_json(self) -> dict[str, Any]:
        return {"type": "fixed", "value": self.value} | self._when_json()


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def param_from_spec(name: str, spec: Mapping[str, Any]) -> Param:
    """Build a parameter from a *normalized* spec (``{"type": "float", "low": ..}``).

    Raises :class:`ConfigError` naming the parameter; ``hposweep.config`` adds the file and line.
    """
    if not isinstance(spec, Mapping):
        return FixedParam(name, value=spec)
    ptype = spec.get("type")
    if ptype not in PARAM_TYPES:
        raise ConfigError(
            f"unknown type {ptype!r}",
            param=name,
            hint="type must be one of: " + ", ".join(PARAM_TYPES),
        )
    unknown = set(spec) - _SPEC_KEYS[ptype]
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(sorted(map(str, unknown)))} for a {ptype} parameter",
            param=name,
            hint="valid keys: " + ", ".join(sorted(_SPEC_KEYS[ptype])),
        )
    when = _parse_when(name, spec.get("when"))
    if ptype == "bool":
        return BoolParam(name, pass_as=spec.get("pass", "value"), when=when)
    if ptype == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, (list, tuple)):
            raise ConfigError("choices must be a list", param=name, hint="e.g. choices: [adam, sgd]")
        return CategoricalParam(name, choices=tuple(choices), when=when)
    if ptype == "fixed":
        return FixedParam(name, value=spec.get("value"), when=when)
    for key in ("low", "high"):
        if key not in spec:
            raise ConfigError(f"missing '{key}'", param=name, hint=f"a {ptype} parameter needs low and high")
        if not _finite(spec[key]):
            raise ConfigError(f"{key} must be a finite number, got {spec[key]!r}", param=name)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"log must be true or false, got {log!r}", param=name)
    step = spec.get("step")
    if step is not None and not _finite(step):
        raise ConfigError(f"step must be a number, got {step!r}", param=name)
    cls = FloatParam if ptype == "float" else IntParam
    low, high = spec["low"], spec["high"]
    if ptype == "float":
        low, high = float(low), float(high)
        step = float(step) if step is not None else None
    else:
        # 1 and 8.0 both mean whole numbers; converting each bound on its own accepts mixed input.
        low, high = (int(v) if isinstance(v, float) and v.is_integer() else v for v in (low, high))
    if ptype == "int" and isinstance(step, float) and step.is_integer():
        step = int(step)
    return cls(name, low=low, high=high, log=log, step=step, when=when)


def _parse_when(name: str, when: Any) -> tuple[Condition, ...]:
    if when is None:
        return ()
    if not isinstance(when, Mapping) or not when:
        raise ConfigError(
            "when must map a parameter to a value or a list of values",
            param=name,
            hint="e.g. when: {optimizer: sgd} or when: {optimizer: [adam, adamw]}",
        )
    conds = []
    for parent, vals in when.items():
        values = tuple(vals) if isinstance(vals, (list, tuple)) else (vals,)
        if not values:
            raise ConfigError(f"when: {parent} lists no values", param=name)
        conds.append(Condition(str(parent), values))
    return tuple(conds)
