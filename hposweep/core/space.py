"""The search space: what parameters exist, their ranges, and when each one is active.

This module is the *model* of a space. It knows nothing about YAML files: ``hposweep.config`` turns
a file (native syntax, W&B sweep syntax, one-line priors) into the normalized spec dicts that
:meth:`SearchSpace.from_dict` accepts, and adds file/line locations to the errors raised here.

Numeric samplers (TPE, GP, CMA-ES) work in an *internal* coordinate per parameter: ``log(x)`` for
log-scaled numbers, ``x`` for linear ones, the choice index for categoricals. Each parameter knows
how to go there (:meth:`to_internal`) and back, snapping to ints and steps (:meth:`from_internal`),
so that no sampler re-implements the rounding rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hposweep.errors import ConfigError

PARAM_TYPES = ("float", "int", "categorical", "fixed")
_SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step", "when"},
    "int": {"type", "low", "high", "log", "step", "when"},
    "categorical": {"type", "choices", "when"},
    "fixed": {"type", "value", "when"},
}


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
    def is_fixed(self) -> bool:
        return False

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
class FixedParam(Param):
    """A constant passed to every trial (``epochs: 20``). Samplers never see it."""

    value: Any = None
    type = "fixed"

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


class SearchSpace:
    """An ordered set of parameters, parents before the parameters that depend on them."""

    def __init__(self, params: list[Param] | Mapping[str, Param], *, source: str | None = None) -> None:
        plist = list(params.values()) if isinstance(params, Mapping) else list(params)
        self.source = source
        names = [p.name for p in plist]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ConfigError(f"parameter(s) defined twice: {', '.join(sorted(dupes))}", source=source)
        by_name = {p.name: p for p in plist}
        self._check_conditions(by_name)
        self.params: dict[str, Param] = {p.name: p for p in _topological(by_name, source)}
        #: parameters a sampler must choose a value for (fixed ones are filled in by the space)
        self.searchable: list[Param] = [p for p in self.params.values() if not p.is_fixed]

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, parameters: Mapping[str, Any], *, source: str | None = None) -> SearchSpace:
        """Build from the ``parameters:`` mapping (any syntax ``hposweep.config`` accepts)."""
        from hposweep.spacefile.config import normalize_parameters

        specs = normalize_parameters(parameters, source=source)
        return cls([param_from_spec(name, spec) for name, spec in specs.items()], source=source)

    @classmethod
    def from_yaml(cls, path: str) -> SearchSpace:
        """Load the ``parameters:`` of a space file; study settings are read by ``config.load_config``."""
        from hposweep.spacefile.config import load_config

        return load_config(path).space

    def to_json(self) -> dict[str, Any]:
        return {name: p.to_json() for name, p in self.params.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_json` (the checkpoint form, always normalized)."""
        return cls([param_from_spec(name, spec) for name, spec in data.items()])

    # --- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params.values())

    def __getitem__(self, name: str) -> Param:
        return self.params[name]

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.params)})"

    @property
    def is_conditional(self) -> bool:
        return any(p.when for p in self.params.values())

    def complete(self, chosen: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the active chosen values, add fixed values, in space order.

        Samplers produce a value for every parameter they like; this drops the ones whose condition
        does not hold given the others, so a trial's params are exactly its active parameters.
        """
        out: dict[str, Any] = {}
        for p in self.params.values():
            if not p.is_active(out):
                continue
            if p.is_fixed:
                out[p.name] = p.value  # type: ignore[attr-defined]
            elif p.name in chosen:
                out[p.name] = chosen[p.name]
        return out

    def check(self, params: Mapping[str, Any]) -> None:
        """Raise ConfigError unless ``params`` is a legal, complete set of active values."""
        seen: dict[str, Any] = {}
        for p in self.params.values():
            active = p.is_active(seen)
            if active and p.name not in params:
                raise ConfigError("missing value for an active parameter", param=p.name)
            if not active and p.name in params:
                raise ConfigError("value given but the parameter's condition does not hold", param=p.name)
            if active:
                if not p.contains(params[p.name]):
                    raise ConfigError(f"value {params[p.name]!r} is outside the space", param=p.name)
                seen[p.name] = params[p.name]
        extra = set(params) - set(self.params)
        if extra:
            raise ConfigError(f"unknown parameter(s): {', '.join(sorted(extra))}")

    def contains(self, params: Mapping[str, Any]) -> bool:
        try:
            self.check(params)
        except ConfigError:
            return False
        return True

    def n_configs(self, limit: int = 10**7) -> int | None:
        """Number of distinct configurations, or None when infinite or above ``limit``."""
        if any(p.n_values() is None for p in self.searchable):
            return None
        total = 0
        for _, weight in self._decision_assignments(limit):
            total += weight
            if total > limit:
                return None
        return total

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every configuration, conditions respected, in a stable order (space order, choices order)."""
        for p in self.searchable:
            if p.n_values() is None:
                p.values()  # raises the clear "no finite grid" error

        def rec(i: int, current: dict[str, Any]) -> Iterator[dict[str, Any]]:
            if i == len(self.params):
                yield dict(current)
                return
            p = list(self.params.values())[i]
            if not p.is_active(current):
                yield from rec(i + 1, current)
                return
            for v in p.values():
                current[p.name] = v
                yield from rec(i + 1, current)
                del current[p.name]

        yield from rec(0, {})

    def _decision_assignments(self, limit: int) -> Iterator[tuple[dict[str, Any], int]]:
        """Enumerate values of parameters that others depend on; weight = product of the rest."""
        parents = {c.parent for p in self.params.values() for c in p.when}
        plist = list(self.params.values())
        count = 0

        def rec(i: int, current: dict[str, Any], weight: int) -> Iterator[tuple[dict[str, Any], int]]:
            nonlocal count
            if i == len(plist):
                count += 1
                if count > limit + 1:  # one past the limit, so n_configs can tell "more than limit"
                    return
                yield current, weight
                return
            p = plist[i]
            if not p.is_active(current):
                yield from rec(i + 1, current, weight)
            elif p.name in parents:
                for v in p.values():
                    current[p.name] = v
                    yield from rec(i + 1, current, weight)
                    del current[p.name]
            else:
                yield from rec(i + 1, current, weight * int(p.n_values() or 1))

        yield from rec(0, {}, 1)

    # --- checks --------------------------------------------------------------------------
    def _check_conditions(self, by_name: Mapping[str, Param]) -> None:
        for p in by_name.values():
            for c in p.when:
                if c.parent == p.name:
                    raise ConfigError("`when:` refers to the parameter itself", param=p.name, source=self.source)
                parent = by_name.get(c.parent)
                if parent is None:
                    hint = _did_you_mean(c.parent, by_name)
                    raise ConfigError(
                        f"`when:` names unknown parameter '{c.parent}'",
                        param=p.name,
                        source=self.source,
                        hint=hint or "conditions must name another parameter of the space",
                    )
                for v in c.values:
                    if not _can_take(parent, v):
                        raise ConfigError(
                            f"`when: {{{c.parent}: {v!r}}}` can never hold: '{c.parent}' never takes {v!r}",
                            param=p.name,
                            source=self.source,
                            hint=_values_hint(parent),
                        )


def _can_take(parent: Param, value: Any) -> bool:
    if isinstance(parent, FloatParam) and parent.step is None:
        return parent.contains(value)
    return parent.contains(value)


def _values_hint(parent: Param) -> str:
    if isinstance(parent, CategoricalParam):
        return "its choices are: " + ", ".join(map(repr, parent.choices))
    if isinstance(parent, FixedParam):
        return f"it is fixed at {parent.value!r}"
    if isinstance(parent, NumericParam):
        return f"its range is {parent.low}..{parent.high}"
    return ""


def _did_you_mean(name: str, options: Mapping[str, Any] | list[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _topological(by_name: Mapping[str, Param], source: str | None) -> list[Param]:
    """Parents before children, otherwise the user's order; a cycle is a clear error."""
    order: list[Param] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise ConfigError(
                "conditions form a cycle: " + " -> ".join(cycle),
                param=name,
                source=source,
                hint="a parameter's `when:` must not depend, directly or not, on the parameter itself",
            )
        state[name] = 1
        for c in by_name[name].when:
            visit(c.parent, path + [name])
        state[name] = 2
        order.append(by_name[name])

    for name in by_name:
        visit(name, [])
    return order
