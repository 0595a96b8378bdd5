"""Uniform random search: the baseline every other sampler must beat, and TPE's start-up phase."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hposweep.core.codec import DISCRETE, ParamCodec
from hposweep.core.space import Param
from hposweep.samplers.base import Sampler, SamplingContext

if TYPE_CHECKING:
    import numpy as np

    from hposweep.core.space import SearchSpace


def sample_param(p: Param, rng: np.random.Generator) -> Any:
    """One uniform draw in the codec's cell coordinate: every choice, int and step value equally likely,
    floats uniform along their internal coordinate (log for log ones), log ints by the half-cell rule.

    Choices and values of equal cells are drawn as an index (one ``integers`` call), the others as
    one ``uniform``: a fixed number of draws per parameter keeps the random streams aligned.
    """
    c = ParamCodec.of(p)
    if c.n_cells:
        return c.value_at(int(rng.integers(c.n_cells)))
    return c.from_cell(rng.uniform(0.0, 1.0)) if c.kind == DISCRETE else c.from_unit(rng.uniform(0.0, 1.0))


def sample_space(space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
    """Draw every searchable parameter (a fixed number of draws, so streams stay aligned)."""
    return {p.name: sample_param(p, rng) for p in space.searchable}


class RandomSampler(Sampler):
    name = "random"

    def __init__(self) -> None:
        pass

    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        return sample_space(space, rng)
