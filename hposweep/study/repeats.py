"""Repeats of a trial: the seed each trial runs with, and the mean ± sd of a configuration over its repeats.

``hposweep repeat`` re-runs the best configurations with other seeds to tell a real improvement from a
lucky draw. A repeat is an ordinary trial whose info says ``repeat_of: N`` (the original trial) and
``repeat_seed: S``; everything here is plain arithmetic over a study's trials (no numpy, so ``best``
still starts fast), shared by ``best``, the report and the ``repeat`` command.

Seeds: every trial has one, ``HPOSWEEP_SEED`` in its environment and ``{seed}`` in a template. A search
trial's seed is derived from the study seed and its number (so a re-run of an interrupted trial, which
records ``rerun_of``, gets the seed of the trial it re-runs); a repeat's is its ``repeat_seed``, drawn
the same way and never equal to the original's or another repeat's.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hposweep.core.trial import Trial, TrialState

#: seeds stay below 2**31 so that every framework accepts them (numpy, torch, TF, JAX's PRNGKey)
SEED_LIMIT = 2**31


def derive_seed(study_seed: Any, *parts: Any) -> int:
    """A stable seed in ``[0, 2**31)`` from the study seed and ``parts`` (the same inputs, the same seed)."""
    text = ":".join(str(p) for p in (study_seed, *parts))
    return zlib.crc32(text.encode("utf-8")) % SEED_LIMIT


def trial_seed(study_seed: Any, number: int, info: Mapping[str, Any] | None = None) -> int:
    """The seed trial ``number`` runs with (``HPOSWEEP_SEED``): its ``repeat_seed``, else derived."""
    info = info or {}
    seed = info.get("repeat_seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    rerun_of = info.get("rerun_of")
    origin = rerun_of if isinstance(rerun_of, int) and not isinstance(rerun_of, bool) else number
    return derive_seed(study_seed, origin)


def new_repeat_seeds(study_seed: Any, original: Trial, taken: Iterable[int], count: int) -> list[int]:
    """``count`` fresh seeds for repeats of ``original``, none equal to a seed it or its repeats used."""
    used = set(taken) | {trial_seed(study_seed, original.number, original.info)}
    seeds: list[int] = []
    k = 0
    while len(seeds) < count:
        k += 1
        seed = derive_seed(study_seed, original.number, "repeat", k)
        if seed not in used:
            used.add(seed)
            seeds.append(seed)
    return seeds


def repeat_of(trial: Trial) -> int | None:
    """The original trial's number when ``trial`` is a repeat, else None."""
    n = trial.info.get("repeat_of")
    return n if isinstance(n, int) and not isinstance(n, bool) else None


@dataclass
class RepeatGroup:
    """One repeated configuration: the original trial and its repeats, with their complete values."""

    number: int
    params: dict[str, Any]
    #: trial numbers, the original first
    members: list[int] = field(default_factory=list)
    #: the finite values of the complete members (the first objective), in member order
    values: list[float] = field(default_factory=list)
    #: seeds of the members, in member order
    seeds: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None

    @property
    def sd(self) -> float | None:
        """The sample standard deviation (n - 1); None with fewer than two values."""
        if len(self.values) < 2:
            return None
        m = sum(self.values) / len(self.values)
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (len(self.values) - 1))

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.number, "mean": self.mean, "sd": self.sd, "n": self.n, "values": self.values,
                "trials": self.members, "seeds": self.seeds}


def has_repeats(trials: Iterable[Trial]) -> bool:
    return any(repeat_of(t) is not None for t in trials)


def repeat_groups(trials: Sequence[Trial], study_seed: Any = None) -> list[RepeatGroup]:
    """Every configuration that has repeats, in the order of the original trials' numbers."""
    by_number = {t.number: t for t in trials}
    groups: dict[int, RepeatGroup] = {}
    for t in trials:
        origin = repeat_of(t)
        if origin is None or origin not in by_number:
            continue
        if origin not in groups:
            first = by_number[origin]
            groups[origin] = RepeatGroup(origin, dict(first.params))
            _add(groups[origin], first, study_seed)
        _add(groups[origin], t, study_seed)
    return [groups[n] for n in sorted(groups)]


def _add(group: RepeatGroup, t: Trial, study_seed: Any) -> None:
    group.members.append(t.number)
    group.seeds.append(trial_seed(study_seed, t.number, t.info))
    if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
        group.values.append(float(t.value))


def rank_by_mean(groups: Iterable[RepeatGroup], direction: str) -> list[RepeatGroup]:
    """The groups with at least one complete run, best mean first (ties: the lower trial number)."""
    sign = 1.0 if direction == "minimize" else -1.0
    scored = [g for g in groups if g.mean is not None]
    return sorted(scored, key=lambda g: (sign * (g.mean or 0.0), g.number))


def fmt_mean_sd(group: RepeatGroup) -> str:
    """``0.2143 ± 0.0121 (n=4)``, the way ``best`` and the report write a repeated configuration."""
    if group.mean is None:
        return "no complete run"
    sd = group.sd
    text = f"{group.mean:.6g}" + (f" ± {sd:.3g}" if sd is not None else "")
    return f"{text} (n={group.n})"


def best_repeated(trials: Sequence[Trial], study_seed: Any, direction: str) -> RepeatGroup | None:
    """The repeated configuration with the best mean, or None when the study has no repeats."""
    if not has_repeats(trials):
        return None
    ranked = rank_by_mean(repeat_groups(trials, study_seed), direction)
    return ranked[0] if ranked else None


def repeats_lines(trials: Sequence[Trial], study_seed: Any, direction: str, limit: int = 10) -> list[str]:
    """What ``best`` prints under the best when it picked by the mean: every repeated configuration."""
    ranked = rank_by_mean(repeat_groups(trials, study_seed), direction)
    lines = [f"picked by the mean over the original and its repeats ({len(ranked)} repeated "
             "configuration(s); single runs: hposweep trials --sort value):"]
    for g in ranked[:limit]:
        params = " ".join(f"{k}={_text(v)}" for k, v in g.params.items())
        lines.append(f"  trial {g.number}: {fmt_mean_sd(g)}  {params}")
    return lines


def _text(value: Any) -> str:
    """A value as ``best`` writes it (``true``, ``null``, ``0.001``), without the execution layer above."""
    import json

    return value if isinstance(value, str) else json.dumps(value)
