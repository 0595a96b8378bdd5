"""The pruner interface: intermediate values in, a keep/stop decision out, no I/O.

The Study calls :meth:`Pruner.should_prune` after every new intermediate report of a running trial,
passing that trial and every other trial of the study. A pruner never draws random numbers from a
global generator: the only randomness (Hyperband's bracket assignment) is a hash of the study seed
and the trial number, so a resumed study makes the same choices.

Internally every pruner works in "minimize space": values are multiplied by ``sign`` (+1 to
minimize, -1 to maximize) so "worse" is always "greater". Percentiles stay exact under this
flip (the p-th percentile of ``-x`` is minus the (100-p)-th percentile of ``x``).

Finished trials (complete, pruned, failed) never change their curves again, so pruners fold them
into per-step (or per-rung) sorted lists once, the first time they see them finished; only the
few running trials are looked at afresh on each call. That keeps a call at O(number of trials)
cheap dictionary look-ups plus O(log n) work per statistic, even with thousands of trials.

**A trial is never pruned at its last step.** Pruning there saves no epoch and throws the result
away (the trial is recorded as pruned, not complete). A pruner is asked after a report and cannot
know whether that report is the trial's last, but the study knows where the complete trials ended:
:class:`FinalSteps` keeps those steps, and every built-in pruner refuses to prune at a step where a
complete trial ended or past the longest complete run (``is_final_step``). When all runs have the
same length that is exactly "at or after the last step". When lengths differ (``epochs`` is a
parameter), refusing only at or after the *longest* run would still prune the shorter runs at their
end, and refusing from the *shortest* on would stop all pruning of the longer runs there; refusing
at each observed end step costs one check per distinct run length and protects every trial whose
length has been seen. Hyperband (and ASHA when given ``max_resource``) also refuse at
``max_resource - 1`` and later, the last step by their convention (``max_resource`` = last step + 1,
as Optuna), before any trial completed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hposweep.core.trial import Trial, TrialState

DIRECTIONS = ("minimize", "maximize")

#: states whose intermediate curve can no longer change
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


class Pruner:
    """Base class. Subclasses implement :meth:`should_prune`; options are their ``__init__`` keywords."""

    name = "base"
    seed: int | None = None
    direction: str = "minimize"
    #: +1 to minimize, -1 to maximize: ``sign * value`` is smaller when better
    sign: float = 1.0

    def bind(self, *, seed: int | None, direction: str) -> None:
        """Called once by the Study before the first trial; resets any cache of a previous study."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        self.seed = seed
        self.direction = direction
        self.sign = 1.0 if direction == "minimize" else -1.0
        self.final_steps = FinalSteps()
        self._reset()

    #: where complete trials ended (see the module docstring); rebuilt by :meth:`bind`
    final_steps: FinalSteps

    def is_final_step(self, step: float, others: Sequence[Trial], max_resource: int | None = None) -> bool:
        """True when pruning at ``step`` would likely cut a trial at its last report (then keep it).

        ``max_resource`` (last step + 1), where a pruner knows it, protects ``max_resource - 1`` on.
        """
        if max_resource is not None and step >= max_resource - 1:
            return True
        if "final_steps" not in self.__dict__:  # a pruner used without bind()
            self.final_steps = FinalSteps()
        return self.final_steps.update(others).protects(step)

    def _reset(self) -> None:
        """Drop cached statistics (subclasses with caches override)."""

    def observe(self, trials: Sequence[Trial]) -> None:
        """Optional: let "auto" settings settle from existing trials (after a resume), before any report.

        Only Hyperband needs it, so :meth:`bracket_of` can answer for the first trial asked after
        a resume; the others learn everything they need in :meth:`should_prune`.
        """

    def should_prune(self, trial: Trial, others: Sequence[Trial]) -> bool:
        """True when ``trial`` (which just reported ``trial.last_step``) should stop now."""
        raise NotImplementedError

    def bracket_of(self, trial_number: int) -> int | None:
        """Hyperband's bracket of a trial (samplers model each bracket apart); None for other pruners."""
        return None

    def describe(self) -> str:
        """One line for the start of a sweep."""
        return self.name

    #: what ``__init__`` was called with (see :meth:`_record_options`)
    _given: Mapping[str, Any] = {}

    def _record_options(self, given: Mapping[str, Any]) -> None:
        """Keep the keywords ``__init__`` received: call ``self._record_options(locals())`` as its first line."""
        self._given = {k: v for k, v in given.items() if k not in ("self", "__class__")}

    def options(self) -> dict[str, Any]:
        """The option values this pruner was built with that differ from the defaults (JSON-able keywords
        of ``__init__``), so that ``make_pruner(x.spec())`` builds an equal pruner."""
        from hposweep.core.registry import given_options

        return given_options(type(self), self._given)

    def spec(self) -> str | dict[str, Any]:
        """What the checkpoint records to rebuild this pruner: its name, or ``{name, **options}``."""
        opts = self.options()
        return {"name": self.name, **opts} if opts else self.name

    @classmethod
    def option_names(cls) -> list[str]:
        from hposweep.core.registry import option_names

        return option_names(cls)


# ---------------------------------------------------------------------------------------------
# small pure helpers shared by the pruners


def is_nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


def check_int(name: str, value: object, minimum: int) -> int:
    """Validate an integer option (bools are not integers here: ``true`` in YAML is a typo)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_int_or_auto(name: str, value: object, minimum: int) -> int | str:
    if value == "auto":
        return "auto"
    try:
        return check_int(name, value, minimum)
    except ValueError:
        raise ValueError(f"{name} must be an integer >= {minimum} or 'auto', got {value!r}") from None


def percentile_of_sorted(xs: Sequence[float], p: float) -> float:
    """``numpy.percentile(xs, p)`` (linear interpolation) of an ascending, NaN-free, non-empty list."""
    pos = (len(xs) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class _Without(Sequence[float]):
    """View of a sorted list with one index left out (no copy: used for leave-one-out percentiles)."""

    def __init__(self, xs: Sequence[float], skip: int) -> None:
        self.xs, self.skip = xs, skip

    def __len__(self) -> int:
        return len(self.xs) - 1

    def __getitem__(self, i):
        return self.xs[i + 1 if i >= self.skip else i]


def percentile_excluding(xs: Sequence[float], x: float, p: float) -> float:
    """Percentile of the ascending list ``xs`` with one occurrence of ``x`` removed (NaN if empty)."""
    i = bisect.bisect_left(xs, x)
    if i >= len(xs) or xs[i] != x:
        raise ValueError("value not in list")
    if len(xs) < 2:
        return math.nan
    return percentile_of_sorted(_Without(xs, i), p)


class FoldedValues:
    """Finished trials' values folded once into ascending lists, one per step (or rung).

    The cache every pruner keeps (see the module docstring): :meth:`claim` says whether a trial is
    new (and marks it seen), :meth:`add` merges the new values. One new value is a binary insertion;
    a resume brings many at once, merged by one sort of a sorted run plus a tail (linear-ish).
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.lists: dict[float, list[float]] = {}

    def claim(self, number: int) -> bool:
        """True the first time a trial number is given (it is then folded in), False afterwards."""
        if number in self.seen:
            return False
        self.seen.add(number)
        return True

    def add(self, fresh: Mapping[float, Sequence[float]]) -> None:
        for key, vs in fresh.items():
            values = self.lists.setdefault(key, [])
            if len(vs) == 1:
                bisect.insort(values, vs[0])
            else:
                values.extend(vs)
                values.sort()

    def get(self, key: float) -> list[float]:
        """The ascending values at ``key`` (empty when none)."""
        return self.lists.get(key, [])


class FinalSteps:
    """The steps at which complete trials ended, folded once per trial (cheap to ask after each report)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.ends: set[float] = set()
        self.longest: float | None = None

    def update(self, others: Sequence[Trial]) -> FinalSteps:
        for t in others:
            if t.state != TrialState.COMPLETE or t.number in self.seen:
                continue
            self.seen.add(t.number)
            last = t.last_step
            if last is None:
                continue
            self.ends.add(last)
            self.longest = last if self.longest is None else max(self.longest, last)
        return self

    def protects(self, step: float) -> bool:
        """At a step where a complete trial ended, or past the longest complete run."""
        return self.longest is not None and (step >= self.longest or step in self.ends)


def first_step_at_or_after(intermediate: Mapping[float, float], target: float) -> float | None:
    """The smallest reported step >= ``target`` (a rung is reached at the first report past it)."""
    if target in intermediate:  # every step reported (the usual case): no pass over a long curve
        return target
    best = None
    for s in intermediate:
        if s >= target and (best is None or s < best):
            best = s
    return best


def earliest_complete(trials: Sequence[Trial]) -> Trial | None:
    """The first trial that completed (by finish order, then number): "auto" settings are read
    from it alone, so a resumed study, which sees more completed trials, settles on the same value."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.intermediate]
    if not done:
        return None
    return min(done, key=lambda t: (t.finish_seq if t.finish_seq is not None else math.inf, t.number))


def final_value(trial: Trial) -> float | None:
    """The value a completed trial ended with: its objective, else its last intermediate value."""
    v = trial.value
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    if trial.intermediate:
        last = trial.intermediate[trial.curve_summary().last]  # type: ignore[index]  # not empty: last is set
        if isinstance(last, (int, float)) and math.isfinite(last):
            return float(last)
    return None
