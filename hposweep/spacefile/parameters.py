"""A ``parameters:`` mapping in any accepted syntax → normalized specs, with where each was written.

Each parameter's raw spec is dispatched to its syntax: a string may be a one-line prior
(:mod:`.priors`), a mapping is native (:mod:`.native`) or W&B (:mod:`.wandb`), anything else is a
fixed value. Nested W&B ``parameters:`` blocks are flattened to dotted names (``optimizer.lr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hposweep.errors import ConfigError
from hposweep.spacefile.native import infer_native_type, native
from hposweep.spacefile.priors import parse_prior
from hposweep.spacefile.source import LocatedDict, LocatedList, Mark, key_mark, kind
from hposweep.spacefile.specs import (
    NATIVE_KEYS,
    WANDB_PARAM_KEYS,
    SpecNote,
    SpecProblem,
    Where,
    plain_value,
    reject_unknown,
)
from hposweep.spacefile.wandb import wandb

#: levels of nested W&B ``parameters:`` blocks (a file is bounded by the YAML depth; a Python mapping is not)
MAX_NESTING = 16


@dataclass
class NormalizedParameters:
    """The normalized spec of each parameter, where each is written, and warnings about how it was read."""

    specs: dict[str, Any] = field(default_factory=dict)
    wheres: dict[str, Where] = field(default_factory=dict)
    #: located messages ("file:line: parameter 'x': ...") for the user; not errors
    warnings: list[str] = field(default_factory=list)


def normalize(parameters: Any, source: str | None, mark: Mark | None) -> NormalizedParameters:
    """Every parameter of ``parameters`` normalized; the first problem is a located ConfigError."""
    if not isinstance(parameters, Mapping) or not parameters:
        got = "{}" if isinstance(parameters, Mapping) else f"a {kind(parameters)}"
        if parameters is None:
            got = "nothing"
        raise ConfigError(
            f"`parameters:` must be a non-empty mapping of name -> spec, got {got}",
            source=source,
            line=mark[0] if mark else None,
            hint="e.g.\n  parameters:\n    lr: {type: float, low: 1.0e-5, high: 0.1, log: true}",
        )
    out = NormalizedParameters()
    _collect(parameters, "", source, out, 0)
    return out


def _collect(parameters: Mapping[Any, Any], prefix: str, source: str | None, out: NormalizedParameters,
             depth: int) -> None:
    for name, raw in parameters.items():
        where = Where(name_mark=key_mark(parameters, name))
        if isinstance(raw, LocatedDict):
            where.key_marks = {str(k): m for k, m in raw.key_marks.items()}
            items = raw.get("choices", raw.get("values"))
            if isinstance(items, LocatedList):
                where.choice_marks = items.item_marks
        full = f"{prefix}{name}"
        notes: list[SpecNote] = []
        try:
            if not isinstance(name, str) or not name.strip():
                raise SpecProblem(f"parameter names must be non-empty strings, got {name!r}", hint="quote the name")
            if full in out.specs:
                raise SpecProblem("is defined twice (once as a dotted name, once nested)", hint="keep one of them")
            if isinstance(raw, Mapping) and "parameters" in raw:
                if depth >= MAX_NESTING:
                    raise SpecProblem(
                        f"nested `parameters:` blocks go deeper than {MAX_NESTING} levels",
                        key="parameters",
                        hint="flatten the space: dotted names (a.b.c) say the same",
                    )
                _collect(_nested(raw), f"{full}.", source, out, depth + 1)
                continue
            out.specs[full] = _normalize_one(raw, notes)
            out.wheres[full] = where
        except SpecProblem as problem:
            line, column = problem.mark or where.find(problem.key) or (None, None)
            raise ConfigError(
                problem.message, source=source, line=line, column=column, param=full, hint=problem.hint
            ) from None
        for note in notes:
            line, column = where.find(note.key) or (None, None)
            out.warnings.append(ConfigError(note.message, source=source, line=line, column=column, param=full).message)


def _nested(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """A W&B nested block ``name: {parameters: {...}}``, flattened by the caller to ``name.sub``."""
    extra = set(raw) - {"parameters", "description"}
    if extra:
        raise SpecProblem(
            f"a nested `parameters:` block cannot also have {', '.join(sorted(map(str, extra)))}",
            key=sorted(map(str, extra))[0],
            hint="move those keys into a parameter inside the block",
        )
    inner = raw["parameters"]
    if not isinstance(inner, Mapping) or not inner:
        raise SpecProblem("nested `parameters:` must be a non-empty mapping", key="parameters")
    return inner


def _normalize_one(raw: Any, notes: list[SpecNote]) -> dict[str, Any]:
    if raw is None:
        raise SpecProblem(
            "has no value",
            hint="give a spec, e.g. {type: float, low: 0, high: 1}; for a fixed null write {value: null}",
        )
    if isinstance(raw, str):
        return parse_prior(raw, notes) or {"type": "fixed", "value": raw}
    if isinstance(raw, list):
        raise SpecProblem(
            "a bare list is not a parameter spec",
            hint="for a choice write {type: categorical, choices: [...]} (or {values: [...]}); "
            "for a fixed list value write {value: [...]}",
        )
    if isinstance(raw, Mapping):
        return _from_mapping(raw, notes)
    return {"type": "fixed", "value": plain_value(raw)}


def _from_mapping(spec: Mapping[Any, Any], notes: list[SpecNote]) -> dict[str, Any]:
    for key in spec:
        if not isinstance(key, str):
            raise SpecProblem(f"spec keys must be strings, got {key!r}")
    keys = set(spec)
    if "type" in spec:
        return native(spec, spec["type"])
    wandb_keys = keys & (WANDB_PARAM_KEYS - {"when"})
    native_keys = keys & (NATIVE_KEYS - {"when", "value"})
    if wandb_keys and native_keys:
        raise SpecProblem(
            f"mixes native keys ({', '.join(sorted(native_keys))}) with W&B keys ({', '.join(sorted(wandb_keys))})",
            key=sorted(native_keys)[0],
            hint="use either type/low/high/choices or W&B's distribution/min/max/values",
        )
    if wandb_keys:
        return wandb(spec, notes)
    if native_keys:
        return native(spec, infer_native_type(spec))
    if not spec:
        raise SpecProblem("empty spec {}", hint="e.g. {type: float, low: 0, high: 1}, or a plain value")
    reject_unknown(spec, NATIVE_KEYS | WANDB_PARAM_KEYS)
    raise SpecProblem("spec has no type", key="when", hint="add `type:` (float, int, categorical) or `value:`")
