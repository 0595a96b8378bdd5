"""``Trial.curve_summary`` (what pruners read after every report) stays equal to a pass over every step, however
the curve grows: appends one by one or in bulk, steps reported again with another value, NaN, fractional steps,
``report_points`` asking the pruner point by point and putting the curve back; and a pruner judging a trial
with many steps no longer reads them all on every report."""

from __future__ import annotations

import math
import random

import hposweep
from hposweep.core.trial import Trial


def brute(t: Trial) -> tuple[object, object, float, float, int]:
    steps = sorted(t.intermediate)
    numbers = [v for v in t.intermediate.values() if not math.isnan(v)]
    return (steps[-1] if steps else None, steps[-2] if len(steps) > 1 else None,
            min(numbers, default=math.inf), max(numbers, default=-math.inf), len(numbers))


def seen(t: Trial) -> tuple[object, object, float, float, int]:
    c = t.curve_summary()
    assert t.last_step == c.last
    return c.last, c.previous, c.lowest, c.highest, c.numbers


def test_summary_matches_a_full_pass_under_random_reports() -> None:
    rng = random.Random(5)
    space = hposweep.SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})
    for case in range(30):
        study = hposweep.Study(space, seed=case, sampler="random", pruner="median")
        trial = study.ask()
        t = study.trial(trial.number)
        assert seen(t) == brute(t)
        for _ in range(40):
            k = rng.random()
            step = rng.choice([rng.randrange(60), rng.randrange(60) + 0.5])
            value = rng.choice([rng.gauss(0, 1), float("nan"), rng.gauss(0, 1) * 10])
            if k < 0.5:
                study.report(trial, step, value)  # new or already reported: the reducer applies it
            else:
                pts = [(rng.randrange(80), rng.gauss(0, 1)) for _ in range(rng.randrange(1, 6))]
                study.report_points(trial, pts, until_pruned=k < 0.75)
            assert seen(t) == brute(t), case


def test_replacing_a_value_in_place_needs_curve_changed() -> None:
    t = Trial(0, {}, intermediate={0: 1.0, 1: 0.5})
    assert seen(t) == (1, 0, 0.5, 1.0, 2)
    t.intermediate[1] = 3.0
    t.curve_changed()
    assert seen(t) == brute(t) == (1, 0, 1.0, 3.0, 2)
    t.intermediate[5] = -1.0  # appending needs nothing
    assert seen(t) == brute(t)


def test_pruner_reads_each_step_once_not_every_step_every_report() -> None:
    """Counted, not timed: judging each of 20,000 reports with the median pruner reads each step about once
    (a pass over every step per report, as before, read 200 million)."""
    space = hposweep.SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})
    study = hposweep.Study(space, seed=0, sampler="random", pruner={"name": "median", "n_warmup_steps": 0})
    n = 20_000
    for _ in range(6):
        done = study.ask()
        study.report_points(done, [(s, 2.0) for s in range(n)])
        study.tell(done, 2.0)
    trial = study.ask()
    t = study.trial(trial.number)
    reads = 0

    class Counting(dict):  # type: ignore[type-arg]
        """Counts every key or value handed out by iteration."""

        def _count(self, it):  # type: ignore[no-untyped-def]
            nonlocal reads
            for x in it:
                reads += 1
                yield x

        def __iter__(self):  # type: ignore[no-untyped-def]
            return self._count(super().__iter__())

        def __reversed__(self):  # type: ignore[no-untyped-def]
            return self._count(super().__reversed__())

        def keys(self):  # type: ignore[no-untyped-def]
            return list(self._count(super().keys()))

        def values(self):  # type: ignore[no-untyped-def]
            return list(self._count(super().values()))

        def items(self):  # type: ignore[no-untyped-def]
            return list(self._count(super().items()))

    t.intermediate = Counting()
    for s in range(n):
        t.intermediate[s] = 1.0  # ahead of every completed trial: judged at every step, never pruned
        assert not study.should_prune(trial)
    assert reads <= 2 * n, reads
