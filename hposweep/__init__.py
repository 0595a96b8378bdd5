"""hposweep: hyperparameter sweeps over your own training command.

The public API is imported lazily so ``hposweep --help`` does not pay for numpy and scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["SearchSpace", "Study", "Trial", "TrialState", "HposweepError", "ConfigError", "CheckpointError"]

_LAZY = {
    "SearchSpace": "hposweep.space",
    "Study": "hposweep.study",
    "Trial": "hposweep.trial",
    "TrialState": "hposweep.trial",
    "HposweepError": "hposweep.errors",
    "ConfigError": "hposweep.errors",
    "CheckpointError": "hposweep.errors",
}

if TYPE_CHECKING:
    from .errors import CheckpointError, ConfigError, HposweepError
    from .space import SearchSpace
    from .study import Study
    from .trial import Trial, TrialState


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hposweep' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
