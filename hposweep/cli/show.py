"""What ``hposweep show`` prints: one trial in full, for reading (``table``) or for scripts (``json``).

Apart from :mod:`hposweep.cli.inspect` because a trial's page is its own job: local ISO times, run info,
the metric histories, and the last lines of its log, read only from inside the study's own folders (the
log's path comes from the study file, which anyone who can write it can edit).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from typing import Any

from hposweep.cli.inspect import plain_cell, write_json
from hposweep.core.trial import Trial
from hposweep.errors import UsageError
from hposweep.study.api import Study
from hposweep.study.discovery import state_label, study_file, trial_file
from hposweep.study.rows import json_safe, metric_names, trial_record

SHOW_FORMATS = ("table", "json")


def local_time(ts: float | None) -> str:
    """A Unix time as a local ISO date with its offset: ``2024-05-01T14:03:07+02:00``; ``-`` when unknown."""
    if ts is None:
        return "-"
    from datetime import datetime

    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def parse_show_args(where: list[str]) -> tuple[str | None, int]:
    """``show N``, ``show FILE N`` or ``show N FILE`` → (file or None, N)."""
    def number(text: str) -> int | None:
        return int(text) if re.fullmatch(r"\d+", text) else None

    if len(where) == 1 and number(where[0]) is not None:
        return None, number(where[0])  # type: ignore[return-value]
    if len(where) == 2:
        a, b = where
        if number(b) is not None and (number(a) is None or os.path.exists(a)):
            return a, number(b)  # type: ignore[return-value]
        if number(a) is not None:
            return b, number(a)  # type: ignore[return-value]
    raise UsageError("show takes a trial number, and optionally the study file before it",
                     hint="e.g. hposweep show 7, or hposweep show runs/sweep.json 7")


def print_trial(study: Study, number: int, fmt: str = "table", *, study_path: str | None = None) -> None:
    """One trial in full. ``json``: its record, intermediate values and run info; ``table``: the same
    for reading (local ISO times, run info), then the last lines of its log."""
    if fmt not in SHOW_FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint="choose table or json")
    t = study.trial(number)
    rec = trial_record(study, t)
    rec["intermediate"] = {str(k): json_safe(v) for k, v in sorted(t.intermediate.items())}
    rec["info"] = dict(t.info)
    rec["metric_history"] = {name: {"steps": [s for s, _ in pts], "values": [json_safe(v) for _, v in pts]}
                             for name, pts in study.metric_history(t).items()}
    log = t.info.get("log")
    if fmt == "json":
        write_json(rec, indent=2)
        return
    _show_table(study, t, rec)
    if log:
        # the record's path comes from the study file, which anyone who can write it can edit: only a regular
        # file inside the study's own folders is read (every link resolved first), then opened without
        # following a link, so a crafted journal naming /etc/passwd, or a planted link, shows nothing
        where = study_path or study_file(study)
        safe = trial_file(where, t.info) if where else None
        tail = tail_log(safe, 20) if safe is not None else None
        if tail is None:
            if isinstance(log, str) and os.path.lexists(log) or safe is not None:
                sys.stdout.write(f"\n(log {log} is not shown: it is not a file inside the study's own folders)\n")
            else:
                sys.stdout.write(f"\n(log {log} is empty or gone)\n")
            return
        sys.stdout.write(f"\n--- last lines of {log} ---\n" if tail else f"\n(log {log} is empty or gone)\n")
        for line in tail:
            sys.stdout.write(line + "\n")


def tail_log(path: str, n: int, max_bytes: int = 65536) -> list[str] | None:
    """The last ``n`` lines of a log as a human reads it, opened without following a symlink (a planted
    ``trial-0003.log`` link to a private file is not read); None when it is a link or not a regular file."""
    import stat

    from hposweep.execution.metrics import strip_ansi

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return [] if isinstance(exc, FileNotFoundError) else None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        fh.seek(max(0, st.st_size - max_bytes))
        text = fh.read(max_bytes).decode("utf-8", errors="replace")
    lines = [shown for raw in text.split("\n") if (shown := strip_ansi(raw.rstrip("\r").split("\r")[-1]).rstrip())]
    return lines[-n:] if n > 0 else []


def _show_table(study: Study, t: Trial, rec: dict[str, Any]) -> None:
    from hposweep.cli.format import fmt_duration, fmt_value, plural

    lines: list[tuple[str, str]] = [("trial", str(t.number)), ("state", state_label(study, t))]
    values: list[float | None] = list(t.values) if t.values else [None] * len(study.directions)
    for name, v in zip(metric_names(study), values):
        lines.append((name, fmt_value(v)))
    if rec["reason"]:
        lines.append(("reason", rec["reason"]))
    lines.append(("started", local_time(t.started_at)))
    lines.append(("finished", local_time(t.finished_at)))
    lines.append(("duration", fmt_duration(rec["duration"])))
    if t.last_step is not None:
        lines.append(("last step", str(t.last_step)))
    if isinstance(t.info.get("trial_dir"), str):
        lines.append(("folder", t.info["trial_dir"]))
    width = max(len(k) for k, _ in lines)
    w = sys.stdout.write
    for k, text in lines:
        w(f"{k:<{width}}  {text}\n")

    def section(title: str, items: dict[str, Any]) -> None:
        if not items:
            return
        w(f"\n{title}:\n")
        iw = max(len(str(k)) for k in items)
        for k, v in items.items():
            w(f"  {str(k):<{iw}}  {plain_cell(v)}\n")

    section("params", dict(t.params))
    section("metrics", dict(t.user_attrs))
    if t.intermediate:
        steps = sorted(t.intermediate)
        shown = steps if len(steps) <= 12 else steps[:6] + steps[-6:]
        cut = ", first and last 6" if len(steps) > 12 else ""
        section(f"intermediate values ({plural(len(steps), 'step')}{cut})", {str(s): t.intermediate[s] for s in shown})
    info: dict[str, Any] = {}
    for k, raw in t.info.items():
        if k in ("reason", "log", "trial_dir"):
            continue
        shown_value: Any = raw
        if (k == "heartbeat" or k.endswith("_at")) and isinstance(raw, (int, float)):
            shown_value = local_time(raw)
        elif k == "argv" and isinstance(raw, list):
            shown_value = shlex.join(str(a) for a in raw)
        info[k] = shown_value
    section("run", info)
