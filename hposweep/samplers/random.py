"""Uniform random search: the baseline every other sampler must beat, and TPE's start-up phase."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hposweep.core.space import CategoricalParam, NumericParam, Param
from hposweep.samplers.base import Sampler, SamplingContext

if TYPE_CHECKING:
    import numpy as np

    from hposweep.core.space import SearchSpace


def sample_param(p: Param, rng: np.random.Generator) -> Any:
    """One uniform draw: uniform in log space for log params, every int/step value equally likely."""
    if isinstance(p, CategoricalParam):
        return p.choices[int(rng.integers(len(p.choices)))]
    assert isinstance(p, NumericParam)
    n = p.n_values()
    if n is not None and not p.log:
        return p.snap(p.low + int(rng.integers(n)) * (p.step or 1))
    if p.log and p.type == "int":
        # Widen by half a unit on each side so the end values get their fair share of mass.
        lo, hi = math.log(p.low - 0.5) if p.low > 0.5 else math.log(p.low), math.log(p.high + 0.5)
        return p.from_internal(math.log(min(max(math.exp(rng.uniform(lo, hi)), p.low), p.high)))
    return p.from_internal(rng.uniform(p.internal_low, p.internal_high))


def sample_space(space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
    """Draw every searchable parameter (a fixed number of draws, so streams stay aligned)."""
    return {p.name: sample_param(p, rng) for p in space.searchable}


class RandomSampler(Sampler):
    name = "random"

    def __init__(self) -> None:
        pass

    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        return sample_space(space, rng)
