"""``--warm-start`` / ``warm_start:`` sources, turned into what :class:`~hposweep.study.api.Study` takes.

Why here: an Optuna source is read by :mod:`hposweep.integrations.optuna_import` (a higher layer than
the study), so the CLI reads it and hands the Study a ``(space, trials)`` pair; an hposweep checkpoint
is passed as its path and read by the study layer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from hposweep.errors import UsageError

OPTUNA_PREFIX = "optuna:"


def warm_start_sources(sources: Sequence[str] | None, *, base: str | None = None) -> list[Any]:
    """Checkpoint paths (checked to exist) and Optuna studies, read; ``base``: the folder relative
    paths of a space file are read against."""
    out: list[Any] = []
    for source in sources or ():
        if source.startswith(OPTUNA_PREFIX):
            from hposweep.integrations.optuna_import import read_optuna_trials

            target = source[len(OPTUNA_PREFIX):]
            if base and "://" not in target and not os.path.isabs(target):
                target = os.path.join(base, target)
            out.append(read_optuna_trials(target))
            continue
        path = os.path.join(base, source) if base and not os.path.isabs(source) else source
        if not os.path.exists(path):
            raise UsageError(f"--warm-start: no such study {source}",
                             hint="give an hposweep checkpoint, optuna:FILE.log or optuna:sqlite:///FILE.db")
        out.append(path)
    return out
