"""How the command line writes values for people, and its two output streams.

One formatter for every human-facing line (the live view, the end-of-sweep summary, the ``best`` and
``trials`` tables, ``validate``): six significant digits, booleans and null spelt as in YAML, lists as
compact JSON. Text meant to be read back by a program (``--format args|env|csv``) uses
:func:`hposweep.execution.argv.format_value` instead, which is exact.

stdout carries data (tables, JSON, the summary); stderr carries everything said about the run, so
``hposweep ... | jq`` stays clean: :func:`out` and :func:`err` are the only writers.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any


def fmt_value(v: Any) -> str:
    """A value for reading: ``-`` for none, ``0.00123457``, ``true``, ``[1,2]``, strings as they are."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"), default=str)
    if hasattr(v, "item") and not isinstance(v, str):  # numpy scalars
        return fmt_value(v.item())
    return str(v)


def fmt_params(params: Mapping[str, Any], limit: int = 200) -> str:
    """``name=value`` pairs on one line, cut with ``...`` past ``limit`` characters."""
    text = " ".join(f"{k}={fmt_value(v)}" for k, v in params.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_duration(seconds: float | None) -> str:
    """``12.3s``, ``4m05s``, ``2h03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def fmt_spec(spec: Any) -> str:
    """A sampler or pruner spec: ``median (n_warmup_steps=3)`` for ``{name: median, n_warmup_steps: 3}``."""
    if isinstance(spec, dict):
        opts = ", ".join(f"{k}={fmt_value(v)}" for k, v in spec.items() if k != "name")
        return f"{spec.get('name')} ({opts})" if opts else str(spec.get("name"))
    return str(spec)


def out(text: str) -> None:
    """One line of data on stdout."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    """One line for the person on stderr."""
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 trial``, ``2 trials``, ``0 trials`` (``many`` for irregular plurals)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"
