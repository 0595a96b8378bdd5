"""Build the tracker a sweep calls from its ``tracking:`` settings.

Its own module because it imports every tracker (lazily), and each tracker imports the hooks'
base class from :mod:`hposweep.integrations.tracking`: kept apart, there is no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hposweep.integrations.tracking import (
    BackgroundTracker,
    SafeTracker,
    Tracker,
    TrackerConfig,
    TrackerGroup,
    stderr_warning,
)


def make_tracker(configs: Sequence[TrackerConfig], warn: Callable[[str], None] = stderr_warning) -> Tracker:
    """The tracker the runner calls: every configured one, each made safe and run on a thread of its own
    (one slow tracker never delays the sweep or another tracker). No config: a no-op."""
    trackers: list[Tracker] = []
    for cfg in configs:
        if cfg.kind == "mlflow":
            from hposweep.integrations.mlflow import MlflowTracker

            trackers.append(BackgroundTracker(SafeTracker(MlflowTracker(**cfg.options), warn), warn))
        elif cfg.kind == "wandb":
            from hposweep.integrations.wandb import WandbTracker

            trackers.append(BackgroundTracker(SafeTracker(WandbTracker(**cfg.options), warn), warn))
    if not trackers:
        return Tracker()
    return trackers[0] if len(trackers) == 1 else TrackerGroup(trackers)
