"""Sampler registry: names (as written in YAML or on the command line) to classes, imported lazily.

``make_sampler("tpe")``, ``make_sampler({"name": "tpe", "n_startup_trials": 5})`` or a ready
:class:`Sampler` object. Unknown names and unknown options are :class:`ConfigError` listing what is
valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hposweep.core import registry
from hposweep.samplers.base import Sampler, SamplingContext

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

#: what `run` and `Study` use when no sampler is named: ``auto`` picks gp, tpe or cmaes from the
#: space, budget and parallelism (it matched or beat every single sampler on the benchmarks)
DEFAULT_SAMPLER = "auto"


def default_sampler(n_objectives: int = 1) -> str:
    """The default sampler's name (``auto`` handles several objectives by choosing ``tpe``)."""
    return DEFAULT_SAMPLER


_EXAMPLE = "{name: tpe, n_startup_trials: 10}"


def sampler_class(name: str) -> type[Sampler]:
    return registry.load_class(SAMPLERS, "sampler", name)


def check_sampler_spec(spec: str | Mapping[str, Any] | None) -> None:
    """Validate a sampler name and option names; the module is imported only when options are given."""
    name, options = registry.split_spec(DEFAULT_SAMPLER if spec is None else spec, "sampler", _EXAMPLE)
    cls = sampler_class(name) if options or name not in SAMPLERS else None
    if cls is not None:
        registry.check_options("sampler", name, cls, options)


def make_sampler(spec: str | Mapping[str, Any] | Sampler | None) -> Sampler:
    if isinstance(spec, Sampler):
        return spec
    return registry.build(SAMPLERS, "sampler", DEFAULT_SAMPLER if spec is None else spec, _EXAMPLE)
