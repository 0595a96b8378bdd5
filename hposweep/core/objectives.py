"""What a study optimizes: directions, the name of each objective, and the columns its values go in.

One place for these rules because every output names objectives the same way: the live view, ``best``,
``trials``, the report and ``--json`` all call :func:`metric_names` and :func:`value_columns`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hposweep.errors import ConfigError

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
DIRECTIONS = (MINIMIZE, MAXIMIZE)


def check_direction(direction: Any) -> str:
    """``direction`` itself, or a :class:`ConfigError` naming the two accepted words."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    return str(direction)


def sign(direction: str) -> float:
    """+1 to minimize, -1 to maximize: ``sign * value`` is smaller when better."""
    return 1.0 if check_direction(direction) == MINIMIZE else -1.0


def metric_names(settings: Mapping[str, Any] | None, n_objectives: int) -> list[str]:
    """One display name per objective: from the ``metric:`` / ``metrics:`` settings, else ``value``/``value_i``."""
    settings = settings or {}
    names: list[str] = []
    metrics = settings.get("metrics")
    if isinstance(metrics, list):
        for m in metrics:
            if isinstance(m, dict) and isinstance(m.get("name"), str):
                names.append(m["name"])
            elif isinstance(m, str):
                names.append(m)
    elif isinstance(settings.get("metric"), str) and n_objectives == 1:
        names = [settings["metric"]]
    if len(names) != n_objectives:
        names = value_columns(n_objectives)
    return names


def value_columns(n_objectives: int) -> list[str]:
    """Column names of the objective values: ``value`` for one objective, ``value_0``.. for several.

    Fixed names (not metric names) so that scripts reading the CSV work for any study.
    """
    return ["value"] if n_objectives == 1 else [f"value_{i}" for i in range(n_objectives)]


def directions_of(values: Sequence[str]) -> list[str]:
    """Every direction checked, in order."""
    return [check_direction(d) for d in values]
