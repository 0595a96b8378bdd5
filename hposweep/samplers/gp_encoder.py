"""Params <-> GP features for the ``gp`` sampler (see ``gp``'s docstring, "Encoding" and "Conditional").

Numbers take the codec's unit coordinate (``hposweep.core.codec``), categoricals one-hot; inactive
parameters get one fixed "inactive" vector so the GP sees the same features for "absent".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hposweep.core.codec import CATEGORICAL, DISCRETE, ParamCodec, SpaceCodec

if TYPE_CHECKING:
    from hposweep.core.space import Param, SearchSpace


@dataclass(frozen=True)
class FeatureDim:
    """One searchable parameter's place among the features, and its codec."""

    codec: ParamCodec
    start: int
    width: int

    @property
    def param(self) -> Param:
        return self.codec.param

    @property
    def is_cat(self) -> bool:
        return self.codec.kind == CATEGORICAL

    @property
    def n_values(self) -> int | None:
        return None if self.is_cat else self.codec.n_values

    @property
    def is_discrete(self) -> bool:
        return self.codec.kind == DISCRETE


@dataclass
class Encoder:
    """Params <-> GP features for one space: numbers in the codec's unit coordinate, categoricals one-hot."""

    space: SearchSpace
    dims: list[FeatureDim] = field(init=False)
    groups: np.ndarray = field(init=False)
    n_features: int = field(init=False)

    def __post_init__(self) -> None:
        self.dims, col, groups = [], 0, []
        for j, c in enumerate(SpaceCodec(self.space).params):
            width = c.n_cells if c.kind == CATEGORICAL else 1
            self.dims.append(FeatureDim(c, col, width))
            groups += [j] * width
            col += width
        self.groups = np.array(groups, dtype=int)
        self.n_features = col

    @property
    def n_params(self) -> int:
        return len(self.dims)

    def snap_numeric(self, d: FeatureDim, z: np.ndarray) -> np.ndarray:
        """Legal values only, in [0, 1] (the codec's vectorised round trip)."""
        return d.codec.snap_unit(z)

    def from_unit(self, U: np.ndarray) -> np.ndarray:
        """Points of [0, 1]^params (one coordinate per parameter) to legal feature rows."""
        out = np.zeros((U.shape[0], self.n_features))
        for j, d in enumerate(self.dims):
            if d.is_cat:
                k = np.minimum((U[:, j] * d.width).astype(int), d.width - 1)
                out[np.arange(U.shape[0]), d.start + k] = 1.0
            else:
                out[:, d.start] = self.snap_numeric(d, U[:, j])
        return out

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        row = np.zeros(self.n_features)
        for d in self.dims:
            x = d.codec.encode(params[d.param.name]) if d.param.name in params else math.nan
            if math.isnan(x):
                if not d.is_cat:
                    row[d.start] = 0.5  # inactive: imputed at the middle
            elif d.is_cat:
                row[d.start + int(x)] = 1.0
            else:
                row[d.start] = x
        return row

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in self.dims:
            if d.is_cat:
                out[d.param.name] = d.codec.value_at(int(np.argmax(row[d.start:d.start + d.width])))
            else:
                out[d.param.name] = d.codec.from_unit(float(row[d.start]))
        return out

    def impute_inactive(self, rows: np.ndarray) -> np.ndarray:
        """Set the features of parameters inactive in each row to the 'inactive' vector."""
        if not self.space.is_conditional:
            return rows
        rows = rows.copy()
        for i in range(rows.shape[0]):
            rows[i] = self.encode(self.space.complete(self.decode(rows[i])))
        return rows
