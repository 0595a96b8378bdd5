"""Grid search over categoricals and int/stepped ranges, in a seeded shuffled order.

Shuffling (seeded) makes a partial grid an unbiased sample instead of one corner of the space.
Trial k takes the first grid point, in that order, that no finished or running trial holds, so
parallel workers never duplicate a point; once every point was tried the grid is exhausted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hposweep.core.space import value_key
from hposweep.samplers.base import Sampler, SamplingContext

if TYPE_CHECKING:
    import numpy as np

    from hposweep.core.space import SearchSpace


def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted((k, value_key(v)) for k, v in params.items()))


class GridSampler(Sampler):
    name = "grid"

    def __init__(self, *, shuffle: bool = True) -> None:
        self._record_options(locals())
        self.shuffle = shuffle
        self._order: list[dict[str, Any]] | None = None
        self._seen: set[tuple] = set()
        self._n_seen_finished = 0
        #: keys of ``_order``, and the first index not held by a finished trial (finished only grows)
        self._keys: list[tuple] = []
        self._cursor = 0

    def _points(self, space: SearchSpace, seed_rng: np.random.Generator | None) -> list[dict[str, Any]]:
        if self._order is None:
            import numpy as np

            points = list(space.grid())
            if self.shuffle:
                # The order must not depend on the trial number: seed it from the study seed only.
                rng = np.random.default_rng(self._seed if self._seed is not None else 0)
                perm = rng.permutation(len(points))
                points = [points[i] for i in perm]
            self._order = points
            self._keys = [_key(p) for p in points]
        return self._order

    _seed: int | None = None

    def bind_seed(self, seed: int | None) -> None:
        """Called by the Study so the grid order follows the study seed."""
        self._seed = seed

    def _first_free(self, space: SearchSpace, ctx: SamplingContext) -> int | None:
        """Index of the first point no finished or running trial holds, None when there is none.

        Incremental, so an ask stays cheap on a 10,000-point grid: new finished trials are added to
        ``_seen`` once, and the cursor skips the prefix they cover for good.
        """
        self._points(space, None)
        for t in ctx.finished[self._n_seen_finished:]:
            self._seen.add(_key(space.complete(t.params)))
        self._n_seen_finished = len(ctx.finished)
        while self._cursor < len(self._keys) and self._keys[self._cursor] in self._seen:
            self._cursor += 1
        running = {_key(space.complete(t.params)) for t in ctx.running}
        for i in range(self._cursor, len(self._keys)):
            if self._keys[i] not in self._seen and self._keys[i] not in running:
                return i
        return None

    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        points = self._points(space, rng)
        i = self._first_free(space, ctx)
        if i is not None:
            return dict(points[i])
        # Exhausted (the caller should have stopped): repeat points in order rather than fail.
        return dict(points[ctx.number % len(points)])

    def exhausted(self, space: SearchSpace, ctx: SamplingContext) -> bool:
        return self._first_free(space, ctx) is None
