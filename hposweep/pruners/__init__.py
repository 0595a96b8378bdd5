"""Pruner registry: names (as written in YAML or on the command line) to classes, imported lazily.

``make_pruner("median")``, ``make_pruner({"name": "median", "n_startup_trials": 5})``, a ready
:class:`Pruner` object, or ``None``/``"none"`` for no pruning. Unknown names and unknown options
are :class:`ConfigError` listing what is valid.

Pruners are pure decision logic (see :mod:`hposweep.pruners.base`): the Study binds one to its seed
and direction, then asks ``should_prune(trial, others)`` after each intermediate report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hposweep.core import registry
from hposweep.pruners.base import Pruner

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
    return registry.load_class(PRUNERS, "pruner", name)


def make_pruner(spec: str | Mapping[str, Any] | Pruner | None) -> Pruner:
    if isinstance(spec, Pruner):
        return spec
    return registry.build(PRUNERS, "pruner", DEFAULT_PRUNER if spec is None else spec,
                          "{name: median, n_startup_trials: 5}")
