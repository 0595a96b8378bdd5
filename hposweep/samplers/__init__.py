"""Sampler registry: names (as written in YAML or on the command line) to classes, imported lazily.

``make_sampler("tpe")``, ``make_sampler({"name": "tpe", "n_startup_trials": 5})`` or a ready
:class:`Sampler` object. Unknown names and unknown options are :class:`ConfigError` listing what is
valid.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .base import Sampler, SamplingContext

__all__ = ["Sampler", "SamplingContext", "make_sampler", "SAMPLERS", "DEFAULT_SAMPLER"]

#: name -> "module:Class"; modules are imported only when a sampler is chosen (numpy/scipy are slow)
SAMPLERS: dict[str, str] = {
    "random": "hposweep.samplers.random:RandomSampler",
    "grid": "hposweep.samplers.grid:GridSampler",
    "tpe": "hposweep.samplers.tpe:TPESampler",
    "nsga2": "hposweep.samplers.nsga2:NSGA2Sampler",
    "gp": "hposweep.samplers.gp:GPSampler",
    "cmaes": "hposweep.samplers.cmaes:CmaEsSampler",
    "auto": "hposweep.samplers.auto:AutoSampler",
}

DEFAULT_SAMPLER = "tpe"


def default_sampler(n_objectives: int = 1) -> str:
    """``tpe``; for several objectives ``tpe`` when it handles them, else ``nsga2``."""
    if n_objectives > 1 and not getattr(sampler_class(DEFAULT_SAMPLER), "multi_objective", False):
        return "nsga2"
    return DEFAULT_SAMPLER


def sampler_class(name: str) -> type[Sampler]:
    target = SAMPLERS.get(name)
    if target is None:
        raise ConfigError(
            f"unknown sampler '{name}'",
            hint="available samplers: " + ", ".join(SAMPLERS),
        )
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def _split_spec(spec: str | Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if spec is None:
        spec = DEFAULT_SAMPLER
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError("sampler needs a name", hint="e.g. sampler: {name: tpe, n_startup_trials: 10}")
        return name, options
    raise ConfigError(f"sampler must be a name or a mapping, got {spec!r}")


def check_sampler_spec(spec: str | Mapping[str, Any] | None) -> None:
    """Validate a sampler name and option names without importing the sampler's module."""
    name, options = _split_spec(spec)
    if name not in SAMPLERS:
        sampler_class(name)  # raises the "unknown sampler" error
    if options:
        cls = sampler_class(name)
        _check_options(name, cls, options)


def _check_options(name: str, cls: type[Sampler], options: Mapping[str, Any]) -> None:
    valid = cls.option_names()
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) for sampler '{name}': {', '.join(unknown)}",
            hint="valid options: " + (", ".join(valid) if valid else "(none)"),
        )


def make_sampler(spec: str | Mapping[str, Any] | Sampler | None) -> Sampler:
    if isinstance(spec, Sampler):
        return spec
    name, options = _split_spec(spec)
    cls = sampler_class(name)
    _check_options(name, cls, options)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad option for sampler '{name}': {exc}") from exc
