"""Durations as people write them on a command line (``90s``, ``1h30m``): ``--timeout``, ``--time-budget``."""

from __future__ import annotations

import re

from hposweep.errors import ConfigError


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"90s"``, ``"30m"``, ``"2h"``, ``"1h30m"``, ``"1.5h"``, ``"2d"``, ``"500ms"`` or ``"45"``.

    A bare number is seconds. Units may be combined largest first, with optional spaces.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        seconds = _parse_duration_text(str(text))
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"duration must be positive and finite, got {text!r}", hint="e.g. 90s, 30m, 2h, 1h30m")
    return seconds


_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _parse_duration_text(text: str) -> float:
    s = text.strip()
    bad = ConfigError(f"cannot read duration {text!r}", hint="write e.g. 90s, 30m, 2h, 1h30m, 1.5h or 45 (seconds)")
    try:
        return float(s)
    except ValueError:
        pass
    pos, total, last_rank = 0, 0.0, -1
    order = ["d", "h", "m", "s", "ms"]
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise bad
        unit = m.group(2).lower()
        rank = order.index(unit)
        if rank <= last_rank:
            raise bad
        last_rank = rank
        total += float(m.group(1)) * _UNIT_SECONDS[unit]
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1
    if last_rank < 0:
        raise bad
    return total


