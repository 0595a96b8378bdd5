"""The default: never prune (every trial runs to its end)."""

from __future__ import annotations

from collections.abc import Sequence

from hposweep.core.trial import Trial
from hposweep.pruners.base import Pruner


class NopPruner(Pruner):
    """Keeps every trial: the baseline that the other pruners' savings are measured against."""

    name = "none"

    def __init__(self) -> None:
        pass

    def should_prune(self, trial: Trial, others: Sequence[Trial]) -> bool:
        return False
