"""How often a trial may be re-run after losing its Ray node (``max_reruns``), and the reason once it may not.

A trial whose node dies is recorded ``interrupted`` and its params are queued again, which is right for
a node that crashed once; but params that kill their node every time (out of memory, a driver bug the
trial triggers) would otherwise be re-run, and take a node down, forever. The re-runs of one set of
params form a chain through ``info["rerun_of"]``; only the links lost with a node count, so a re-run
after Ctrl-C or after a dead worker's lease does not use up the allowance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import Trial, TrialState

if TYPE_CHECKING:
    from hposweep.study.api import Study

#: the reason a trial lost with its Ray node is recorded with (and re-run)
NODE_LOST = "its Ray node was lost"


def earlier_node_losses(trials: Sequence[Trial], trial: Trial) -> int:
    """How many of ``trial``'s earlier runs (its ``rerun_of`` chain) ended with their Ray node lost."""
    losses, seen = 0, {trial.number}
    number = trial.info.get("rerun_of")
    while isinstance(number, int) and 0 <= number < len(trials) and number not in seen:
        seen.add(number)
        earlier = trials[number]
        if earlier.state is TrialState.INTERRUPTED and earlier.info.get("reason") == NODE_LOST:
            losses += 1
        number = earlier.info.get("rerun_of")
    return losses


def rerun_refused(trials: Sequence[Trial], trial: Trial, max_reruns: int) -> str | None:
    """``trial`` just lost its node: None when it may run again, else why not (the reason it fails with)."""
    losses = earlier_node_losses(trials, trial) + 1
    if losses <= max_reruns:
        return None
    times = "once" if max_reruns == 1 else f"{max_reruns} times"
    return (f"its Ray node was lost {losses} times; a trial is re-run at most {times} after losing its node "
            "(--max-reruns)")


def record_lost_node(study: Study, trial: Trial, info: Mapping[str, Any], user_attrs: Mapping[str, Any],
                     max_reruns: int, say: Callable[[str], None]) -> None:
    """Record a trial whose Ray node died: ``interrupted`` and queued again, or failed once lost too often."""
    reason = rerun_refused(study.trials, trial, max_reruns)
    if reason is not None:  # the same params would take down node after node
        say(f"trial {trial.number}: {reason}")
        study.tell(trial, state=TrialState.FAILED, info={**info, "reason": reason}, user_attrs=user_attrs)
        return
    say(f"trial {trial.number} lost its Ray node: re-running it")
    study.update_info(trial, **info, reason=NODE_LOST)
    study.recover_running([trial.number], reason=NODE_LOST)
