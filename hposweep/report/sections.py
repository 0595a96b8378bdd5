"""Which parts the report has, in page order, and what each one says, as data rather than HTML.

Every section degrades to a short note when it has nothing to show (no trials, only failed ones,
one parameter, no intermediate values), so a report can be written at any point of a sweep. The
page (``page.py``) turns these into HTML; a live dashboard can turn the same ones into its own.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hposweep.core.trial import TrialState
from hposweep.report.contours import CONTOUR_MIN_TRIALS, contour_figure, contour_pairs
from hposweep.report.figures import (
    history_figure,
    importance_figure,
    intermediate_figure,
    metric_history_figures,
    outside_interval,
    pareto_figures,
    slice_figure,
)
from hposweep.report.format import describe_param, finite, format_param, format_value
from hposweep.report.parallel import best_trials_for_parallel, parallel_figure
from hposweep.report.style import Figure, front
from hposweep.study.repeats import fmt_mean_sd, has_repeats, rank_by_mean, repeat_groups
from hposweep.study.rows import state_text
from hposweep.study.summary import luck_line, metric_names, recommend_line, trial_columns, trial_rows, value_columns

if TYPE_CHECKING:
    from hposweep.analysis.importance import ImportanceResult
    from hposweep.study.api import Study

Facts = list[tuple[str, str]]


@dataclass
class Card:
    """A titled box of facts (one per best trial)."""

    title: str
    facts: Facts


@dataclass
class Table:
    """A sortable table: display headers, and per row its state and ``(shown, sort key)`` cells."""

    columns: list[str]
    rows: list[tuple[str, list[tuple[str, str]]]]


@dataclass
class Section:
    """One part of the page: a heading, figures, notes, and a facts table, cards or a trials table."""

    id: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: Facts = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    table: Table | None = None
    #: lay figures out in a grid of small plots (slices) instead of one per row
    grid: bool = False


def importances(study: Study) -> list[ImportanceResult]:
    """One importance result per objective (empty when the space has nothing to search)."""
    if not study.space.searchable:
        return []
    from hposweep.analysis.importance import compute_importance

    return [compute_importance(study, objective=i, n_bootstrap=100) for i in range(len(study.directions))]


def build_sections(study: Study, imps: list[ImportanceResult] | None = None) -> list[Section]:
    """Every part of the report, in page order. Figures are plotly.js figure dicts.

    ``imps`` (from :func:`importances`) may be passed in by a caller that caches them: the live
    dashboard redraws on every finished trial but re-estimates importance (the slow part) less often.
    """
    names = metric_names(study)
    imps = importances(study) if imps is None else imps
    sections = [overview_section(study)]

    hist = Section("history", "Optimization history")
    hist.figures = [fig for i in range(len(names)) if (fig := history_figure(study, i))]
    constrained = bool(study.settings.get("constraints"))
    if not hist.figures:
        hist.notes.append("No trial has a value yet (none complete or pruned).")
    elif constrained:
        hist.notes.append(f"Constraints: {', '.join(map(str, study.settings['constraints']))}. Grey crosses: "
                          "complete trials that break one (infeasible); the best so far counts feasible trials only.")
    sections.append(hist)

    if study.is_multi_objective:
        par = Section("pareto", "Pareto front", figures=pareto_figures(study))
        if not par.figures:
            par.notes.append("No complete trial with every objective yet.")
        sections.append(par)

    sections.append(importance_section(study, imps))

    sl = Section("slices", f"Slice plots ({names[0]} against each parameter)", grid=True)
    sl.figures = [fig for p in study.space.searchable if (fig := slice_figure(study, p, 0))]
    if sl.figures:
        sl.notes.append("Colour: trial number (later trials brighter); orange crosses: pruned trials, "
                        "at the value they were pruned at" + ("; grey crosses: infeasible trials." if constrained
                                                               else "."))
    else:
        sl.notes.append("Nothing to plot yet.")
    sections.append(sl)

    pc = Section("parallel", "Parallel coordinates of the best trials")
    best = best_trials_for_parallel(study)
    fig = parallel_figure(study, best, "Pareto-optimal trials" if study.is_multi_objective
                          else f"Best {len(best)} complete trials")
    if fig:
        pc.figures.append(fig)
        pc.notes.append("Drag along an axis to filter; 'inactive' marks conditional parameters a trial did not use."
                        + (" The 'feasible' axis tells infeasible trials (which rank after every feasible one) "
                           "apart." if constrained else ""))
    else:
        pc.notes.append("Needs at least two complete trials.")
    sections.append(pc)

    ct = Section("contours", f"Contour plots of {names[0]} over the most important pairs", grid=True)
    ct.figures = [fig for a, b in contour_pairs(study, imps[0] if imps else None)
                  if (fig := contour_figure(study, a, b, 0))]
    if not ct.figures:
        ct.notes.append(f"Needs two varying parameters and at least {CONTOUR_MIN_TRIALS} complete trials "
                        "where both are active.")
    else:
        ct.notes.append("Smoothed by kernel regression between the trials (white dots): trust it near the dots. "
                        "A categorical parameter is drawn as cells, one per choice, each from its own trials only.")
    sections.append(ct)

    iv = Section("intermediate", "Intermediate values")
    fig = intermediate_figure(study)
    if fig:
        iv.figures.append(fig)
    else:
        iv.notes.append("No trial reported intermediate values.")
    sections.append(iv)

    mh = Section("metrics", "Other metrics per step", figures=metric_history_figures(study))
    if mh.figures:
        mh.notes.append("Every metric the trials reported more than once, step by step (long histories are "
                        "thinned evenly between their first and last 1,000 points).")
        sections.append(mh)

    sections.append(best_section(study))
    if not study.is_multi_objective and has_repeats(study.trials):
        sections.append(repeats_section(study))
    sections += [settings_section(study), trials_section(study)]
    return sections


def repeats_section(study: Study) -> Section:
    """Each repeated configuration (``hposweep repeat``) as mean ± sd over its runs, best mean first."""
    ranked = rank_by_mean(repeat_groups(study.trials, study.seed), study.direction)
    sec = Section("repeats", "Repeats of the best")
    sec.notes.append("Each configuration below was run again with other seeds (HPOSWEEP_SEED); the best is "
                     "picked by the mean over the original and its repeats, so a lucky single run does not win.")
    rows = []
    for g in ranked:
        sd = g.sd
        cells = [(f"trial {g.number}", str(g.number)), (fmt_mean_sd(g), repr(g.mean)),
                 (format_value(sd) if sd is not None else "-", repr(sd or 0.0)),
                 (", ".join(format_value(v) for v in g.values), str(g.n)),
                 (" ".join(f"{k}={format_param(v)}" for k, v in g.params.items()), "")]
        rows.append(("complete", cells))
    sec.table = Table(["configuration", "mean ± sd", "sd", "values", "params"], rows)
    return sec


def importance_section(study: Study, imps: list[ImportanceResult]) -> Section:
    sec = Section("importance", "Parameter importance")
    fig = importance_figure(imps)
    if fig:
        sec.figures.append(fig)
    sec.notes += [f"{r.metric}: {r.message}" for r in imps if r.message]
    if not study.space.searchable:
        sec.notes.append("The space has no searchable parameter.")
    sec.notes.append("PED-ANOVA: how differently each parameter is distributed among the best trials "
                     "than among all trials (conditional parameters weighted by how often they are active).")
    if fig:
        sec.notes.append("Bar: the estimate from all trials. Whisker: where 90% of the estimates from 100 bootstrap "
                         "resamples of the trials fell (5th to 95th percentile).")
    odd = outside_interval(imps)
    if odd:
        sec.notes.append(
            f"The estimate lies outside its whisker for {', '.join(odd)}: resampling repeats trials, and repeated "
            "trials among the best ones look like a cluster, so re-estimates of a weak parameter's share come out "
            "higher than the estimate (and a strong one's lower). Read such a parameter as weak.")
    return sec


def overview_section(study: Study) -> Section:
    counts = {s: 0 for s in TrialState}
    for t in study.trials:
        counts[t.state] += 1
    names = metric_names(study)
    facts: Facts = [
        ("trials", ", ".join(f"{counts[s]} {s.value}" for s in TrialState if counts[s]) or "none yet"),
        ("objectives", ", ".join(f"{n} ({d})" for n, d in zip(names, study.directions, strict=True))),
        ("parameters", ", ".join(f"{p.name}: {describe_param(p)}" for p in study.space) or "none"),
        ("sampler", describe_spec(study.sampler_spec, chosen=study.meta.get("auto_choice"))),
        ("pruner", describe_spec(study.pruner_spec)),
        ("seed", str(study.seed)),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(study.created_at))),
    ]
    if study.path:
        facts.insert(0, ("checkpoint", study.path))
    return Section("overview", "Overview", facts=facts)


def describe_spec(spec: Any, chosen: str | None = None) -> str:
    """A sampler or pruner as recorded in the checkpoint: ``tpe (n_startup_trials 5)``, ``none``.

    Read from the spec, never by building the object: a report must not need the optional
    package (``cmaes``) the sweep ran with, nor numpy's start-up time.
    """
    if spec in (None, "none"):
        return "none"
    if isinstance(spec, Mapping):
        name = str(spec.get("name", "?"))
        options = {k: v for k, v in spec.items() if k != "name"}
    else:
        name, options = str(spec), {}
    text = name
    if options:
        text += " (" + ", ".join(f"{k} {readable(v)}" for k, v in options.items()) + ")"
    if name == "auto" and chosen:
        text += f", chose {chosen} when the study started"
    return text


def best_section(study: Study) -> Section:
    names = metric_names(study)
    sec = Section("best", "Best trial" if not study.is_multi_objective else "Pareto-optimal trials")
    best = front(study) if study.is_multi_objective else ([study.best_trial] if study.best_trial else [])
    ranked = [] if study.is_multi_objective else rank_by_mean(repeat_groups(study.trials, study.seed),
                                                              study.direction)
    if ranked:
        best = [study.trial(ranked[0].number)]
        sec.notes.append(f"Picked by the mean over repeats: trial {ranked[0].number}, {fmt_mean_sd(ranked[0])} "
                         "(see Repeats of the best).")
    if not best:
        sec.notes.append("No trial completed yet.")
        return sec
    luck = luck_line(study)
    if luck:
        sec.notes.append(luck[0].upper() + luck[1:] + ".")
    robust = None if ranked else recommend_line(study)
    if robust:
        sec.notes.append(robust[0].upper() + robust[1:] + ".")
    for t in best[:20]:
        facts = [(n, format_value(v)) for n, v in zip(names, t.values or [], strict=False)]
        facts += [(k, format_param(v)) for k, v in t.params.items()]
        if t.duration is not None:
            facts.append(("duration", f"{t.duration:.1f} s"))
        sec.cards.append(Card(f"trial {t.number}", facts))
    if len(best) > 20:
        sec.notes.append(f"{len(best) - 20} more Pareto-optimal trials are in the table below.")
    return sec


# --- settings ----------------------------------------------------------------------------------
#: shown elsewhere (objectives in the overview) or internal bookkeeping
_NOT_SETTINGS = {"metric", "metrics", "direction", "sampler", "pruner", "seed"}
_RAY_ONLY = ("ray_address", "cpus_per_trial", "gpus_per_trial")
_LABELS = {
    "command": "command", "space_file": "space file", "trials": "trials to run", "jobs": "trials at a time",
    "pass": "parameters passed as", "objective": "objective value", "metric_regex": "metric regex",
    "timeout": "timeout per trial", "time_budget": "time budget", "max_failures": "stop after failures",
    "grace": "grace before SIGKILL", "prune_grace": "grace for pruned trials", "gpus": "GPUs",
    "lease": "heartbeat lease", "executor": "executor", "shell": "shell", "ray_address": "Ray address",
    "cpus_per_trial": "CPUs per trial", "gpus_per_trial": "GPUs per trial",
}
_PASS = {"args": "--name=value arguments", "hydra": "Hydra overrides (name=value)",
         "none": "HPOSWEEP_PARAMS / HPOSWEEP_PARAMS_FILE only"}
_OBJECTIVE = {"last": "the last value reported", "best": "the best value reported"}
_SECONDS = ("timeout", "time_budget", "grace", "prune_grace", "lease")


def settings_facts(settings: Mapping[str, Any], *, pruned: bool) -> Facts:
    """The run settings that apply to this study, in words; unset and inapplicable ones left out."""
    facts: Facts = []
    ray = settings.get("executor") == "ray"
    order = [k for k in _LABELS if k in settings] + sorted(k for k in settings if k not in _LABELS)
    for key in order:
        v = settings[key]
        if key in _NOT_SETTINGS or v is None or v == [] or v == {}:
            continue
        if (key in _RAY_ONLY and not ray) or (key == "gpus" and ray) or (key == "prune_grace" and not pruned):
            continue
        if key == "shell":
            if v:
                facts.append(("shell", "the command runs through the shell"))
            continue
        if key == "lease" and not ray and int(settings.get("jobs") or 1) == 1:
            continue  # heartbeats matter to workers and Ray trials only
        if key == "command":
            text = v if isinstance(v, str) else shlex.join(str(x) for x in v)
        elif key == "pass":
            text = _PASS.get(str(v), str(v))
        elif key == "objective":
            text = _OBJECTIVE.get(str(v), str(v))
        elif key == "max_failures":
            text = "never" if v == 0 else f"{v} failed trials in a row"
        elif key in _SECONDS and finite(v):
            text = duration_text(float(v))
        elif key == "executor":
            text = "local processes" if v == "local" else str(v)
        else:
            text = readable(v)
        facts.append((_LABELS.get(key, str(key)), text))
    return facts


def duration_text(seconds: float) -> str:
    """``45 s``, ``2.5 s``, ``10 min``, ``1 h 30 min``."""
    if seconds < 60:
        return f"{seconds:g} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(p for p in parts if p)


def readable(v: Any) -> str:
    """A value as words: lists joined by commas, mappings as ``key: value``, scalars as the report spells them."""
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {readable(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(readable(x) for x in v)
    return format_param(v)


def settings_section(study: Study) -> Section:
    facts = settings_facts(study.settings, pruned=study.pruner_spec not in (None, "none"))
    sec = Section("settings", "Settings", facts=facts)
    if not facts:
        sec.notes.append("The study records no settings.")
    return sec


# --- trials --------------------------------------------------------------------------------------
def trial_headers(study: Study, columns: list[str]) -> list[str]:
    """Display headers: the value column(s) headed by the metric's name, else the row schema's keys."""
    taken = set(columns)
    headers = {}
    for col, name in zip(value_columns(study), metric_names(study), strict=True):
        headers[col] = name if name == col or name not in taken else f"{name} (objective)"
    return [headers.get(c, c) for c in columns]


def trials_section(study: Study) -> Section:
    cols = [c for c in trial_columns(study) if c not in ("started_at", "finished_at")]
    rows = trial_rows(study)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            sort_key = str(v) if finite(v) else ("" if v is None else format_param(v))
            shown = f"{v:.2f}" if c == "duration" and finite(v) else state_text(r) if c == "state" \
                else format_value(v)
            cells.append((shown, sort_key))
        body.append((str(r["state"]), cells))
    sec = Section("trials", f"All trials ({len(rows)})")
    if rows:
        sec.table = Table(trial_headers(study, cols), body)
        sec.notes.append("Click a column header to sort; click again to reverse.")
    else:
        sec.notes.append("The study has no trials yet.")
    return sec
