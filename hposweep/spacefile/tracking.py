"""The ``tracking:`` setting of a space file (and ``run --track``): which experiment trackers a sweep reports to.

Pure parsing and checking, here beside the other space-file settings so that reading a space file can
validate it; the trackers themselves live in :mod:`hposweep.integrations` (a higher layer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hposweep.errors import ConfigError, did_you_mean

TRACKERS = ("mlflow", "wandb")
_OPTIONS = {
    "mlflow": ("experiment", "tracking_uri", "run_name"),
    "wandb": ("project", "entity", "mode", "dir", "group"),
}


@dataclass(frozen=True)
class TrackerConfig:
    """One tracker and its options (unset options fall back to the tool's environment variables)."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)


def parse_tracking(value: Any, *, source: str | None = None) -> list[TrackerConfig]:
    """Read a ``tracking:`` setting (or ``--track`` values): None/``none`` -> no tracker."""
    if value is None or value is False or value == "none" or value == []:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[TrackerConfig] = []
    for item in items:
        options: Any
        if isinstance(item, str):
            kind, options = item.strip().lower(), {}
        elif isinstance(item, Mapping) and len(item) == 1:
            kind, options = next(iter(item.items()))
            kind = str(kind).lower()
            if options is None:
                options = {}
            if not isinstance(options, Mapping):
                raise ConfigError(f"tracking: {kind}: expected a mapping of options, got {options!r}",
                                  source=source, hint="e.g. tracking: {mlflow: {experiment: my-sweeps}}")
        else:
            raise ConfigError(f"tracking: expected a tracker name or a mapping with one, got {item!r}",
                              source=source, hint="e.g. tracking: mlflow, or tracking: {mlflow: {experiment: x}}")
        if kind not in TRACKERS:
            raise ConfigError(f"tracking: unknown tracker {kind!r}", source=source,
                              hint=did_you_mean(kind, TRACKERS) or "choose " + " or ".join(TRACKERS))
        for key, v in options.items():
            if key not in _OPTIONS[kind]:
                raise ConfigError(f"tracking: {kind}: unknown option {key!r}", source=source,
                                  hint=did_you_mean(str(key), _OPTIONS[kind])
                                  or "options: " + ", ".join(_OPTIONS[kind]))
            if not isinstance(v, str) or not v.strip():
                raise ConfigError(f"tracking: {kind}: {key} must be a non-empty string, got {v!r}", source=source)
        if kind == "wandb" and options.get("mode") not in (None, "online", "offline", "disabled"):
            raise ConfigError(f"tracking: wandb: mode must be online, offline or disabled, got {options['mode']!r}",
                              source=source)
        if any(c.kind == kind for c in out):
            raise ConfigError(f"tracking: {kind} is given twice", source=source)
        out.append(TrackerConfig(kind, dict(options)))
    return out


__all__ = ["TRACKERS", "TrackerConfig", "parse_tracking"]
