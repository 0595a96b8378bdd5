"""Warm start: the finished trials of earlier studies, matched to a new space, as prior observations.

Matching rules (one place, so the CLI and the Python API agree):

* Parameters are matched by name. One the old study lacks stays absent from the prior (the new
  trials sample it; TPE models it on the trials that have it, GP and CMA-ES put it at the middle of
  its range); one the new space lacks is left out.
* An old value outside the new range, off its step or not among its choices drops the *whole*
  prior trial, not only that value: the old objective value was measured at that point, and pairing
  it with a resampled value would teach the sampler a result nobody measured. One line per reason
  says how many were dropped.
* Only complete and pruned trials with values are used: an old failure says more about the old code
  than about the point.
* The objectives must have the same names and directions, unless ``metric_map`` names, per new
  objective, the old one it stands for; a mapped objective with the other direction is negated
  (better stays better). Anything else is a ConfigError (exit 2) before any trial runs.

Priors are copied (params, values, state, intermediate values, metrics) and numbered -1, -2, ...,
so the old file can move and they can never be mistaken for trials of this study.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hposweep.core.objectives import metric_names
from hposweep.core.params import CategoricalParam, NumericParam
from hposweep.core.space import SearchSpace
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError


@dataclass
class PriorSet:
    """Prior observations and the lines that say what was kept and dropped."""

    trials: list[Trial] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _why_not(p: Any, value: Any) -> str:
    if isinstance(p, NumericParam) and isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < p.low or value > p.high:
            return f"{p.name} outside [{p.low:g}, {p.high:g}]"
        return f"{p.name} off its step" if getattr(p, "step", None) is not None or p.type == "int" else \
            f"{p.name} not allowed"
    if isinstance(p, CategoricalParam):
        return f"{p.name} not among its choices"
    return f"{p.name} not allowed"


def match_priors(
    old_trials: Sequence[Trial],
    space: SearchSpace,
    *,
    source: str,
    directions: Sequence[str],
    names: Sequence[str],
    old_directions: Sequence[str] | None = None,
    old_names: Sequence[str] | None = None,
    metric_map: Sequence[str] | None = None,
    first_number: int = -1,
) -> PriorSet:
    """The priors ``old_trials`` give a study over ``space``; see the module docstring for the rules."""
    order, flip = _objective_map(source, directions, names, old_directions, old_names, metric_map)
    out = PriorSet()
    dropped: Counter[str] = Counter()
    number = first_number
    n_used = 0
    for t in old_trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED) or not t.values:
            continue
        if order is not None and max(order) >= len(t.values):
            dropped["a value missing"] += 1
            continue
        params: dict[str, Any] = {}
        why = None
        for p in space.searchable:
            if p.name in t.params:
                if not p.contains(t.params[p.name]):
                    why = _why_not(p, t.params[p.name])
                    break
                params[p.name] = t.params[p.name]
        if why is not None:
            dropped[why] += 1
            continue
        values = [float(t.values[i]) for i in order] if order is not None else [float(v) for v in t.values]
        values = [-v if f else v for v, f in zip(values, flip, strict=False)] if any(flip) else values
        if len(values) != len(directions):
            dropped["a different number of objectives"] += 1
            continue
        prior = Trial(number=number, params=space.complete(params), state=t.state, values=values,
                      intermediate=dict(t.intermediate), user_attrs=dict(t.user_attrs),
                      info={"warm_start": {"source": source, "number": t.number}},
                      started_at=t.started_at, finished_at=t.finished_at)
        out.trials.append(prior)
        number -= 1
        n_used += 1
    out.notes.append(f"warm start: {n_used} prior observation(s) from {source}")
    for why, n in sorted(dropped.items()):
        out.notes.append(f"warm start: dropped {n} trial(s) of {source}: {why} in the new space")
    return out


def _objective_map(source: str, directions: Sequence[str], names: Sequence[str],
                   old_directions: Sequence[str] | None, old_names: Sequence[str] | None,
                   metric_map: Sequence[str] | None) -> tuple[list[int] | None, list[bool]]:
    """Which old value stands for each new objective, and whether to negate it."""
    if old_names is None or old_directions is None:  # an Optuna study: its value names are not known
        if metric_map:
            raise ConfigError(f"--warm-start-metric: {source} does not name its objectives")
        return None, [False] * len(directions)
    wanted = list(metric_map) if metric_map else list(names)
    if len(wanted) != len(names):
        raise ConfigError(f"--warm-start-metric gives {len(wanted)} name(s) for {len(names)} objective(s)")
    order, flip = [], []
    for new, old, d in zip(names, wanted, directions, strict=True):
        if old not in old_names:
            raise ConfigError(
                f"warm start: {source} optimizes {', '.join(old_names)}, not {old}",
                hint=f"map it with --warm-start-metric {old_names[0]} (that old objective stands for {new})"
                if not metric_map else f"its objectives: {', '.join(old_names)}")
        i = list(old_names).index(old)
        if old_directions[i] != d and not metric_map:
            raise ConfigError(
                f"warm start: {source} {old_directions[i]}s {old}; this study {d}s it",
                hint=f"if {old} really is the same metric, pass --warm-start-metric {old} (its values are negated)")
        order.append(i)
        flip.append(old_directions[i] != d)
    return order, flip


def read_prior_source(source: Any, space: SearchSpace, *, directions: Sequence[str], names: Sequence[str],
                      metric_map: Sequence[str] | None = None, first_number: int = -1) -> PriorSet:
    """Priors from an hposweep checkpoint path, a Study (anything with ``trials``, ``settings`` and
    ``directions``), or a ``(space, trials)`` pair (what
    :func:`hposweep.integrations.optuna_import.read_optuna_trials` returns)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        trials, settings, old_dirs = _read_checkpoint(path)
        label = path
    elif isinstance(source, tuple) and len(source) == 2:
        return match_priors(list(source[1]), space, source="an imported study", directions=directions,
                            names=names, metric_map=metric_map, first_number=first_number)
    elif hasattr(source, "trials") and hasattr(source, "directions"):
        trials, settings, old_dirs = list(source.trials), dict(source.settings), list(source.directions)
        label = getattr(source, "path", None) or "a study"
    else:
        raise ConfigError(f"warm_start: expected a checkpoint path or a Study, got {type(source).__name__}")
    return match_priors(trials, space, source=label, directions=directions, names=names,
                        old_directions=old_dirs, old_names=metric_names(settings, len(old_dirs)),
                        metric_map=metric_map, first_number=first_number)


def _read_checkpoint(path: str) -> tuple[list[Trial], dict[str, Any], list[str]]:
    """An old study's trials, settings and directions, read without a lock (read-only)."""
    from hposweep.study.reducer import StudyState
    from hposweep.study.storage import read_checkpoint

    loaded = read_checkpoint(path)
    st = StudyState()
    st.reset_from(loaded.state)
    for ev in loaded.events:
        st.apply(ev)
    return st.trials, st.settings, list(loaded.state.get("directions") or ["minimize"])
