"""Pruner registry: names (as written in YAML or on the command line) to classes, imported lazily.

``make_pruner("median")``, ``make_pruner({"name": "median", "n_startup_trials": 5})``, a ready
:class:`Pruner` object, or ``None``/``"none"`` for no pruning. Unknown names and unknown options
are :class:`ConfigError` listing what is valid.

Pruners are pure decision logic (see :mod:`hposweep.pruners.base`): the Study binds one to its seed
and direction, then asks ``should_prune(trial, others)`` after each intermediate report.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .base import Pruner

__all__ = ["Pruner", "make_pruner", "pruner_class", "PRUNERS", "DEFAULT_PRUNER"]

#: name -> "module:Class"; modules are imported only when a pruner is chosen
PRUNERS: dict[str, str] = {
    "none": "hposweep.pruners.nop:NopPruner",
    "median": "hposweep.pruners.percentile:MedianPruner",
    "percentile": "hposweep.pruners.percentile:PercentilePruner",
    "asha": "hposweep.pruners.halving:SuccessiveHalvingPruner",
    "hyperband": "hposweep.pruners.halving:HyperbandPruner",
}

DEFAULT_PRUNER = "none"


def pruner_class(name: str) -> type[Pruner]:
    target = PRUNERS.get(name)
    if target is None:
        raise ConfigError(f"unknown pruner '{name}'", hint="available pruners: " + ", ".join(PRUNERS))
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def make_pruner(spec: str | Mapping[str, Any] | Pruner | None) -> Pruner:
    if spec is None:
        spec = DEFAULT_PRUNER
    if isinstance(spec, Pruner):
        return spec
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError("pruner needs a name", hint="e.g. pruner: {name: median, n_startup_trials: 5}")
    else:
        raise ConfigError(f"pruner must be a name or a mapping, got {spec!r}")
    cls = pruner_class(name)
    valid = cls.option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) for pruner '{name}': {', '.join(unknown)}",
            hint="valid options: " + (", ".join(valid) if valid else "(none)"),
        )
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad option for pruner '{name}': {exc}") from exc
