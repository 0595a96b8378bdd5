"""Layer 1: reading a search space, from a file or a ``parameters:`` mapping.

A file is YAML read with positions (:mod:`.source`); its parameters may be written in native
syntax (:mod:`.native`), W&B sweep syntax (:mod:`.wandb`) or one-line priors (:mod:`.priors`), all
normalized by :mod:`.parameters`; the other top-level keys are study settings (:mod:`.settings`);
:mod:`.loader` assembles a :class:`SpaceConfig` and locates every error at file:line;
:mod:`.table` gives ``hposweep validate`` its rows.

Importing this package registers :func:`normalize_parameters` as the syntax reader of
:meth:`SearchSpace.from_dict` (``hposweep.core.space.register_spec_reader``): the core cannot import
this layer, and ``hposweep.SearchSpace`` is resolved through here, so every user's ``from_dict``
reads every syntax.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from hposweep.core.space import SearchSpace, register_spec_reader
from hposweep.spacefile.loader import SpaceConfig, load_config, load_space
from hposweep.spacefile.parameters import normalize
from hposweep.spacefile.table import space_table_rows

__all__ = ["SearchSpace", "SpaceConfig", "load_config", "load_space", "normalize_parameters", "space_table_rows"]


def normalize_parameters(parameters: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """Turn a ``parameters:`` mapping in any accepted syntax into ``param_from_spec`` spec dicts.

    Nested W&B ``parameters:`` blocks come back flattened to dotted names (``optimizer.lr``).
    Notes on how a spec was read (a W&B ``q`` rounded to multiples inside the range) are issued as
    :class:`UserWarning`; :func:`load_config` returns them on :attr:`SpaceConfig.warnings` instead.
    """
    normalized = normalize(parameters, source, None)
    for message in normalized.warnings:
        warnings.warn(message, UserWarning, stacklevel=2)
    return normalized.specs


register_spec_reader(normalize_parameters)
