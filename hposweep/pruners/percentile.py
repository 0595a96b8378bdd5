"""Median and percentile pruners: stop a trial whose best value so far is worse than most others' at this step.

Rule (Optuna's ``MedianPruner``/``PercentilePruner``, so users' knowledge carries over): when trial
T reports step s, T is pruned if its *best* intermediate value so far is worse than the
``percentile``-th best of the values that the **completed** trials reported at that exact step s
(numpy's linear interpolation; the median is ``percentile=50``). Ties keep the trial. Checks happen
only once at least ``n_startup_trials`` trials have completed, from step ``n_warmup_steps`` on,
once per ``interval_steps`` (a check that falls on a step the trial skipped happens at its next
report), and only when at least ``n_min_trials`` completed trials reported step s. Never at a
step where a completed trial ended, nor later (see :mod:`hposweep.pruners.base`): that would save
nothing and lose the trial's result.

Choices, and why:

* Only COMPLETE trials are compared against and counted for ``n_startup_trials`` (as Optuna). Running
  trials would make decisions depend on timing; pruned trials are, by construction, the bad ones,
  so including them would lower the bar at early steps and raise nothing later.
* Others' *value at step s*, not their best-so-far: this is what Optuna does (its docs say "median
  of intermediate results of previous trials at the same step"). The judged trial's own best-so-far
  is used, which forgives it one noisy bad epoch.
* A NaN-only trial is pruned (it diverged); NaN values of other trials are ignored.

**Default warm-up: ``n_warmup_steps="auto"``** (Optuna's default is 0). Learning curves mostly start
at the same loss, so at the first steps the ranking is noise, and good configurations (small
learning rate, strong regularisation) are often the slow starters. With no warm-up the median
rule prunes about half the trials on step-0 noise, and the slow good ones at the next steps: in the
simulation below Optuna's default kills the eventual best trial in 4 studies out of 5. "auto"
learns from the completed trials from which step on the rule can be trusted. A step s is *safe*
when, among the completed trials that reported s,

1. their best-so-far at s ranks them like their final values (Spearman rho >= ``AUTO_MIN_RHO`` = 0.5),
2. replaying the rule at s, none of the best of them (the best half of what the rule keeps: 25% for
   the median, 12.5% for percentile 25, by final value) would have been pruned by the others.

The estimate is the step after the last unsafe one (scanning from the end, so once rho is high late
noise does not matter), stretched by ``AUTO_SAFETY`` = 1.25 (a new trial may start slower than any
seen) and never less than ``AUTO_MIN_FRACTION`` = 1/5 of the longest completed run (with a handful
of completed trials the estimate can come out at 1-2 steps by luck). Nothing is pruned until 3
completed trials reported a common step. After pruning starts, completed trials are survivors whose
early values were all good; that lowers rho at early steps and can only lengthen the warm-up, i.e.
errs towards keeping trials. The estimate is refreshed as trials complete (each completion up to 50,
then every 10% more, from at most 300 of them), so it stays cheap with thousands of trials.
``n_warmup_steps: 0`` gives Optuna's exact behaviour; an integer fixes the warm-up.

Simulation, ``python scripts/sim_pruning.py --seeds 30``: 60 trials x 50 epochs, one at a time,
``loss = a + b*exp(-e/tau) + N(0, 0.03)`` all starting near 2.3, better trials slower to start
(``saved``: fraction of epochs not run; ``best kept``: studies where the oracle best trial completed;
``regret``: best completed final loss minus the oracle best)::

    pruner                                  saved  best kept  regret
    none                                       0%    30/30     0.000
    median, warm-up 0 (Optuna)                83%     6/30     0.095
    median, warm-up 10                        63%    16/30     0.025
    median, warm-up auto (default)            42%    27/30     0.004
    percentile 25, warm-up 0                  87%     6/30     0.113
    percentile 25, auto (default)             54%    19/30     0.017
    asha, min_resource 1 (Ray/Optuna)         88%     3/30     0.174
    asha, min_resource auto (default)         46%    24/30     0.009
    hyperband, min_resource 1 (Optuna)        75%     9/30     0.058
    hyperband, min_resource auto (default)    54%    19/30     0.020

Other settings (median warm-up 0 -> auto; saved, best kept of 30): 4 trials at a time 77%, 10 ->
35%, 27; speed unrelated to quality (``--slow-start 0``) 83%, 10 -> 54%, 29 (fixed warm-up 10: 58%,
29: auto adapts, saving more when curves settle early and waiting when they do not); noise 0.1
84%, 3 -> 36%, 24. The price of keeping the best trial is roughly half the savings of the
eager rule; the regret shows what the eager rule costs in result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from hposweep.core.trial import Trial, TrialState
from hposweep.pruners.base import (
    FoldedValues,
    Pruner,
    check_int,
    check_int_or_auto,
    final_value,
    percentile_excluding,
    percentile_of_sorted,
)


@dataclass
class _Curve:
    """A completed trial in minimize space: raw value and best-so-far by step, and its final value."""

    number: int
    raw: dict[float, float] = field(default_factory=dict)
    best: dict[float, float] = field(default_factory=dict)
    final: float | None = None


def _curve(trial: Trial, sign: float) -> _Curve:
    c = _Curve(trial.number)
    best = math.inf
    for s in sorted(trial.intermediate):
        v = float(trial.intermediate[s])
        if math.isnan(v):
            continue
        v *= sign
        c.raw[s] = v
        best = min(best, v)
        c.best[s] = best
    fv = final_value(trial)
    c.final = None if fv is None else sign * fv
    return c


def _ranks(xs: Sequence[float]) -> list[float]:
    """Ranks 0..n-1, ties sharing their average rank (for Spearman's rho)."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation; 0 when either side is constant (no information)."""
    rx, ry = _ranks(xs), _ranks(ys)
    n = len(xs)
    mx, my = sum(rx) / n, sum(ry) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return 0.0
    return sxy / math.sqrt(sxx * syy)


def first_in_interval(step: float, previous: float | None, warmup: int, interval: int) -> bool:
    """True when ``step`` is the first report at or after the latest check point warmup + k*interval.

    ``previous`` is the highest step reported before ``step`` (None: none). A trial reporting every 3 steps
    with ``interval_steps=2`` is checked at 0, 3 (for 2), 6 (for 4 and 6), 9 (for 8) ...: a check is
    postponed to the next report, never dropped.
    """
    check_point = (step - warmup) // interval * interval + warmup
    return (-1 if previous is None else previous) < check_point


class PercentilePruner(Pruner):
    """Prune when the trial's best value so far is worse than the given percentile of completed trials at this step.

    ``percentile=25`` keeps trials in the best quarter; the median pruner is ``percentile=50``.
    """

    name = "percentile"

    #: auto warm-up: minimum rank correlation between best-so-far at a step and the final value
    AUTO_MIN_RHO = 0.5
    #: auto warm-up: replaying the rule must keep the best ``AUTO_TOP_FRACTION * percentile / 50`` of
    #: the completed trials (half of what the rule itself keeps: a quarter for the median)
    AUTO_TOP_FRACTION = 0.25
    #: auto warm-up: steps reported by fewer completed trials are not judged
    AUTO_MIN_TRIALS = 3
    #: auto warm-up: the estimate is stretched by this factor (a new trial may start slower than any seen)
    AUTO_SAFETY = 1.25
    #: auto warm-up: never shorter than this fraction of the longest completed run
    AUTO_MIN_FRACTION = 0.2
    #: auto warm-up: never longer than this fraction of the longest completed run (1: no cap)
    AUTO_MAX_FRACTION = 1.0
    #: auto warm-up: at most this many completed trials (evenly spread over the finish order) are used
    AUTO_MAX_TRIALS = 300

    def __init__(
        self,
        percentile: float = 25.0,
        n_startup_trials: int = 5,
        n_warmup_steps: int | str = "auto",
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        self._record_options(locals())
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 <= percentile <= 100:
            raise ValueError(f"percentile must be a number between 0 and 100, got {percentile!r}")
        self.percentile = float(percentile)
        self.n_startup_trials = check_int("n_startup_trials", n_startup_trials, 0)
        self.n_warmup_steps = check_int_or_auto("n_warmup_steps", n_warmup_steps, 0)
        self.interval_steps = check_int("interval_steps", interval_steps, 1)
        self.n_min_trials = check_int("n_min_trials", n_min_trials, 1)
        self._reset()

    def _reset(self) -> None:
        #: step -> ascending values (minimize space) of the completed trials that reported it
        self._by_step = FoldedValues()
        self._curves: list[_Curve] = []
        self._auto: int | None = None
        self._auto_n = 0

    def describe(self) -> str:
        warm = self.n_warmup_steps
        return f"{self.name} (percentile {self.percentile:g}, warm-up {warm}, startup {self.n_startup_trials} trials)"

    # -- cache of completed trials -------------------------------------------------------------

    def _absorb(self, others: Sequence[Trial]) -> None:
        fresh: dict[float, list[float]] = {}
        for t in others:
            if t.state != TrialState.COMPLETE or not self._by_step.claim(t.number):
                continue
            c = _curve(t, self.sign)
            self._curves.append(c)
            for s, v in c.raw.items():
                fresh.setdefault(s, []).append(v)
        self._by_step.add(fresh)

    # -- warm-up ---------------------------------------------------------------------------------

    def warmup(self) -> int | None:
        """The current warm-up in steps; None while "auto" has too little data (then nothing is pruned)."""
        if self.n_warmup_steps != "auto":
            return int(self.n_warmup_steps)
        n = len(self._curves)
        if n != self._auto_n and (n <= 50 or n >= 1.1 * self._auto_n):
            estimate = self._estimate_warmup()
            if estimate is None:
                self._auto = None
            else:
                longest = max(max(c.raw) for c in self._curves if c.raw) + 1
                floor = math.floor(self.AUTO_MIN_FRACTION * longest)
                # Step 0 is never trusted: curves start at the same loss, and step-0 noise is what
                # makes Optuna's warm-up-0 median prune good trials.
                cap = max(floor, 1, math.floor(self.AUTO_MAX_FRACTION * longest))
                self._auto = min(max(math.ceil(estimate * self.AUTO_SAFETY), floor), cap)
            self._auto_n = n
        return self._auto

    def _estimate_warmup(self) -> int | None:
        curves = [c for c in self._curves if c.final is not None]
        if len(curves) > self.AUTO_MAX_TRIALS:  # a rank statistic needs no more; keeps a refresh cheap
            stride = len(curves) / self.AUTO_MAX_TRIALS
            curves = [curves[int(i * stride)] for i in range(self.AUTO_MAX_TRIALS)]
        steps = sorted({s for c in curves for s in c.best}, reverse=True)
        judged = False
        for s in steps:
            members = [c for c in curves if s in c.best]
            if len(members) < max(self.AUTO_MIN_TRIALS, self.n_min_trials):
                continue
            judged = True
            if not self._safe_step(s, members):
                return int(s) + 1
        return 0 if judged else None

    def _safe_step(self, step: float, members: list[_Curve]) -> bool:
        finals = [c.final for c in members]
        if spearman([c.best[step] for c in members], finals) < self.AUTO_MIN_RHO:  # type: ignore[arg-type]  # members are finished curves: final is set
            return False
        n_top = max(1, math.ceil(self.AUTO_TOP_FRACTION * self.percentile / 50.0 * len(members)))
        top = sorted(members, key=lambda c: c.final)[:n_top]  # type: ignore[arg-type, return-value]  # as above: final is set
        values = self._by_step.get(step)
        for c in top:
            bar = percentile_excluding(values, c.raw[step], self.percentile)
            if not math.isnan(bar) and c.best[step] > bar:
                return False
        return True

    # -- decision --------------------------------------------------------------------------------

    def should_prune(self, trial: Trial, others: Sequence[Trial]) -> bool:
        self._absorb(others)
        if len(self._curves) == 0 or len(self._curves) < self.n_startup_trials:
            return False
        curve = trial.curve_summary()  # kept up to date per report: no pass over every step (see Trial)
        step = curve.last
        if step is None or self.is_final_step(step, others):
            return False
        warm = self.warmup()
        if warm is None or step < warm:
            return False
        if not first_in_interval(step, curve.previous, warm, self.interval_steps):
            return False
        if curve.numbers == 0:
            return True  # only NaN so far: diverged
        best = curve.lowest if self.sign > 0 else -curve.highest
        values = self._by_step.get(step)
        if len(values) < self.n_min_trials or not values:
            return False
        return best > percentile_of_sorted(values, self.percentile)


class MedianPruner(PercentilePruner):
    """The median stopping rule: ``PercentilePruner`` with ``percentile=50``."""

    name = "median"
    # Tuned on real training curves (scripts/bench_pruning.py --replay, 8 unpruned TPE sweeps of
    # train_example.py): protecting the best tenth, no stretch and a cap at a quarter of the run
    # saved 35-41% of the epochs and kept every sweep's best trial; the percentile defaults
    # (quarter, 1.25 stretch) saved 23-27%. Slow starters (sim_pruning.py) are the price: there the
    # eventual best survives 13/20 studies instead of 19/20; set n_warmup_steps for such curves.
    # Re-checked with the last-step rule (scripts/bench_pruning.py, TPE, 60 trials x 20 epochs, 2 jobs):
    # live over 10 seeds this default saves 44 +- 7 % of the epochs with the best val_loss at
    # 0.1344 +- 0.061 vs 0.1351 +- 0.051 unpruned (paired Wilcoxon p = 0.82; unpruned sweeps of one
    # seed end 0.150 or 0.193 by finish order alone, so 2 % cannot be resolved with 10 seeds).
    # Replayed on 15 unpruned sweeps (saved, best trial kept, mean regret): this default 41 %, 12/15,
    # 0.005; fixed warm-up 2: 45 %, 11/15, 0.017; 3: 40 %, 13/15, 0.005; 4: 37 %, 14/15, 0.005;
    # 5: 34 %, 14/15; 8: 24 %, 15/15, 0; asha 33 %, 15/15, 0. No setting saves 40 % and is clearly
    # safer, so the default stays; for "never lose the best" use asha or n_warmup_steps ~ 40 % of
    # the run. On scripts/bench_multifidelity.py (slower starters, 20 seeds) the auto variants do
    # not beat no pruning in epochs to the target (this default 912, floor 0.15 / cap 0.25 935,
    # floor 0.2 / cap 1/3 845, none 890); a fixed warm-up of a third of the run does (730).
    AUTO_TOP_FRACTION = 0.1
    AUTO_SAFETY = 1.0
    AUTO_MIN_FRACTION = 0.1
    AUTO_MAX_FRACTION = 0.2

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int | str = "auto",
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        given = dict(locals())  # before super() records the percentile pruner's own arguments
        super().__init__(50.0, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials)
        self._record_options(given)

    def describe(self) -> str:
        return f"median (warm-up {self.n_warmup_steps}, startup {self.n_startup_trials} trials)"
