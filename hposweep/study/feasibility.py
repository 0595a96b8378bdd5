"""Whether a finished trial meets the study's outcome constraints, judged from what the trial holds.

Why here and not at run time: the constraint metrics arrive like any other metric (the runner keeps
each non-objective metric's last value in ``user_attrs``), so feasibility is a pure function of the
recorded trial and the study's constraints. Judging it when read means old checkpoints, warm-start
priors and trials told through the Python API all follow one rule, and nothing new is written.

Only complete trials are feasible or not; a pruned, failed or running trial is neither (the
samplers and ``best`` treat those by their state already).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hposweep.core.constraints import Constraint
from hposweep.core.trial import Trial, TrialState


class Feasibility:
    """The study's constraints, applied to trials; one object per study, so samplers may cache on it."""

    def __init__(self, constraints: Sequence[Constraint], objective_names: Sequence[str] = ()) -> None:
        self.constraints = tuple(constraints)
        #: a constraint may name an objective too (``loss <= 1``): read it from the trial's values
        self.objective_names = tuple(objective_names)

    def metric(self, t: Trial, name: str) -> float | None:
        v = t.user_attrs.get(name)
        if v is None and name in self.objective_names and t.values:
            i = self.objective_names.index(name)
            v = t.values[i] if i < len(t.values) else None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return float(v)

    def violation(self, t: Trial) -> float:
        """Total violation of a complete trial (0.0: feasible; inf: a constraint metric is missing)."""
        if t.state is not TrialState.COMPLETE or not self.constraints:
            return 0.0
        return sum(c.violation(self.metric(t, c.metric)) for c in self.constraints)

    def is_feasible(self, t: Trial) -> bool:
        return t.state is TrialState.COMPLETE and self.violation(t) == 0.0

    def reason(self, t: Trial) -> str | None:
        """Why a complete trial is infeasible (``memory_gb=12 breaks memory_gb <= 10``); None when it is not."""
        if t.state is not TrialState.COMPLETE:
            return None
        broken = []
        for c in self.constraints:
            v = self.metric(t, c.metric)
            if v is None or math.isnan(v):
                broken.append(f"{c.metric} was never reported (constraint {c})")
            elif c.violation(v) > 0:
                broken.append(f"{c.metric}={v:g} breaks {c}")
        return "; ".join(broken) or None
