"""Folding a trial's reports into the numbers it records: objective histories and other metrics.

Kept apart from parsing: the runner (and ``hposweep parse-metrics``) feed it reports from any
source (output, metrics file, a Ray node), and what a trial records does not depend on how a
number was printed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from hposweep.errors import did_you_mean
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

    def add_run(self, steps: list[Step], values: list[float]) -> None:
        """:meth:`add` of each ``(step, value)`` in order, in bulk (a round can hold 100,000 of them)."""
        if not steps:
            return
        self.intermediate.update(zip(steps, values))
        self.last = values[-1]
        self.last_step = steps[-1]
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            best = max(finite) if self.direction == "maximize" else min(finite)  # the first of equal ones, as add
            if self.best is None or self._better(best, self.best):
                self.best = best

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


#: words that name a dataset when written before ``_`` (``val_loss``, ``eval_loss``, ``valid_0_auc``)
DATASET_WORDS = frozenset(("train", "training", "val", "valid", "validation", "eval", "test", "dev"))


def after_dataset_prefix(name: str, objective: str) -> bool:
    """Whether ``name`` is ``objective`` behind a dataset prefix (``valid_0-binary_logloss``, ``val/loss``).

    A prefix ending in ``-``, ``/`` or ``.`` may be anything (XGBoost's ``validation_0-``, W&B's
    ``val/``); before ``_`` it must be a dataset word, optionally numbered (``valid_1_``), so that
    ``--metric loss`` never picks ``kl_loss``.
    """
    if len(name) <= len(objective) + 1 or not name.endswith(objective):
        return False
    head = name[: -len(objective)]
    sep, prefix = head[-1], head[:-1]
    if sep in "-/.":
        return True
    return sep == "_" and prefix.rstrip("0123456789").rstrip("_").lower() in DATASET_WORDS


def _echoes(value: float, param: object) -> bool:
    return isinstance(param, (int, float)) and float(param) == value


class MetricTracker:
    """Folds reports into a trial's objective histories and other metrics.

    * A report whose name is an objective is recorded at its step; a report without a step gets
      the step after the last one recorded for that name (0, 1, 2, ... if none ever has one). A
      step reported twice keeps the later value (a progress bar redraws the same epoch).
    * ``last`` is the value reported last (``nan`` included: a diverged run ends on ``nan``, and
      the runner must see that); ``best`` ignores non-finite values.
    * Every other metric keeps only its last value, in ``user_attrs``; one named like a parameter of
      ``params`` with that parameter's value is a config echo and is dropped (``echoes`` counts them).
    * An objective printed only behind a dataset prefix (:func:`after_dataset_prefix`) is read from
      that name once :meth:`settle` finds exactly one such name (and none under its own name): the
      reports seen until then are replayed. Two such names (``training-auc``, ``valid_1-auc``) are
      ambiguous and never used; :meth:`missing_reason` lists them.
    """

    def __init__(self, objective_names: list[str], directions: list[str] | None = None,
                 params: dict[str, object] | None = None) -> None:
        directions = directions or ["minimize"] * len(objective_names)
        self.objectives: dict[str, ObjectiveHistory] = {
            n: ObjectiveHistory(direction=d) for n, d in zip(objective_names, directions, strict=True)
        }
        #: reported name -> objective ("validation loss" is printed validation_loss; aliases join later)
        self.route: dict[str, str] = {}
        for n in objective_names:
            self.route[n] = n
            self.route.setdefault(n.replace(" ", "_"), n)
        self.params = params or {}
        self.user_attrs: dict[str, float] = {}
        self._last_step: dict[str, Step] = {}
        self.n_reports = 0
        self.echoes = 0
        #: objective -> the prefixed name used for it (announced by the runner)
        self.aliases: dict[str, str] = {}
        #: objective -> the several prefixed names that made the alias ambiguous
        self.ambiguous: dict[str, list[str]] = {}
        self._undecided = set(objective_names)
        self._pending: dict[str, dict[str, list[MetricReport]]] = {}

    def add(self, report: MetricReport) -> Step | None:
        """Record one report; return the step it was filed under if it is an objective's."""
        filed = self.file(report)
        return filed[1] if filed is not None else None

    def file(self, report: MetricReport) -> tuple[str, Step] | None:
        """Record one report; return ``(objective, step)`` when it was filed under an objective."""
        self.n_reports += 1
        objective = self.route.get(report.name)
        if objective is None:
            param = self.params.get(report.name, self)
            if param is not self and _echoes(report.value, param):
                self.echoes += 1
                return None
            self.user_attrs[report.name] = report.value
            if self._undecided:
                for obj in self._undecided:
                    if after_dataset_prefix(report.name, obj):
                        self._pending.setdefault(obj, {}).setdefault(report.name, []).append(report)
            return None
        if objective in self._undecided:  # printed under its own name: no alias for it
            self._undecided.discard(objective)
            self._pending.pop(objective, None)
        return objective, self._record(objective, report)

    def names_of(self, objective: str) -> set[str] | None:
        """The reported names filed under ``objective`` as they are, with a step; None while it may still take
        a dataset-prefixed name (:meth:`file` decides those)."""
        if objective in self._undecided:
            return None
        return {name for name, o in self.route.items() if o == objective}

    def file_run(self, objective: str, steps: list[Step], values: list[float]) -> None:
        """:meth:`file` of reports of ``objective`` under one of :meth:`names_of`, each with its step, in bulk."""
        if not steps:
            return
        self.n_reports += len(steps)
        self._last_step[objective] = steps[-1]
        self.objectives[objective].add_run(steps, values)

    def file_own(self, report: MetricReport, objective: str) -> bool:
        """File ``report`` if it is ``objective``'s, with a step, under a settled name: the common case, with the
        least work (the runner files a million reports in seconds). Same effect as :meth:`file`; False (and
        nothing done) for any other report, which then goes to :meth:`file`."""
        step = report.step
        if step is None or self.route.get(report.name) != objective or objective in self._undecided:
            return False
        self.n_reports += 1
        self._last_step[objective] = step
        self.objectives[objective].add(report.value, step)
        return True

    def _record(self, objective: str, report: MetricReport) -> Step:
        step = report.step
        if step is None:
            prev = self._last_step.get(objective)
            step = 0 if prev is None else prev + 1
        self._last_step[objective] = step
        self.objectives[objective].add(report.value, step)
        return step

    def settle(self) -> list[tuple[str, str, list[tuple[Step, float]]]]:
        """Decide the aliases seen so far: ``(objective, name, [(step, value), ...])`` for each new one.

        Called after each batch of reports (the runner: each poll round), so that the names printed on
        one line (LightGBM prints every dataset on one) are weighed together.
        """
        adopted: list[tuple[str, str, list[tuple[Step, float]]]] = []
        for obj in [o for o in self._pending if o in self._undecided]:
            found = self._pending.pop(obj)
            self._undecided.discard(obj)
            if len(found) > 1:
                self.ambiguous[obj] = list(found)
                continue
            (name, reports), = found.items()
            self.aliases[obj] = name
            self.route[name] = obj
            if self.route.get(obj) == obj:  # the alias holds from now on: the bare name no longer mixes in
                del self.route[obj]
            self.user_attrs.pop(name, None)
            adopted.append((obj, name, [(self._record(obj, r), r.value) for r in reports]))
        return adopted

    def add_all(self, reports: Iterable[MetricReport]) -> None:
        for r in reports:
            self.add(r)
        self.settle()

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

    def seen(self) -> list[str]:
        """Every name the trial reported, objectives first (in the order first seen otherwise)."""
        own = [n for n, h in self.objectives.items() if h.last is not None]
        return own + [n for n in self.user_attrs if n not in own]

    def missing_reason(self, missing: list[str], *, regex: bool = False, limit: int = 12) -> str:
        """Why the trial has no value: what it did print, and the closest name to use instead."""
        names = "', '".join(missing)
        text = f"no value of '{names}' found in the output"
        seen = [n for n in self.seen() if n not in missing]
        if not seen:
            if regex:
                return text + " (--metric-regex matched no line: check it with `hposweep parse-metrics`)"
            return (text + ", and no metric at all: print e.g. `" + f"{missing[0]}=0.123`, write JSON lines to "
                    "$HPOSWEEP_METRICS_FILE, or pass --metric-regex for another format (check with "
                    "`hposweep parse-metrics`)")
        hints = []
        for name in missing:
            several = self.ambiguous.get(name)
            if several:
                hints.append(f"'{name}' is printed for several datasets: name one with --metric "
                             f"({' or '.join(several)})")
                continue
            close = did_you_mean(name, seen) or did_you_mean(name.replace(" ", "_"), seen, cutoff=0.5)
            if close:
                hints.append(close)
        shown = ", ".join(seen[:limit]) + (f", ... ({len(seen) - limit} more)" if len(seen) > limit else "")
        return text + ("; " + "; ".join(hints) if hints else "") + f"; the output has: {shown}"
