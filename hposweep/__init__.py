"""hposweep: hyperparameter sweeps over your own training command.

The public API is imported lazily so ``hposweep --help`` does not pay for numpy and scipy. This module
is the one place allowed to reach into every layer: it only re-exports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hposweep.core.version import __version__

__all__ = [
    "__version__",
    "SearchSpace",
    "load_space",
    "Study",
    "Trial",
    "TrialState",
    "HposweepError",
    "ConfigError",
    "UsageError",
    "CheckpointError",
    "StudyError",
]

# SearchSpace comes through the space-file layer, which registers the syntax reader that
# SearchSpace.from_dict uses (native, W&B and prior syntax), before the class is handed out.
_LAZY = {
    "SearchSpace": "hposweep.spacefile",
    "load_space": "hposweep.spacefile",
    "Study": "hposweep.study.api",
    "Trial": "hposweep.core.trial",
    "TrialState": "hposweep.core.trial",
    "HposweepError": "hposweep.errors",
    "ConfigError": "hposweep.errors",
    "UsageError": "hposweep.errors",
    "CheckpointError": "hposweep.errors",
    "StudyError": "hposweep.errors",
}

if TYPE_CHECKING:
    from hposweep.core.trial import Trial, TrialState
    from hposweep.errors import CheckpointError, ConfigError, HposweepError, StudyError, UsageError
    from hposweep.spacefile import SearchSpace, load_space
    from hposweep.study.api import Study


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hposweep' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
