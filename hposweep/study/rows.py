"""The one trial-row schema: what every output that lists trials writes, and the promise made to scripts.

``hposweep trials`` (table, ``--format csv``, ``--format json``), ``hposweep best``, ``hposweep show``,
the HTML report's trial table and the ``--json`` sweep summary all build their trials here, so they
agree on names, order and values. A trial has two forms with the same fields:

**The record** (JSON, YAML; :func:`trial_record`), keys in this order:

============== ============================ ==========================================================
key            type                         meaning
============== ============================ ==========================================================
``number``     int                          the trial's number, from 0, in the order trials started
``state``      str                          ``complete``, ``pruned``, ``failed``, ``interrupted``,
                                            ``running``
``value``      float or null                one objective: the trial's value (pruned trials carry the
                                            value they were pruned at; failed ones null)
``values``     object (name → float/null)   several objectives, instead of ``value``: one entry per
                                            metric, in the order of the study's directions
``params``     object (name → value)        the parameters the trial ran with (inactive conditional
                                            parameters are absent)
``metrics``    object (name → value)        every other metric the trial reported (its last value)
``duration``   float or null                seconds from start to finish, rounded to milliseconds
``last_step``  int or null                  the last intermediate step the trial reported
``started_at`` float or null                Unix time (seconds) the trial started
``finished_at`` float or null               Unix time (seconds) the trial finished
``reason``     str or null                  why a trial failed, was pruned or was interrupted (or, for an
                                            infeasible one, which constraint it broke)
``feasible``   bool or null                 a complete trial of a study with constraints: whether it meets
                                            them; null for any other state and without constraints
``retried_as`` int or null                  a failed trial re-run by ``resume --retry-failed``: the number
                                            of the trial that re-runs its params (it no longer counts toward
                                            the target; readers show ``failed (retried as #N)``); null
                                            otherwise, and while the retry waits in the queue
============== ============================ ==========================================================

Every key is always present (``null`` when unknown). Non-finite floats (``nan``, ``inf``) are written as
the strings ``"nan"``, ``"inf"``, ``"-inf"`` so the output is strict JSON. ``show`` adds ``intermediate``
(step → value) and ``info`` (argv, cwd, exit code, log path ...) after these keys.

**The row** (CSV, the tables; :func:`trial_columns`, :func:`trial_rows`) is the record flattened, columns
in this order::

    number, state, value | value_0, value_1, ..., param_<name>..., duration, last_step,
    started_at, finished_at, reason, feasible, retried_as, metric_<name>...

* the objective columns are ``value`` for one objective and ``value_<i>`` (``i`` from 0, the order of
  ``directions``) for several, whatever the metrics are called, so one script reads any study;
* every parameter is a ``param_<name>`` column (space order, then any a trial has that the space
  lacks) and every other reported metric a ``metric_<name>`` column (first-seen order). The prefixes are
  always there, not only on a clash, so a parameter and a metric of the same name (a script that prints
  its config) are two columns and a column's name never changes with what the trials reported; no
  header is ever written twice.
* CSV cells are the values as a trial's command line gets them (``0.001``, ``2.0``, ``true``, JSON for
  lists); an empty cell is null (an inactive parameter, a failed trial's value). Rows are in the order the
  command chose (``--sort``), trial-number order by default.

**Stability.** Scripts may rely on these names, their order and their types: a later version may add keys
(after ``reason``) and fixed columns (after ``reason``, before the ``metric_`` columns), but does not rename,
reorder or remove any without a major version. The terminal table shows the same columns under the same
names, minus the timestamps and the columns empty in every row, with the objective columns headed by their
metric names and values rounded for reading; it is for people, not for parsing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hposweep.core import objectives
from hposweep.core.trial import Trial
from hposweep.study.retry import is_retired, retry_links

if TYPE_CHECKING:
    from hposweep.study.api import Study

PARAM_PREFIX = "param_"
METRIC_PREFIX = "metric_"
#: the fixed columns before the objective values, and after the parameters
HEAD_COLUMNS = ("number", "state")
TAIL_COLUMNS = ("duration", "last_step", "started_at", "finished_at", "reason", "feasible", "retried_as")
#: columns the terminal table leaves out (the report's table too)
TIMESTAMP_COLUMNS = ("started_at", "finished_at")


def metric_names(study: Study) -> list[str]:
    """One display name per objective of ``study`` (see :func:`hposweep.core.objectives.metric_names`)."""
    return objectives.metric_names(study.settings, len(study.directions))


def value_columns(study: Study) -> list[str]:
    """Column names of the objective values (see :func:`hposweep.core.objectives.value_columns`)."""
    return objectives.value_columns(len(study.directions))


def json_safe(v: Any) -> Any:
    """``v``, with non-finite floats as strings: strict JSON has no ``NaN``."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def _first_seen(names: Iterable[Iterable[str]], start: Sequence[str] = ()) -> list[str]:
    out = list(start)
    seen = set(out)
    for group in names:
        for k in group:
            if k not in seen:
                seen.add(k)
                out.append(k)
    return out


def param_names(study: Study, trials: Sequence[Trial] | None = None) -> list[str]:
    """Every parameter name in space order, then any of ``trials`` carries that the space lacks."""
    return _first_seen((t.params for t in (study.trials if trials is None else trials)), list(study.space.params))


def reported_metric_names(trials: Sequence[Trial]) -> list[str]:
    """The other metrics ``trials`` reported, in first-seen order."""
    return _first_seen(t.user_attrs for t in trials)


def _objective_values(study: Study, t: Trial) -> list[float | None]:
    n = len(study.directions)
    vals: list[float | None] = [v for v in (t.values or [])[:n]]
    return vals + [None] * (n - len(vals))


def _reason(t: Trial, study: Study | None = None) -> str | None:
    reason = t.info.get("reason")
    if reason is None and study is not None:
        return study.infeasible_reason(t)
    return str(reason) if reason is not None else None


def _feasible(study: Study, t: Trial) -> bool | None:
    """True/False for a complete trial of a constrained study, None otherwise (so the terminal table,
    which hides columns empty in every row, looks as before for a study without constraints)."""
    if t.state.value != "complete" or not study.settings.get("constraints"):
        return None
    return study.is_feasible(t)


def retried_as(t: Trial, links: Mapping[int, int]) -> int | None:
    """The ``retried_as`` field: the trial re-running a retried failed trial (``links``: from
    :func:`hposweep.study.retry.retry_links`, computed once per listing)."""
    return links.get(t.number) if is_retired(t) else None


def state_text(row: Mapping[str, Any]) -> str:
    """A row's state for reading: ``failed (retried as #12)`` for a failed trial that ``resume
    --retry-failed`` re-ran, else the state itself. The one wording of the report, the dashboard and
    ``trials``; the row's ``state`` field stays the bare state for scripts."""
    if row.get("state") == "failed" and row.get("retried_as") is not None:
        return f"failed (retried as #{row['retried_as']})"
    return str(row.get("state"))


def trial_record(study: Study, t: Trial, links: Mapping[int, int] | None = None) -> dict[str, Any]:
    """The record form of ``t`` (see the module docstring): JSON-ready, every key present.

    ``links``: :func:`~hposweep.study.retry.retry_links` of the study, when the caller builds many records.
    """
    rec: dict[str, Any] = {"number": t.number, "state": t.state.value}
    vals = [json_safe(v) for v in _objective_values(study, t)]
    if len(vals) == 1:
        rec["value"] = vals[0]
    else:
        rec["values"] = dict(zip(metric_names(study), vals, strict=True))
    rec["params"] = {k: json_safe(v) for k, v in t.params.items()}
    rec["metrics"] = {k: json_safe(v) for k, v in t.user_attrs.items()}
    rec["duration"] = round(t.duration, 3) if t.duration is not None else None
    rec["last_step"] = t.last_step
    rec["started_at"] = t.started_at
    rec["finished_at"] = t.finished_at
    rec["reason"] = _reason(t, study)
    rec["feasible"] = _feasible(study, t)
    rec["retried_as"] = retried_as(t, retry_links(study.trials) if links is None and is_retired(t) else links or {})
    return rec


def trial_records(study: Study, trials: Iterable[Trial]) -> list[dict[str, Any]]:
    links = retry_links(study.trials)
    return [trial_record(study, t, links) for t in trials]


def trial_columns(study: Study, trials: Sequence[Trial] | None = None) -> list[str]:
    """The columns of :func:`trial_rows` for ``trials`` (default: all), in order; right for no trials too."""
    trials = study.trials if trials is None else trials
    return [*HEAD_COLUMNS, *value_columns(study), *(PARAM_PREFIX + p for p in param_names(study, trials)),
            *TAIL_COLUMNS, *(METRIC_PREFIX + m for m in reported_metric_names(trials))]


def trial_rows(study: Study, trials: Sequence[Trial] | None = None) -> list[dict[str, Any]]:
    """One flat dict per trial of ``trials`` (default: all, in trial-number order), keyed by :func:`trial_columns`.

    Values are as stored (floats stay floats, ``nan`` included; ``None`` for null); writers format them.
    """
    trials = study.trials if trials is None else trials
    params = param_names(study, trials)
    metrics = reported_metric_names(trials)
    vcols = value_columns(study)
    links = retry_links(study.trials)
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.value}
        row.update(zip(vcols, _objective_values(study, t), strict=True))
        for p in params:
            row[PARAM_PREFIX + p] = t.params.get(p)
        row["duration"] = round(t.duration, 3) if t.duration is not None else None
        row["last_step"] = t.last_step
        row["started_at"] = t.started_at
        row["finished_at"] = t.finished_at
        row["reason"] = _reason(t, study)
        row["feasible"] = _feasible(study, t)
        row["retried_as"] = retried_as(t, links)
        for m in metrics:
            row[METRIC_PREFIX + m] = t.user_attrs.get(m)
        rows.append(row)
    return rows
