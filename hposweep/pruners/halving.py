"""Asynchronous successive halving (``asha``) and Hyperband (``hyperband``).

ASHA (Li et al. 2018; Optuna's ``SuccessiveHalvingPruner``, Ray Tune's ``ASHAScheduler``): rung k
sits at step ``min_resource * reduction_factor ** (min_early_stopping_rate + k)``. When a trial's
report reaches or passes a rung for the first time, its value there is compared with the values
every other trial had when it reached that rung (running, complete, pruned or failed trials
alike: that is what makes it asynchronous); it is promoted, i.e. kept running, when it is among
the best ``1/reduction_factor`` of them, counting itself. While fewer than ``reduction_factor``
trials reached the rung, "the best 1/eta" is taken as "the best one" (as Optuna does, since a
trial cannot be paused until enough others catch up). Ties promote. A rung passed once is never
judged again: only rungs crossed by the newest report are checked, so the decision is a pure
function of the curves. A trial's value at a rung is its value at its first report at or after
the rung's step (one that skips steps is judged late rather than never). Nothing is pruned at a
step where a complete trial ended, later, or from ``max_resource - 1`` on when it is given (see
:mod:`hposweep.pruners.base`): a rung there would cut trials that have nothing left to run.

Hyperband (Li et al. 2017; Optuna's ``HyperbandPruner``): ``n = floor(log_eta(max/min)) + 1``
brackets; bracket b is ASHA with ``min_early_stopping_rate = b``, so bracket 0 prunes most eagerly
and the last bracket hardly at all, hedging against a wrong guess of how early curves can be
judged. Trials compete only within their bracket. Trial k's bracket is
``blake2b(f"{seed}:{k}") mod total budget`` walked through the brackets' budgets
``ceil(n * eta**s / (s + 1))`` (``s = n - 1 - b``, the paper's number of configurations per bracket):
deterministic given the study seed (None counts as 0), independent of Python's salted ``hash()``,
and the same after a resume. ``bracket_of`` tells the sampler, which should model each bracket
apart (a bracket's trials were judged at other steps than another's).

"auto" resources are read from the *first* trial that completed (by finish order), never updated,
so a resumed study keeps them; nothing is pruned until that trial completes. ``max_resource`` =
its last step + 1 (as Optuna). ``min_resource`` differs from the established defaults, on purpose:

* asha: ``min_resource: auto`` = a third of a full run (``(last step + 1) // eta``), where Optuna's
  "auto" is last step // 100 (i.e. 1 for runs under 200 steps) and Ray's ``grace_period`` is 1.
  A first rung at step 1 judges curves that start at the same loss on noise and on how fast they
  start, cutting two thirds of the trials there, the good slow starters with them.
* hyperband: ``min_resource: auto`` = a ninth of a full run (``// eta**2``), where Optuna's default
  is 1. Hyperband hedges by itself (its later brackets wait), so its eagerest bracket may start
  earlier than ASHA's single one; with 50-step runs that gives 3 brackets with first rungs at 5,
  15 and 45 instead of 4 brackets starting at 1.

Simulation, ``python scripts/sim_pruning.py --seeds 30`` (setup and columns in
:mod:`hposweep.pruners.percentile`; saved, best kept of 30, regret)::

    asha, min_resource 1 (Ray/Optuna)         88%     3/30     0.174
    asha, min_resource auto (default)         46%    24/30     0.009
    hyperband, min_resource 1 (Optuna)        75%     9/30     0.058
    hyperband, min_resource auto (default)    54%    19/30     0.020

With speed unrelated to quality (``--slow-start 0``): asha 88%, 8 -> 45%, 24; hyperband 73%, 21 ->
53%, 28. Set ``min_resource: 1`` for the established behaviour when curves are known to separate
early.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Sequence

from hposweep.core.trial import Trial, TrialState
from hposweep.pruners.base import (
    FINISHED_STATES,
    FoldedValues,
    Pruner,
    check_int,
    check_int_or_auto,
    earliest_complete,
    first_step_at_or_after,
)

#: trials whose curve is ignored: an interrupted trial is re-run from scratch under the same number
_IGNORED_STATES = (TrialState.INTERRUPTED,)


def auto_min_resource(last_step: float, reduction_factor: int, rungs_below_full: int) -> int:
    """``min_resource: auto``: the first rung ``reduction_factor ** rungs_below_full`` times below a full run
    (a whole number of steps, also when the trials report fractional ones such as epoch 2.5)."""
    return max(1, int(last_step + 1) // reduction_factor**rungs_below_full)


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving over the reported steps."""

    name = "asha"
    #: ``min_resource: auto`` puts ASHA's first rung at 1/eta of a full run (see the module docstring)
    AUTO_RUNGS_BELOW_FULL = 1

    def __init__(
        self,
        min_resource: int | str = "auto",
        reduction_factor: int = 3,
        min_early_stopping_rate: int = 0,
        max_resource: int | None = None,
    ) -> None:
        self._record_options(locals())
        self.min_resource = check_int_or_auto("min_resource", min_resource, 1)
        self.reduction_factor = check_int("reduction_factor", reduction_factor, 2)
        self.min_early_stopping_rate = check_int("min_early_stopping_rate", min_early_stopping_rate, 0)
        #: last step + 1 of a full run, when known: nothing is pruned from ``max_resource - 1`` on
        self.max_resource = None if max_resource is None else check_int("max_resource", max_resource, 1)
        self._reset()

    def _reset(self) -> None:
        self._resource: int | None = self.min_resource if isinstance(self.min_resource, int) else None
        #: rung -> ascending values (minimize space) of finished trials that reached it
        self._rungs = FoldedValues()

    def describe(self) -> str:
        return (
            f"{self.name} (min_resource {self.min_resource}, reduction_factor {self.reduction_factor}, "
            f"min_early_stopping_rate {self.min_early_stopping_rate})"
        )

    def rung_step(self, rung: int) -> int:
        assert self._resource is not None
        return self._resource * self.reduction_factor ** (self.min_early_stopping_rate + rung)

    def resolve(self, trials: Sequence[Trial]) -> int | None:
        """The min resource, settling "auto" from the first completed trial; None while unknown."""
        if self._resource is None:
            first = earliest_complete(trials)
            if first is not None and first.last_step is not None:
                self._resource = auto_min_resource(first.last_step, self.reduction_factor, self.AUTO_RUNGS_BELOW_FULL)
        return self._resource

    def observe(self, trials: Sequence[Trial]) -> None:
        self.resolve(trials)

    # -- rung values ---------------------------------------------------------------------------

    def _rung_values(self, trial: Trial) -> list[float]:
        """The trial's value (minimize space) at each rung it reached, NaN where it reported NaN."""
        out: list[float] = []
        last = trial.last_step
        rung = 0
        while last is not None and self.rung_step(rung) <= last:
            s = first_step_at_or_after(trial.intermediate, self.rung_step(rung))
            assert s is not None
            out.append(self.sign * float(trial.intermediate[s]))
            rung += 1
        return out

    def absorb(self, others: Sequence[Trial]) -> list[Trial]:
        """Fold newly finished trials into the rung lists; return the ones still running.

        Public because Hyperband hands each finished trial to its own bracket's lists.
        """
        running = []
        fresh: dict[float, list[float]] = {}
        for t in others:
            if t.number in self._rungs.seen or t.state in _IGNORED_STATES:
                continue
            if t.state not in FINISHED_STATES:
                running.append(t)
                continue
            self._rungs.claim(t.number)
            for rung, v in enumerate(self._rung_values(t)):
                if not math.isnan(v):
                    fresh.setdefault(rung, []).append(v)
        self._rungs.add(fresh)
        return running

    def _promotable(self, rung: int, value: float, running: Sequence[Trial]) -> bool:
        finished = self._rungs.get(rung)
        live = [vs[rung] for vs in (self._rung_values(t) for t in running) if len(vs) > rung]
        live = [v for v in live if not math.isnan(v)]
        n = len(finished) + len(live) + 1  # competing values, this trial included
        idx = max(n // self.reduction_factor - 1, 0)
        n_better = bisect.bisect_left(finished, value) + sum(v < value for v in live)
        return n_better <= idx

    # -- decision ------------------------------------------------------------------------------

    def should_prune(self, trial: Trial, others: Sequence[Trial]) -> bool:
        curve = trial.curve_summary()  # kept up to date per report: no pass over every step (see Trial)
        step = curve.last
        if step is None or self.resolve(others) is None or self.is_final_step(step, others, self.max_resource):
            return False
        running = self.absorb(others)
        previous = -1 if curve.previous is None else curve.previous
        value = self.sign * float(trial.intermediate[step])
        rung = 0
        while self.rung_step(rung) <= step:
            if self.rung_step(rung) > previous:  # crossed by this report: judge it now
                if math.isnan(value) or not self._promotable(rung, value, running):
                    return True
            rung += 1
        return False


class HyperbandPruner(Pruner):
    """Several successive-halving brackets, each trial in one, from eager to patient."""

    name = "hyperband"
    #: ``min_resource: auto`` puts the eagerest bracket's first rung at 1/eta**2 of a full run
    AUTO_RUNGS_BELOW_FULL = 2

    def __init__(
        self,
        min_resource: int | str = "auto",
        max_resource: int | str = "auto",
        reduction_factor: int = 3,
    ) -> None:
        self._record_options(locals())
        self.min_resource = check_int_or_auto("min_resource", min_resource, 1)
        self.max_resource = check_int_or_auto("max_resource", max_resource, 1)
        self.reduction_factor = check_int("reduction_factor", reduction_factor, 2)
        if isinstance(self.min_resource, int) and isinstance(self.max_resource, int):
            if self.max_resource < self.min_resource:
                raise ValueError(f"max_resource ({self.max_resource}) must be >= min_resource ({self.min_resource})")
        self._reset()

    def _reset(self) -> None:
        self._brackets: list[SuccessiveHalvingPruner] = []
        self._budgets: list[int] = []
        self._assigned: dict[int, int] = {}
        #: finished trials already folded into their bracket's rung lists
        self._settled: set[int] = set()
        #: the settled max_resource (last step + 1)
        self._max: int | None = None

    @property
    def n_brackets(self) -> int | None:
        return len(self._brackets) or None

    def describe(self) -> str:
        n = self.n_brackets
        return (
            f"hyperband (min_resource {self.min_resource}, max_resource {self.max_resource}, "
            f"reduction_factor {self.reduction_factor}, {n if n else 'auto'} brackets)"
        )

    def _initialize(self, trials: Sequence[Trial]) -> bool:
        """Settle "auto" resources and build the brackets; False while they cannot be known yet."""
        if self._brackets:
            return True
        lo, hi = self.min_resource, self.max_resource
        if lo == "auto" or hi == "auto":
            first = earliest_complete(trials)
            if first is None or first.last_step is None:
                return False
            if hi == "auto":
                hi = int(first.last_step) + 1
            if lo == "auto":
                lo = auto_min_resource(first.last_step, self.reduction_factor, self.AUTO_RUNGS_BELOW_FULL)
        assert isinstance(lo, int) and isinstance(hi, int)
        self._max = hi
        eta = self.reduction_factor
        n = 1
        while lo * eta**n <= hi:  # n = floor(log_eta(hi / lo)) + 1, in exact integer arithmetic
            n += 1
        for b in range(n):
            s = n - 1 - b
            self._budgets.append((n * eta**s + s) // (s + 1))  # ceil(n * eta**s / (s + 1))
            sha = SuccessiveHalvingPruner(min_resource=lo, reduction_factor=eta, min_early_stopping_rate=b)
            sha.bind(seed=self.seed, direction=self.direction)
            self._brackets.append(sha)
        return True

    def observe(self, trials: Sequence[Trial]) -> None:
        self._initialize(trials)

    def bracket_of(self, trial_number: int) -> int | None:
        if not self._brackets:
            return None
        b = self._assigned.get(trial_number)
        if b is None:
            b = bracket_for(self.seed, trial_number, self._budgets)
            self._assigned[trial_number] = b
        return b

    def should_prune(self, trial: Trial, others: Sequence[Trial]) -> bool:
        if not self._initialize(others):
            return False
        if trial.last_step is None or self.is_final_step(trial.last_step, others, self._max):
            return False
        b = self.bracket_of(trial.number)
        assert b is not None
        # Finished trials are handed to their bracket's cache once; only running ones are sorted each call.
        settled, same = self._settled, []
        for t in others:
            if t.number in settled:
                continue
            tb = self.bracket_of(t.number)
            if t.state in FINISHED_STATES:
                settled.add(t.number)
                self._brackets[tb].absorb([t])  # type: ignore[index]  # bracket_of is never None for Hyperband's own trials
            elif tb == b:
                same.append(t)
        return self._brackets[b].should_prune(trial, same)


def bracket_for(seed: int | None, trial_number: int, budgets: Sequence[int]) -> int:
    """Deterministic bracket of a trial: a stable hash of (seed, number) spread over the budgets."""
    digest = hashlib.blake2b(f"{0 if seed is None else seed}:{trial_number}".encode(), digest_size=8).digest()
    n = int.from_bytes(digest, "big") % sum(budgets)
    for b, budget in enumerate(budgets):
        n -= budget
        if n < 0:
            return b
    raise AssertionError("unreachable: n < sum(budgets)")
