"""NSGA-II: a genetic algorithm for multi-objective sweeps (works for one objective too).

How a trial is proposed:

* Trials numbered below ``population_size`` (generation 0) are drawn uniformly at random.
* Later trials are children of an *elite* population of ``population_size`` trials chosen from the
  finished ones, generation by generation: the first ``population_size`` finished trials form the
  first pool, and each later block of ``population_size`` finished trials (plus the block still
  filling up) competes with the previous elite. Selection keeps whole non-dominated fronts and cuts
  the last one by crowding distance (or hypervolume contribution); failed and pruned trials come last.
* Two parents are picked by binary tournaments on (rank, crowding distance); with probability
  ``crossover_prob`` they are crossed (uniform swapping, or SBX / BLX-alpha on numbers in the codec's
  unit coordinate, uniform swapping always for categoricals), then each parameter mutates with
  probability ``mutation_prob`` (default 1/d): polynomial mutation for numbers, a random draw for
  categoricals. A parameter that a parent does not have (it was inactive there) is drawn at random.

Determinism: trial k depends only on the study seed, k (through ``rng``) and the finished trials, in
the order they finished, so parallel asks and resumed studies are reproducible. A child equal to a
running or finished trial is mutated again (a few times at most) rather than evaluated twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hposweep.analysis.pareto import (
    constrained_non_dominated_sort,
    crowding_distance,
    greedy_hv_subset,
    non_dominated_sort,
    to_minimize,
)
from hposweep.core.codec import ParamCodec
from hposweep.core.space import CategoricalParam, FixedParam, NumericParam, Param, value_key
from hposweep.core.trial import TrialState
from hposweep.samplers.base import Sampler, SamplingContext, observations
from hposweep.samplers.random import sample_param, sample_space

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hposweep.core.space import SearchSpace
    from hposweep.core.trial import Trial

CROSSOVERS = ("uniform", "sbx", "blx")
MUTATIONS = ("polynomial", "random")
TIE_BREAKS = ("crowding", "hypervolume")
#: how many extra mutations a duplicate child gets before falling back to random draws
_MAX_RETRIES = 20
_BLX_ALPHA = 0.5


@dataclass
class Member:
    """One trial of the elite population with its selection keys (rank: lower is better)."""

    trial: Trial
    rank: float
    crowding: float

    def beats(self, other: Member) -> bool:
        if self.rank != other.rank:
            return self.rank < other.rank
        return self.crowding > other.crowding


@dataclass
class _EliteCache:
    """Elite after each full block of finished trials; valid while ``ctx.finished`` only grows."""

    directions: tuple[str, ...]
    numbers: list[int]
    elite: list[Trial]


class NSGA2Sampler(Sampler):
    """Non-dominated sorting genetic algorithm II (Deb et al., 2002) over mixed, conditional spaces."""

    name = "nsga2"

    def __init__(
        self,
        population_size: int = 50,
        mutation_prob: float | None = None,
        crossover: str = "uniform",
        crossover_prob: float = 0.9,
        swapping_prob: float = 0.5,
        mutation: str = "polynomial",
        crossover_eta: float = 15.0,
        mutation_eta: float = 20.0,
        tie_break: str = "crowding",
    ) -> None:
        self._record_options(locals())
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
        for what, p in (("crossover_prob", crossover_prob), ("swapping_prob", swapping_prob),
                        ("mutation_prob", 0.0 if mutation_prob is None else mutation_prob)):
            if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{what} must be between 0 and 1, got {p!r}")
        for what, value, allowed in (("crossover", crossover, CROSSOVERS), ("mutation", mutation, MUTATIONS),
                                     ("tie_break", tie_break, TIE_BREAKS)):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
        for what, eta in (("crossover_eta", crossover_eta), ("mutation_eta", mutation_eta)):
            if not isinstance(eta, (int, float)) or eta < 0:
                raise ValueError(f"{what} must be a number >= 0, got {eta!r}")
        self.population_size = population_size
        self.mutation_prob = mutation_prob
        self.crossover = crossover
        self.crossover_prob = float(crossover_prob)
        self.swapping_prob = float(swapping_prob)
        self.mutation = mutation
        self.crossover_eta = float(crossover_eta)
        self.mutation_eta = float(mutation_eta)
        self.tie_break = tie_break
        self._cache: _EliteCache | None = None
        self._violation: Callable[[Trial], float] | None = None
        #: (how many finished trials were hashed, the number of the last one, their param keys)
        self._seen: tuple[int, int, set[Any]] = (0, -1, set())

    def describe(self) -> str:
        return f"nsga2 (population {self.population_size}, {self.crossover} crossover, {self.mutation} mutation)"

    # --- proposal --------------------------------------------------------------------------
    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        # warm-start priors fill the first population: random draws only until trials plus priors fill it
        if ctx.number + len(ctx.prior) < self.population_size or not space.searchable:
            return sample_space(space, rng)
        elite = self.elite(ctx)
        if sum(m.trial.state is TrialState.COMPLETE for m in elite) < 2:
            return sample_space(space, rng)
        taken = self._taken(space, ctx)
        first, second = self._parents(elite, rng)
        child = self._child(space, first.trial.params, second.trial.params, rng)
        for attempt in range(_MAX_RETRIES + 5):
            if _key(space, child) not in taken:
                break
            if attempt < _MAX_RETRIES:
                child = self._mutate_one(space, child, rng)
            else:
                child = sample_space(space, rng)
        return child

    def _parents(self, elite: list[Member], rng: np.random.Generator) -> tuple[Member, Member]:
        first = _tournament(elite, rng)
        second = _tournament(elite, rng)
        for _ in range(3):
            if second is not first or len(elite) < 2:
                break
            second = _tournament(elite, rng)
        return first, second

    def _child(
        self, space: SearchSpace, a: dict[str, Any], b: dict[str, Any], rng: np.random.Generator
    ) -> dict[str, Any]:
        """Cross two parents' params and mutate, following the conditions in the space's order."""
        crossed = rng.random() < self.crossover_prob
        pm = self.mutation_prob if self.mutation_prob is not None else 1.0 / len(space.searchable)
        current: dict[str, Any] = {}
        child: dict[str, Any] = {}
        for p in space.params.values():
            if not p.is_active(current):
                continue
            if isinstance(p, FixedParam):
                current[p.name] = p.value
                continue
            va, vb = _inherit(p, a, rng), _inherit(p, b, rng)
            value = self._cross(p, va, vb, rng) if crossed else va
            if rng.random() < pm:
                value = self._mutate(p, value, rng)
            current[p.name] = child[p.name] = value
        return child

    def _cross(self, p: Param, va: Any, vb: Any, rng: np.random.Generator) -> Any:
        if isinstance(p, CategoricalParam) or self.crossover == "uniform" or not isinstance(p, NumericParam):
            return vb if rng.random() < self.swapping_prob else va
        c = ParamCodec.of(p)
        xa, xb = c.to_unit(va), c.to_unit(vb)
        if self.crossover == "sbx":
            x = _sbx(xa, xb, 0.0, 1.0, self.crossover_eta, rng)
        else:
            span = abs(xa - xb)
            x = rng.uniform(min(xa, xb) - _BLX_ALPHA * span, max(xa, xb) + _BLX_ALPHA * span)
        return c.from_unit(min(max(x, 0.0), 1.0))

    def _mutate(self, p: Param, value: Any, rng: np.random.Generator) -> Any:
        if isinstance(p, NumericParam) and self.mutation == "polynomial":
            c = ParamCodec.of(p)
            return c.from_unit(_polynomial(c.to_unit(value), 0.0, 1.0, self.mutation_eta, rng))
        return sample_param(p, rng)

    def _mutate_one(self, space: SearchSpace, child: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Change one active parameter (used to move a duplicate child off an existing trial)."""
        names = [n for n in child if n in space and not space[n].is_fixed]
        name = names[int(rng.integers(len(names)))]
        p = space[name]
        new = self._mutate(p, child[name], rng)
        if value_key(new) == value_key(child[name]):
            new = sample_param(p, rng)  # a polynomial step can snap back onto the same int/step value
        mutated = dict(child)
        mutated[name] = new
        # Re-draw children whose condition now holds but that the old child did not have.
        current: dict[str, Any] = {}
        for q in space.params.values():
            if not q.is_active(current):
                continue
            if isinstance(q, FixedParam):
                current[q.name] = q.value
                continue
            if q.name not in mutated:
                mutated[q.name] = sample_param(q, rng)
            current[q.name] = mutated[q.name]
        return {k: v for k, v in mutated.items() if k in current}

    # --- elite population ------------------------------------------------------------------
    def elite(self, ctx: SamplingContext) -> list[Member]:
        """The parent population for the next child, from ``ctx.finished`` (cached per full block)."""
        finished = list(observations(ctx))  # warm-start priors first: they seed the first population
        size = self.population_size
        cache = self._cache
        if cache is None or not _prefix_matches(cache, finished, ctx.directions) \
                or ctx.violation is not self._violation:
            cache = _EliteCache(tuple(ctx.directions), [], [])
            self._violation = ctx.violation
        while len(cache.numbers) + size <= len(finished):
            block = finished[len(cache.numbers):len(cache.numbers) + size]
            cache.elite = [m.trial for m in self._select(cache.elite + block, ctx.directions, ctx.violation)]
            cache.numbers.extend(t.number for t in block)
        self._cache = cache
        rest = finished[len(cache.numbers):]
        return self._select(cache.elite + rest, ctx.directions, ctx.violation)

    def _select(self, pool: Sequence[Trial], directions: Sequence[str],
                violation: Callable[[Trial], float] | None = None) -> list[Member]:
        """Keep ``population_size`` trials: whole fronts, the last one cut by crowding or hypervolume.

        With constraints, fronts come from constrained domination (feasible before infeasible, these by
        violation), the rule of Deb's NSGA-II for constrained problems.
        """
        size = self.population_size
        good: list[Trial] = []
        pruned: list[Trial] = []
        failed: list[Trial] = []
        for t in pool:
            if _usable(t, len(directions)):
                good.append(t)
            else:
                (pruned if t.state is TrialState.PRUNED else failed).append(t)
        members: list[Member] = []
        if good:
            values = to_minimize([t.values for t in good], directions)
            if violation is None:
                ranks = non_dominated_sort(values)
            else:
                ranks = constrained_non_dominated_sort(values, [violation(t) for t in good])
            for r in range(int(ranks.max()) + 1):
                idx = np.flatnonzero(ranks == r)
                room = size - len(members)
                if room <= 0:
                    break
                if len(idx) > room:
                    idx = self._truncate(values[idx], idx, room)
                crowd = crowding_distance(values[idx])
                members.extend(Member(good[i], float(r), float(c)) for i, c in zip(idx, crowd, strict=True))
        for t in pruned + failed:
            if len(members) >= size:
                break
            members.append(Member(t, float("inf"), 0.0))
        return members

    def _truncate(self, values: np.ndarray, idx: np.ndarray, room: int) -> np.ndarray:
        if self.tie_break == "hypervolume" and values.shape[1] > 1:
            return np.sort(idx[greedy_hv_subset(values, room)])
        crowd = crowding_distance(values)
        order = np.lexsort((idx, -crowd))  # most isolated first, then earlier trials
        return np.sort(idx[order[:room]])

    def _taken(self, space: SearchSpace, ctx: SamplingContext) -> set[Any]:
        """Keys of the params of running and finished trials (finished ones cached: append-only)."""
        count, last, seen = self._seen
        if count > len(ctx.finished) or (count and ctx.finished[count - 1].number != last):
            count, seen = 0, set()  # another study, or not our prefix: start over
        for t in ctx.finished[count:]:
            seen.add(_key(space, t.params))
        if ctx.finished:
            self._seen = (len(ctx.finished), ctx.finished[-1].number, seen)
        return seen | {_key(space, t.params) for t in ctx.running}


def _usable(t: Trial, m: int) -> bool:
    return (
        t.state is TrialState.COMPLETE and t.values is not None and len(t.values) == m
        and all(math.isfinite(v) for v in t.values)
    )


def _prefix_matches(cache: _EliteCache, finished: Sequence[Trial], directions: Sequence[str]) -> bool:
    n = len(cache.numbers)
    if tuple(directions) != cache.directions or n > len(finished):
        return False
    return n == 0 or (finished[0].number == cache.numbers[0] and finished[n - 1].number == cache.numbers[-1])


def _tournament(elite: list[Member], rng: np.random.Generator) -> Member:
    i, j = (int(x) for x in rng.integers(len(elite), size=2))
    return elite[j] if elite[j].beats(elite[i]) else elite[i]


def _inherit(p: Param, params: dict[str, Any], rng: np.random.Generator) -> Any:
    """The parent's value, or a random one when the parent lacks it (inactive there, or out of space)."""
    if p.name in params:
        value = params[p.name]
        if p.contains(value):
            return value
    return sample_param(p, rng)


def _key(space: SearchSpace, params: dict[str, Any]) -> Any:
    return tuple(sorted((k, value_key(v)) for k, v in space.complete(params).items()))


def _sbx(x1: float, x2: float, lo: float, hi: float, eta: float, rng: np.random.Generator) -> float:
    """Bounded simulated binary crossover (Deb & Agrawal): one of the two children, at random."""
    if abs(x1 - x2) < 1e-14 or hi <= lo:
        return x1
    y1, y2 = min(x1, x2), max(x1, x2)
    u = rng.random()

    def spread(distance_to_bound: float) -> float:
        beta = 1.0 + 2.0 * distance_to_bound / (y2 - y1)
        alpha = 2.0 - beta ** (-(eta + 1.0))
        if u <= 1.0 / alpha:
            return (u * alpha) ** (1.0 / (eta + 1.0))
        return (1.0 / (2.0 - u * alpha)) ** (1.0 / (eta + 1.0))

    c1 = 0.5 * ((y1 + y2) - spread(y1 - lo) * (y2 - y1))
    c2 = 0.5 * ((y1 + y2) + spread(hi - y2) * (y2 - y1))
    child = c1 if rng.random() < 0.5 else c2
    return min(max(child, lo), hi)


def _polynomial(x: float, lo: float, hi: float, eta: float, rng: np.random.Generator) -> float:
    """Bounded polynomial mutation (Deb): small steps are likely, the whole range stays reachable."""
    if hi <= lo:
        return x
    span = hi - lo
    d1, d2 = (x - lo) / span, (hi - x) / span
    u = rng.random()
    power = 1.0 / (eta + 1.0)
    if u < 0.5:
        val = 2.0 * u + (1.0 - 2.0 * u) * (1.0 - d1) ** (eta + 1.0)
        dq = val ** power - 1.0
    else:
        val = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * (1.0 - d2) ** (eta + 1.0)
        dq = 1.0 - val ** power
    return min(max(x + dq * span, lo), hi)
