"""Folding a trial's reports into the numbers it records: objective histories and other metrics.

Kept apart from parsing: the runner (and ``hposweep parse-metrics``) feed it reports from any
source (output, metrics file, a Ray node), and what a trial records does not depend on how a
number was printed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from hposweep.execution.metrics.lines import MetricReport, Step


@dataclass
class ObjectiveHistory:
    """What one objective metric reported: values by step, the last one and the best finite one."""

    direction: str = "minimize"
    intermediate: dict[Step, float] = field(default_factory=dict)
    last: float | None = None
    best: float | None = None
    last_step: Step | None = None

    def add(self, value: float, step: Step) -> None:
        self.intermediate[step] = value
        self.last = value
        self.last_step = step
        if math.isfinite(value) and (self.best is None or self._better(value, self.best)):
            self.best = value

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


class MetricTracker:
    """Folds reports into a trial's objective histories and other metrics.

    * A report whose name is an objective is recorded at its step; a report without a step gets
      the step after the last one recorded for that name (0, 1, 2, ... if none ever has one). A
      step reported twice keeps the later value (a progress bar redraws the same epoch).
    * ``last`` is the value reported last (``nan`` included: a diverged run ends on ``nan``, and
      the runner must see that); ``best`` ignores non-finite values.
    * Every other metric keeps only its last value, in ``user_attrs``.
    """

    def __init__(self, objective_names: list[str], directions: list[str] | None = None) -> None:
        directions = directions or ["minimize"] * len(objective_names)
        self.objectives: dict[str, ObjectiveHistory] = {
            n: ObjectiveHistory(direction=d) for n, d in zip(objective_names, directions, strict=True)
        }
        self.user_attrs: dict[str, float] = {}
        self._last_step: dict[str, Step] = {}
        self.n_reports = 0

    def add(self, report: MetricReport) -> Step | None:
        """Record one report; return the step it was filed under if it is an objective's."""
        self.n_reports += 1
        hist = self.objectives.get(report.name)
        if hist is None:
            self.user_attrs[report.name] = report.value
            return None
        step = report.step
        if step is None:
            prev = self._last_step.get(report.name)
            step = 0 if prev is None else prev + 1
        self._last_step[report.name] = step
        hist.add(report.value, step)
        return step

    def add_all(self, reports: Iterable[MetricReport]) -> None:
        for r in reports:
            self.add(r)

    @property
    def primary(self) -> ObjectiveHistory:
        """The first objective (the one intermediate values and pruning are about)."""
        return next(iter(self.objectives.values()))

    def final_values(self, use: str = "last") -> list[float] | None:
        """The trial's values, one per objective (``use`` = ``last`` or ``best``); None if one is missing."""
        values = []
        for hist in self.objectives.values():
            v = hist.best if use == "best" else hist.last
            if v is None:
                return None
            values.append(v)
        return values

    def missing(self) -> list[str]:
        """Objectives never reported (for a clear "metric not found" message)."""
        return [n for n, h in self.objectives.items() if h.last is None]
