"""What each page of the dashboard shows, as JSON-ready data built from a study.

The figures are the report's (:func:`hposweep.report.sections.build_sections` and the builders under
it), so the report and the dashboard draw one study the same way; the trials table is the one
trial-row schema of :mod:`hposweep.study.rows` (its columns, its values, the report's headers). Nothing
here knows about HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import time
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import Trial, TrialState
from hposweep.dashboard.figures import curve_figures, timeline_figure
from hposweep.report.format import clean
from hposweep.report.sections import Section, build_sections, describe_spec, importances, trial_headers
from hposweep.study.discovery import trial_file
from hposweep.study.rows import TIMESTAMP_COLUMNS, metric_names, trial_columns, trial_record, trial_rows

if TYPE_CHECKING:
    from hposweep.dashboard.catalog import Entry
    from hposweep.study.api import Study

#: importance (100 bootstrap resamples) is re-estimated at most this often while trials keep finishing
IMPORTANCE_EVERY = 5.0
#: lines of a trial's log shown on its page
LOG_LINES = 200
#: a trial's log is parsed for metric curves up to this size (the end of a bigger one is used)
MAX_LOG_BYTES = 8 * 1024 * 1024
PARAM_FORMATS = ("args", "yaml", "json")


def counts(study: Study) -> dict[str, int]:
    out = {s.value: 0 for s in TrialState}
    for t in study.trials:
        out[t.state.value] += 1
    return out


def target_trials(study: Study) -> int | None:
    target = study.meta.get("target_trials") or study.settings.get("trials")
    return int(target) if isinstance(target, (int, float)) and target > 0 else None


def eta_seconds(study: Study, now: float | None = None) -> float | None:
    """Time left: the trials still to run at the pace finished ones ran, as many at once as run now.

    None when there is no target, nothing finished yet, or nothing is running (a stopped sweep).
    Capped by what is left of a time budget.
    """
    now = time.time() if now is None else now
    target = target_trials(study)
    running = study.running_trials
    durations = [t.duration for t in study.finished_trials if t.duration is not None]
    if target is None or not durations or not running:
        return None
    left = max(0, target - study.n_finished - len(running))
    parallel = max(len(running), 1)
    mean = sum(durations) / len(durations)
    # the running ones finish in about (mean - elapsed), the rest in waves of `parallel`
    elapsed = [now - float(t.started_at or now) for t in running]
    current = max(0.0, mean - min(elapsed)) if elapsed else 0.0
    eta = current + mean * math.ceil(left / parallel)
    budget = study.settings.get("time_budget")
    if isinstance(budget, (int, float)):
        used = float(study.meta.get("time_used") or 0.0)
        eta = min(eta, max(0.0, float(budget) - used))
    return eta


def is_live(study: Study, now: float | None = None) -> bool:
    """Some worker sent a heartbeat within its lease: the sweep is running now."""
    now = time.time() if now is None else now
    lease = float(study.settings.get("lease") or 60.0)
    return any(now - float(t.info.get("heartbeat") or t.started_at or 0.0) <= lease for t in study.running_trials)


def best_value(study: Study) -> Any:
    if study.is_multi_objective:
        return {"pareto": len(study.best_trials)}
    best = study.best_trial
    return None if best is None else {"trial": best.number, "value": best.value}


def study_summary(entry: Entry) -> dict[str, Any]:
    """One row of the studies list."""
    study = entry.current()
    row: dict[str, Any] = {"id": entry.id, "name": entry.name, "path": entry.path, "version": entry.version()}
    if study is None:
        row["error"] = entry.error or "cannot be read"
        return row
    row.update(
        counts=counts(study), n_trials=len(study.trials), finished=study.n_finished, target=target_trials(study),
        best=best_value(study), metrics=metric_names(study), directions=list(study.directions),
        sampler=describe_spec(study.sampler_spec, chosen=study.meta.get("auto_choice")),
        pruner=describe_spec(study.pruner_spec), eta=eta_seconds(study), live=is_live(study),
        updated=max([t.finished_at or t.started_at or 0.0 for t in study.trials] or [study.created_at]),
        warning=entry.error,
    )
    return clean(row)


def section_json(sec: Section) -> dict[str, Any]:
    out = dataclasses.asdict(sec)
    for k, fig in enumerate(out["figures"]):
        # plotly keeps the user's zoom and filters across redraws with the same uirevision
        fig["layout"]["uirevision"] = f"{sec.id}-{k}"
    return out


def study_sections(entry: Entry) -> list[dict[str, Any]]:
    """Every figure the report draws (its trials table excepted: the page has a live one), and the timeline."""
    def build(study: Study) -> list[dict[str, Any]]:
        imps = entry.throttled("importance", importances, IMPORTANCE_EVERY)
        sections = [s for s in build_sections(study, imps) if s.id != "trials"]
        tl = Section("timeline", "Timeline")
        fig = timeline_figure(study)
        if fig:
            tl.figures.append(fig)
            tl.notes.append("One row per worker and slot; running trials grow until they finish.")
        else:
            tl.notes.append("No trial has started yet.")
        at = next((i for i, s in enumerate(sections) if s.id == "intermediate"), len(sections)) + 1
        sections.insert(at, tl)
        return clean([section_json(s) for s in sections])

    return entry.cached("sections", build)


def trials_table(entry: Entry) -> dict[str, Any]:
    """The trials as the row schema has them (timestamps left out, as in the report's table)."""
    def build(study: Study) -> dict[str, Any]:
        cols = [c for c in trial_columns(study) if c not in TIMESTAMP_COLUMNS]
        rows = trial_rows(study)
        return clean({"columns": cols, "headers": trial_headers(study, cols),
                      "rows": [[r.get(c) for c in cols] for r in rows]})

    return entry.cached("table", build)


# --- one trial -----------------------------------------------------------------------------------------
def safe_trial_file(path: str, t: Trial, suffix: str = ".log") -> str | None:
    """The trial's log (or a file beside it) if it lies inside the study's own folders, else None.

    The path comes from the study file, which anyone who can write the study can edit: resolved with
    every symlink followed, it must still be a regular file under ``<study>.trials/`` (or, for older
    studies, ``<study>.logs/``), so the page can never be made to show ``/etc/passwd`` or a file a link
    in those folders points at (:func:`~hposweep.study.discovery.inside_study_folders`).
    """
    return trial_file(path, t.info, suffix)


def log_tail(path: str, t: Trial, n: int = LOG_LINES) -> list[str] | None:
    from hposweep.execution.executors.local import tail_file

    log = safe_trial_file(path, t)
    return None if log is None else tail_file(log, n, max_bytes=256 * 1024)


def metric_curves(study: Study, path: str, t: Trial) -> dict[str, dict[float, float]]:
    """Every metric's curve the trial has: the objective's reports, then the other metrics' recorded histories;
    for a study that recorded none (older hposweep), what the trial's log and metrics file hold.

    Steps are assigned as the runner assigns them (:class:`~hposweep.execution.metrics.MetricTracker`):
    a report without a step takes the one after that metric's last.
    """
    from hposweep.execution.metrics import MetricParser, parse_json_metrics_line

    names = metric_names(study)
    curves: dict[str, dict[float, float]] = {}
    if t.intermediate:
        curves[names[0]] = {float(k): v for k, v in t.intermediate.items()}
    recorded = study.metric_history(t)
    if set(recorded) - {names[0]}:  # the study kept every metric's history (format 3): no log to re-parse
        for name, pts in recorded.items():
            if name not in curves and len(pts) > 1:
                curves[name] = {float(s): v for s, v in pts}
        return curves
    reports = []
    log = safe_trial_file(path, t)
    if log is not None:
        regex = study.settings.get("metric_regex")
        parser = MetricParser(regex if isinstance(regex, str) else None, default_name=names[0])
        with open(log, "rb") as fh:
            fh.seek(max(0, os.path.getsize(log) - MAX_LOG_BYTES))
            reports += parser.feed(fh.read()) + parser.flush()
    jsonl = safe_trial_file(path, t, ".metrics.jsonl")
    if jsonl is not None:
        with open(jsonl, "rb") as fh:
            for line in fh.read(MAX_LOG_BYTES).split(b"\n"):
                reports += parse_json_metrics_line(line)
    parsed: dict[str, dict[float, float]] = {}  # steps may be fractional (epoch 1.5)
    last: dict[str, float] = {}
    for r in reports:
        step = r.step if r.step is not None else last.get(r.name, -1) + 1
        last[r.name] = step
        parsed.setdefault(r.name, {})[step] = r.value
    for name, points in parsed.items():
        if name not in curves and len(points) > 1:
            curves[name] = points
    return curves


def reproduce(path: str, t: Trial) -> dict[str, Any]:
    """The trial's exact command, working directory and hposweep's variables, as one shell line to re-run it.

    The rest of the environment is the one ``hposweep run`` was started in, which the study does not record.
    """
    from hposweep.execution.argv import trial_env

    argv = t.info.get("argv")
    log = t.info.get("log")
    stem = log[: -len(".log")] if isinstance(log, str) and log.endswith(".log") else None
    env = trial_env({}, trial_number=t.number, params=t.params,
                    params_file=os.path.abspath(stem + ".params.json") if stem else None,
                    metrics_file=os.path.abspath(stem + ".metrics.jsonl") if stem else None,
                    study_path=os.path.abspath(path),
                    slot=t.info.get("slot") if isinstance(t.info.get("slot"), int) else None,
                    gpus=t.info.get("gpus"))
    if isinstance(argv, list):
        command = shlex.join(str(a) for a in argv)
    elif isinstance(argv, str):
        command = shlex.join(["sh", "-c", argv])
    else:
        command = None
    cwd = t.info.get("cwd")
    line = None
    if command:
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        line = (f"cd {shlex.quote(str(cwd))} && " if cwd else "") + f"env {assignments} {command}"
    return {"argv": argv, "command": command, "cwd": cwd, "env": env, "shell": line,
            "git_commit": t.info.get("git_commit")}


def trial_detail(entry: Entry, number: int) -> dict[str, Any] | None:
    study = entry.current()
    if study is None or not 0 <= number < len(study.trials):
        return None
    t = study.trials[number]
    rec = trial_record(study, t)
    rec["intermediate"] = {str(k): v for k, v in sorted(t.intermediate.items())}
    rec["info"] = dict(t.info)
    pruned_at = t.info.get("pruned_at_step")
    return clean({
        "record": rec, "version": entry.version(), "study": {"id": entry.id, "name": entry.name},
        "metrics": metric_names(study), "directions": list(study.directions),
        "curves": curve_figures(metric_curves(study, entry.path, t), pruned_at if isinstance(pruned_at, int) else None),
        "log": log_tail(entry.path, t), "reproduce": reproduce(entry.path, t),
        "notes": t.info.get("notes") or [], "stop_requested": t.info.get("stop_requested"),
        "is_best": any(b.number == t.number for b in study.best_trials),
    })


def pick_trial(study: Study, which: str) -> Trial | None:
    """``best`` (the best trial; for several objectives the first of the front) or a trial number."""
    if which == "best":
        best = study.best_trials
        return best[0] if best else None
    if which.isdigit() and int(which) < len(study.trials):
        return study.trials[int(which)]
    return None


def params_download(study: Study, t: Trial, fmt: str) -> tuple[str, str]:
    """``(text, file name)`` of a trial's params as ``--name=value`` arguments, YAML or JSON.

    The arguments are the ones the runner passed the trial (the same :func:`~hposweep.execution.argv.args_tokens`
    with the space's :func:`~hposweep.execution.argv.flag_styles`): a ``pass: flag`` bool is a bare ``--use_bn``
    or nothing, ``pass: flag_no`` gives ``--no-use_bn``, as ``hposweep best --format args`` prints them.
    """
    from hposweep.execution.argv import args_tokens, flag_styles

    stem = f"trial-{t.number}-params"
    if fmt == "args":
        tokens = args_tokens(t.params, "args", flags=flag_styles(study.space))
        return " ".join(shlex.quote(tok) for tok in tokens) + "\n", stem + ".txt"
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(dict(t.params), sort_keys=False), stem + ".yaml"
    return json.dumps(dict(t.params), indent=2, default=str) + "\n", stem + ".json"
