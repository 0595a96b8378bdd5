"""Name -> class tables for samplers and pruners, shared so both read YAML/CLI specs the same way.

A spec is a name (``"tpe"``), a mapping with a ``name`` and options (``{"name": "tpe",
"n_startup_trials": 5}``) or a ready object. A class's options are its ``__init__`` keywords; an
unknown name or option is a :class:`ConfigError` that lists what is valid. Classes live in
``"module:Class"`` strings and are imported on first use, so choosing ``random`` never pays for scipy.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from hposweep.errors import ConfigError


def option_names(cls: type) -> list[str]:
    """The keyword arguments of ``cls.__init__``: the options a YAML mapping may give."""
    import inspect  # ~10 ms of start-up that `hposweep best` does not need

    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]  # mypy refuses __init__ accessed on a class object
    return [n for n, p in sig.parameters.items() if n != "self" and p.kind in kinds]


def given_options(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """The ``__init__`` keywords of ``cls`` in ``given`` whose value differs from the default, in signature order.

    ``given`` is what ``__init__`` received (its ``locals()`` on entry); the result is what a
    checkpoint records to rebuild an equal object with ``make_sampler``/``make_pruner``.
    """
    import inspect

    out: dict[str, Any] = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():  # type: ignore[misc]  # as above: __init__ on a class object
        if name == "self" or name not in given or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        value = given[name]
        if p.default is p.empty or type(value) is not type(p.default) or value != p.default:
            out[name] = value
    return out


def load_class(table: Mapping[str, str], kind: str, name: str) -> type:
    target = table.get(name)
    if target is None:
        raise ConfigError(f"unknown {kind} '{name}'", hint=f"available {kind}s: " + ", ".join(table))
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def split_spec(spec: str | Mapping[str, Any], kind: str, example: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"{kind} needs a name", hint=f"e.g. {kind}: {example}")
        return name, options
    raise ConfigError(f"{kind} must be a name or a mapping, got {spec!r}")


def check_options(kind: str, name: str, cls: type, options: Mapping[str, Any]) -> None:
    valid = option_names(cls)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) for {kind} '{name}': {', '.join(unknown)}",
            hint="valid options: " + (", ".join(valid) if valid else "(none)"),
        )


def build(table: Mapping[str, str], kind: str, spec: str | Mapping[str, Any], example: str) -> Any:
    """Instantiate a spec, turning bad option values into a ConfigError too."""
    name, options = split_spec(spec, kind, example)
    cls = load_class(table, kind, name)
    check_options(kind, name, cls, options)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad option for {kind} '{name}': {exc}") from exc
