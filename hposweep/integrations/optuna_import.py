"""Read an Optuna study (a journal file or an SQLite/RDB storage) into hposweep's model.

Reading goes through Optuna's own API (``optuna.load_study``): its storages have migrations, caches
and versions that only Optuna knows, so Optuna is needed here (and only here), imported when called.

Two users: ``hposweep import optuna`` (:func:`import_optuna`, a new hposweep study file holding the
whole history) and the warm start of a sweep (:func:`read_optuna_trials`, the space and trials for a
study to learn from).

What Optuna has and hposweep does not: a study written by ``hposweep export optuna`` carries the
hposweep space (conditions, fixed values, non-scalar choices), settings and trial info in ``hposweep:``
system attributes, and those are restored exactly. A study Optuna wrote gets a space made from the
distributions its trials used (ranges widened to cover every trial when a define-by-run objective
changed them); a parameter missing from some trials stays missing there, as hposweep records an inactive
conditional parameter.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from hposweep.core.space import CategoricalParam, FixedParam, FloatParam, IntParam, Param, SearchSpace
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError
from hposweep.integrations.extras import require
from hposweep.integrations.optuna_journal import (
    ADDED_ATTRS,
    INFO_ATTR,
    SEARCH_ATTR,
    SETTINGS_ATTR,
    SPACE_ATTR,
    STATE_ATTR,
    optuna_choice,
)

_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class OptunaHistory:
    """One Optuna study as hposweep sees it."""

    study_name: str
    space: SearchSpace
    directions: list[str]
    #: finished and running trials, numbered from 0 in Optuna's order
    trials: list[Trial]
    #: params of Optuna's WAITING (enqueued) trials, to run next
    queued: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    #: sampler, pruner and seed when the study came from ``hposweep export optuna``
    search: dict[str, Any] = field(default_factory=dict)


def _optuna() -> Any:
    optuna = require("optuna", install="optuna", feature="reading an Optuna study")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_storage(source: str) -> Any:
    """An Optuna storage for ``source``: a database URL (``sqlite:///x.db``), an SQLite file, or a journal file."""
    optuna = _optuna()
    if "://" in source:
        if source.startswith("sqlite:///"):
            path = source[len("sqlite:///"):]
            if not os.path.isfile(path):  # Optuna would create an empty database there
                raise ConfigError(f"{source}: no such SQLite file ({path})")
        try:
            return optuna.storages.RDBStorage(source, skip_compatibility_check=False)
        except Exception as exc:  # SQLAlchemy's and Optuna's errors: a bad URL, a foreign database
            raise ConfigError(f"{source}: cannot open as an Optuna storage: {_one_line(exc)}") from None
    if not os.path.isfile(source):
        raise ConfigError(f"{source}: no such file",
                          hint="give an Optuna journal file, an SQLite file or a URL like sqlite:///study.db")
    with open(source, "rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head == _SQLITE_MAGIC:
        return open_storage("sqlite:///" + os.path.abspath(source))
    journal = optuna.storages.journal
    try:
        return optuna.storages.JournalStorage(journal.JournalFileBackend(source))
    except Exception as exc:  # a line that is not JSON, or not a journal operation
        raise ConfigError(f"{source}: not an Optuna journal file: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def read_optuna_study(source: str, study_name: str | None = None) -> OptunaHistory:
    """Read the study ``study_name`` (or the only one) of ``source``."""
    optuna = _optuna()
    storage = open_storage(source)
    try:
        names = [s.study_name for s in storage.get_all_studies()]
    except Exception as exc:
        raise ConfigError(f"{source}: cannot read its studies: {_one_line(exc)}") from None
    if not names:
        raise ConfigError(f"{source}: no Optuna study found in it", hint="is it an Optuna journal file or storage?")
    if study_name is None:
        if len(names) != 1:
            listed = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            raise ConfigError(f"{source} holds {len(names)} studies" + (f": {listed}" if names else ""),
                              hint="choose one with --study-name" if names else "is it the right file?")
        study_name = names[0]
    elif study_name not in names:
        raise ConfigError(f"{source} has no study named {study_name!r}",
                          hint="its studies: " + (", ".join(names) or "none"))
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
        frozen = study.get_trials(deepcopy=False)
        system = dict(storage.get_study_system_attrs(storage.get_study_id_from_name(study_name)))
        directions = [d.name.lower() for d in study.directions]
    except Exception as exc:
        raise ConfigError(f"{source}: cannot read study {study_name!r}: {_one_line(exc)}") from None
    if any(d not in ("minimize", "maximize") for d in directions):
        raise ConfigError(f"{source}: study {study_name!r} has no direction set")
    try:
        space = SearchSpace.from_json(system[SPACE_ATTR]) if SPACE_ATTR in system else space_from_trials(frozen)
    except ConfigError as exc:
        raise ConfigError(f"{source}: study {study_name!r}: its parameters do not make a hposweep space: "
                          f"{exc.message}", hint=exc.hint) from None
    history = OptunaHistory(study_name=study_name, space=space, directions=directions, trials=[],
                            settings=dict(system.get(SETTINGS_ATTR) or {}),
                            search=dict(system.get(SEARCH_ATTR) or {}))
    names_attr = system.get("study:metric_names")
    if "metrics" not in history.settings and isinstance(names_attr, list) and len(names_attr) == len(directions):
        if SETTINGS_ATTR not in system:  # Optuna's own metric names become hposweep's
            history.settings["metrics"] = [{"name": str(n), "direction": d} for n, d in zip(names_attr, directions)]
    decode = _choice_decoder(space)
    for ft in frozen:
        state = ft.state.name
        if state == "WAITING":
            fixed = ft.system_attrs.get("fixed_params") or ft.params
            history.queued.append({k: decode(k, v) for k, v in fixed.items() if k in space})
            continue
        history.trials.append(_trial_of(ft, len(history.trials), decode, source))
    return history


def read_optuna_trials(source: str, study_name: str | None = None) -> tuple[SearchSpace, list[Trial]]:
    """The space and the trials of an Optuna study, for a warm start (``run --warm-start optuna:FILE``)."""
    history = read_optuna_study(source, study_name)
    return history.space, history.trials


def _choice_decoder(space: SearchSpace) -> Any:
    """Optuna's value of a parameter -> hposweep's (JSON text back to a list or mapping, a fixed value)."""
    maps: dict[str, dict[Any, Any]] = {}
    for p in space:
        if isinstance(p, CategoricalParam):
            maps[p.name] = {_hashable(optuna_choice(c)): c for c in p.choices}
        elif isinstance(p, FixedParam):
            maps[p.name] = {_hashable(optuna_choice(p.value)): p.value}

    def decode(name: str, value: Any) -> Any:
        table = maps.get(name)
        if table is None:
            return value
        return table.get(_hashable(value), value)

    return decode


def _hashable(value: Any) -> Any:
    return (type(value).__name__, value) if isinstance(value, (bool, int, float, str, type(None))) else repr(value)


def _timestamp(dt: Any) -> float | None:
    """Optuna's naive local datetime -> a Unix time."""
    return dt.timestamp() if dt is not None else None


def _trial_of(ft: Any, number: int, decode: Any, source: str) -> Trial:
    system = ft.system_attrs
    state = {"COMPLETE": TrialState.COMPLETE, "PRUNED": TrialState.PRUNED, "FAIL": TrialState.FAILED,
             "RUNNING": TrialState.RUNNING}[ft.state.name]
    if state is TrialState.FAILED and system.get(STATE_ATTR) == "interrupted":
        state = TrialState.INTERRUPTED
    info: dict[str, Any]
    added = set(system.get(ADDED_ATTRS) or ())
    user_attrs: dict[str, Any] = {}
    if INFO_ATTR in system:
        info = dict(system[INFO_ATTR] or {})
        user_attrs = {k: v for k, v in ft.user_attrs.items() if k not in added}
    else:
        info = {"optuna": {"source": os.path.abspath(source) if "://" not in source else source,
                           "trial_number": ft.number}}
        other: dict[str, Any] = {}
        for k, v in ft.user_attrs.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                user_attrs[k] = float(v) if isinstance(v, float) else v
            else:
                other[k] = v
        if other:
            info["optuna"]["user_attrs"] = _plain(other)
    values = [float(v) for v in ft.values] if ft.values is not None else None
    if state not in (TrialState.COMPLETE, TrialState.PRUNED):
        values = None
    return Trial(
        number=number,
        params={k: decode(k, v) for k, v in ft.params.items()},
        state=state,
        values=values,
        intermediate={int(k): float(v) if v is not None else math.nan for k, v in ft.intermediate_values.items()},
        user_attrs=user_attrs,
        info=info,
        started_at=_timestamp(ft.datetime_start),
        finished_at=_timestamp(ft.datetime_complete),
    )


def _plain(value: Any) -> Any:
    """A user attribute Optuna kept (any JSON) as plain JSON for the study file."""
    return json.loads(json.dumps(value, default=str))


# --- a space from the distributions trials used -------------------------------------------------------
def space_from_trials(frozen: list[Any]) -> SearchSpace:
    """One parameter per name the trials used, covering every trial's distribution."""
    seen: dict[str, list[Any]] = {}
    for ft in frozen:
        for name, dist in ft.distributions.items():
            seen.setdefault(name, []).append(dist)
    return SearchSpace([_param_of(name, dists) for name, dists in seen.items()])


def _param_of(name: str, dists: list[Any]) -> Param:
    first = dists[0]
    kind = type(first).__name__
    if kind == "CategoricalDistribution":
        choices = tuple(first.choices)
        return FixedParam(name, value=choices[0]) if len(choices) == 1 else CategoricalParam(name, choices=choices)
    if kind not in ("FloatDistribution", "IntDistribution"):
        raise ConfigError(f"unknown Optuna distribution {kind}", param=name)
    low = min(d.low for d in dists)
    high = max(d.high for d in dists)
    log = bool(first.log)
    step = first.step
    if any(d.step != step or bool(d.log) != log for d in dists):
        step = None if kind == "FloatDistribution" else 1  # trials disagree: the plain range covers them all
    if kind == "IntDistribution":
        if low == high:
            return FixedParam(name, value=int(low))
        if step not in (None, 1) and (high - low) % step:
            high = low + ((high - low) // step + 1) * step
        return IntParam(name, low=int(low), high=int(high), log=log, step=None if step in (None, 1) else int(step))
    if low == high:
        return FixedParam(name, value=float(low))
    if step is not None:
        n = round((high - low) / step)
        if abs(low + n * step - high) > 1e-9 * max(1.0, abs(high)):
            step = None
    return FloatParam(name, low=float(low), high=float(high), log=log, step=step)


# --- a hposweep study file from the history --------------------------------------------------------------
def import_optuna(source: str, output: str, *, study_name: str | None = None, sampler: str | None = None,
                  seed: int | None = None, overwrite: bool = False) -> tuple[Any, OptunaHistory]:
    """Write the Optuna study of ``source`` as the hposweep study ``output``; return (study, history).

    Trials keep their numbers, params, states, values, intermediate values, attributes and times;
    Optuna's enqueued (WAITING) trials become the queue; running ones are re-run by ``hposweep resume``
    (as any trial whose process is gone).
    """
    from hposweep.study.api import Study

    history = read_optuna_study(source, study_name)
    search = history.search
    study = Study(history.space, directions=history.directions,
                  sampler=sampler if sampler is not None else search.get("sampler"),
                  pruner=search.get("pruner") if len(history.directions) == 1 else None,
                  seed=seed if seed is not None else search.get("seed"), settings=history.settings)
    placeholder = _placeholder(history.space)
    asked = []
    for t in history.trials:
        # Every searchable value given: ask() consults no sampler. The trial's own params replace them next.
        study.enqueue({**placeholder, **{k: v for k, v in t.params.items() if k in placeholder}})
        got = study.ask()
        got.params = dict(t.params)
        got.started_at = t.started_at
        got.info = dict(t.info)
        for step, value in t.intermediate.items():
            study.report(got, step, value)
        asked.append((t, got))
    done = sorted((pair for pair in asked if pair[0].state is not TrialState.RUNNING),
                  key=lambda pair: (pair[0].finished_at or 0.0, pair[0].number))
    for t, got in done:
        study.tell(got, t.values, state=t.state, user_attrs=t.user_attrs)
        got.finished_at = t.finished_at
    for t, got in asked:
        if t.state is TrialState.RUNNING and t.user_attrs:
            got.user_attrs.update(t.user_attrs)
    for params in history.queued:
        study.enqueue(params)
    study.save(output, overwrite=overwrite)
    study.close()
    return study, history


def _placeholder(space: SearchSpace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in space.searchable:
        if isinstance(p, CategoricalParam):
            out[p.name] = p.choices[0]
        elif isinstance(p, (FloatParam, IntParam)):
            out[p.name] = p.low
    return out
