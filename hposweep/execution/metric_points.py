"""One polling round's points of a trial's metrics other than the first objective, sent as one event.

The first objective goes to the study as intermediate values (the pruner reads them); every other metric a
trial prints (and the other objectives of a multi-objective study) goes to its bounded history
(:class:`~hposweep.core.history.MetricHistory`) through :meth:`~hposweep.study.api.Study.report_metric_points`:
one journal event per trial per round, however many lines it printed. A value printed again for the step just
printed (a progress bar redrawing an epoch) replaces it here already, so the event carries one point per step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hposweep.errors import HposweepError
from hposweep.execution.metrics import MetricReport, MetricTracker

if TYPE_CHECKING:
    from hposweep.core.trial import Trial
    from hposweep.study.api import Study


class RoundPoints:
    """Files each report into the trial's tracker and keeps the points its histories need."""

    def __init__(self, tracker: MetricTracker, primary: str) -> None:
        self.tracker = tracker
        self.primary = primary
        self.points: dict[str, list[tuple[Any, float]]] = {}

    def file(self, report: MetricReport) -> tuple[str, Any] | None:
        """:meth:`MetricTracker.file`, keeping the point unless it is the first objective or a config echo."""
        echoes = self.tracker.echoes
        filed = self.tracker.file(report)
        if filed is not None and filed[0] == self.primary:
            return filed
        if filed is None and self.tracker.echoes != echoes:
            return filed  # a parameter echoed back, not a metric
        name, step = (report.name, report.step) if filed is None else filed
        pts = self.points.setdefault(name, [])
        if pts and step is not None and pts[-1][0] == step:
            pts[-1] = (step, report.value)
        else:
            pts.append((step, report.value))
        return filed

    def file_round(self, reports: list[MetricReport],
                   tracked: dict[Any, dict[str, float]] | None = None) -> dict[Any, float]:
        """File a polling round's reports; return the first objective's last value per step (for the study).

        ``tracked`` (when experiment trackers are on) gets every metric per step. A report of the first
        objective with a step, the bulk of a trial printing a million lines, takes the tracker's shortest path.
        """
        primary = self.primary
        latest: dict[Any, float] = {}
        own = self.tracker.file_own if tracked is None else None
        names = self.tracker.names_of(primary) if tracked is None else None
        if names:  # the first objective's reports in bulk; every other report, in its order, below
            mine = [r for r in reports if r.name in names]
            steps = [r.step for r in mine]
            if mine and None not in steps:
                values = [r.value for r in mine]
                self.tracker.file_run(primary, steps, values)  # type: ignore[arg-type]
                latest.update(zip(steps, values))
                reports = [r for r in reports if r.name not in names] if len(mine) < len(reports) else []
        for rep in reports:
            if own is not None and own(rep, primary):
                latest[rep.step] = rep.value
                continue
            filed = self.file(rep)
            if filed is not None and filed[0] == primary:
                latest[filed[1]] = rep.value
            if tracked is not None:  # every metric, per step, for the trackers (one call per step per round)
                step = filed[1] if filed is not None else rep.step
                if step is None:
                    step = self.tracker.primary.last_step or 0
                tracked.setdefault(step, {})[filed[0] if filed is not None else rep.name] = rep.value
        return latest

    def send(self, study: Study, trial: Trial) -> None:
        """Record the round's points; a trial no longer running (told meanwhile) drops them."""
        if not self.points:
            return
        try:
            study.report_metric_points(trial, self.points)
        except HposweepError:
            pass
        self.points = {}
