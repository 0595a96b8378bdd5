"""What every parameter syntax shares: the problem it raises, where a spec is written, field readers.

The syntax modules (:mod:`.native`, :mod:`.wandb`, :mod:`.priors`) turn one parameter's raw spec into
a normalized spec dict for :func:`hposweep.core.params.param_from_spec`. They do not know the file or
the parameter's name: they raise :class:`SpecProblem` naming the spec key at fault, and
:mod:`.parameters` turns it into a :class:`ConfigError` at that key's line. What a syntax maps with a
caveat (not an error) it appends to a ``notes`` list of :class:`SpecNote`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hposweep.core.params import value_key
from hposweep.errors import did_you_mean
from hposweep.spacefile.source import LocatedList, Mark, ValueTooLarge, plain

NATIVE_KEYS = {"type", "low", "high", "log", "step", "choices", "value", "when"}
WANDB_PARAM_KEYS = {"distribution", "min", "max", "q", "values", "value", "probabilities", "mu", "sigma", "when"}
NUMERIC_TYPES = ("float", "int")


class SpecProblem(Exception):
    """A problem in one parameter's spec; turned into a located ConfigError by the caller."""

    def __init__(self, message: str, key: str | None = None, hint: str | None = None, mark: Mark | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint
        self.mark = mark


@dataclass(frozen=True)
class SpecNote:
    """A caveat about how a spec was read (a warning for the user), with the spec key it is about."""

    message: str
    key: str | None = None


@dataclass
class Where:
    """Where a parameter and the keys of its spec are written."""

    name_mark: Mark | None = None
    key_marks: dict[str, Mark] = field(default_factory=dict)
    choice_marks: list[Mark] = field(default_factory=list)

    def find(self, *keys: str | None) -> Mark | None:
        for key in keys:
            if key is not None and key in self.key_marks:
                return self.key_marks[key]
        return self.name_mark


def plain_value(value: Any, key: str | None = None) -> Any:
    """:func:`~hposweep.spacefile.source.plain`, with a too-large value as a SpecProblem at ``key``."""
    try:
        return plain(value)
    except ValueTooLarge as exc:
        hint = "write the value out, or pass a file path"
        raise SpecProblem(f"value is too large: {exc}", key=key, hint=hint) from None


def with_when(out: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """``out`` plus the spec's ``when:`` (every syntax takes the same conditions)."""
    if "when" in spec:
        out["when"] = plain_value(spec["when"], "when")
    return out


def reject_unknown(spec: Mapping[str, Any], valid: set[str], context: str = "") -> None:
    for key in spec:
        if key not in valid:
            hint = did_you_mean(key, sorted(valid)) or "valid keys: " + ", ".join(sorted(valid))
            if key in WANDB_PARAM_KEYS and "type" in spec:
                hint = f"`{key}` is W&B syntax; with `type:` use " + ", ".join(sorted(valid - {"type", "when"}))
            raise SpecProblem(f"unknown key '{key}'{context}", key=key, hint=hint)


def number(value: Any, key: str, *, as_int: bool = False) -> int | float:
    """A numeric field; numeric-looking strings are converted (YAML 1.1 reads some numbers as text)."""
    out: int | float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = value
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        for convert in (int, float):
            try:
                out = convert(text)
                break
            except ValueError:
                continue
    if out is None:
        raise SpecProblem(f"{key} must be a number, got {value!r}", key=key, hint=f"e.g. {key}: 0.5 or {key}: 1.0e-5")
    if as_int:
        if isinstance(out, float) and out.is_integer():
            return int(out)
        if isinstance(out, float):
            raise SpecProblem(
                f"{key} of an int parameter must be a whole number, got {value!r}",
                key=key,
                hint="use `type: float` for a fractional range",
            )
    return out


def choices(items: Any, key: str) -> list[Any]:
    """A list of choices, each listed once (``yes`` and ``true`` are the same value to YAML)."""
    if not isinstance(items, list):
        raise SpecProblem(f"{key} must be a list, got {items!r}", key=key, hint=f"e.g. {key}: [adam, sgd]")
    if not items:
        raise SpecProblem(f"{key} is empty", key=key, hint="list at least one value")
    out = plain_value(items, key)
    seen: dict[Any, int] = {}
    marks = items.item_marks if isinstance(items, LocatedList) else []
    for i, choice in enumerate(out):
        try:
            k = value_key(choice)
            hash(k)
        except TypeError:
            continue  # param_from_spec reports it
        if k in seen:
            raise SpecProblem(
                f"choice {choice!r} is listed twice in {key}",
                key=key,
                mark=marks[i] if i < len(marks) else None,
                hint="remove the duplicate (note: YAML reads yes/no/on/off as true/false; quote them)",
            )
        seen[k] = i
    return out
