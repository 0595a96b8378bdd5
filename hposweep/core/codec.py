"""The one codec: parameter values <-> numbers in [0, 1], for every sampler, the importance analysis and the report.

Each searchable parameter has two coordinates on [0, 1]:

* the **unit** coordinate: the parameter's internal coordinate (``log(x)`` for log-scaled numbers,
  ``x`` otherwise) scaled so that ``low`` is 0 and ``high`` is 1. It keeps distances as the model of
  the space sees them: a GP kernel, a crossover, the importance densities and the report's axes use
  it. A categorical's unit coordinate is ``index / (k - 1)`` (a plot axis); in matrices it is its
  choice index (a density or a one-hot needs the index).
* the **cell** coordinate, where a uniform draw hits every legal value equally often (TPE's kernels,
  CMA-ES's search, random draws and start-up designs use it). Floats: the unit coordinate. Linear
  ints and stepped floats: the range widened by half a step on both sides, cut into one equal cell
  per value. Log ints: the *half-cell rule*, value ``v`` owns ``[log(v - 1/2), log(v + 1/2)]`` in log
  space (the reals that round to it), so the end values are as reachable as the inner ones.
  Categoricals: ``k`` equal cells.

Rounding (clipping, ints, steps) is the parameter's own ``from_internal``/``snap``; this module only
moves between coordinates, so no sampler re-implements the rounding rules. Fixed parameters are not
searchable and are never encoded; a parameter inactive in a trial (its condition does not hold) is
NaN in a matrix, as is a value the space cannot hold (a space edited on resume).

numpy is imported inside the vectorised functions only: the per-value functions stay cheap to import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hposweep.core.space import CategoricalParam, NumericParam, Param

if TYPE_CHECKING:
    import numpy as np

    from hposweep.core.space import SearchSpace

#: how a parameter behaves in the cell coordinate
CONTINUOUS, DISCRETE, CATEGORICAL = 0, 1, 2

Coordinate = Literal["unit", "cell"]

#: stands for "no value" (an inactive parameter) in :meth:`ParamCodec.encode`
MISSING: Any = object()


@dataclass(frozen=True)
class ParamCodec:
    """One parameter's two coordinates (see the module docstring) and the way back to legal values."""

    param: Param
    kind: int
    #: internal coordinate of ``low`` and the internal width of the range (numeric parameters)
    lo: float = 0.0
    span: float = 1.0
    #: the same for the cell coordinate: the range widened by half a cell on both sides (discrete)
    cell_lo: float = 0.0
    cell_span: float = 1.0
    #: number of equal-width cells: values of a linear int / stepped float, choices of a categorical;
    #: 0 for floats and log ints (whose cells are not equal)
    n_cells: int = 0
    #: number of legal values (None for floats)
    n_values: int | None = None

    @classmethod
    def of(cls, p: Param) -> ParamCodec:
        if isinstance(p, CategoricalParam):
            k = len(p.choices)
            return cls(p, CATEGORICAL, 0.0, float(max(1, k - 1)), 0.0, 1.0, k, k)
        if not isinstance(p, NumericParam):
            raise TypeError(f"{p.name}: a {p.type} parameter has no coordinate (fixed parameters are not searched)")
        lo, span = p.internal_low, p.internal_high - p.internal_low
        n = p.n_values()
        if n is None:
            return cls(p, CONTINUOUS, lo, span, lo, span)
        if p.log:  # log int (log and step cannot be combined): cells [log(v - 1/2), log(v + 1/2)]
            c_lo, c_hi = math.log(p.low - 0.5) if p.low > 0.5 else math.log(p.low), math.log(p.high + 0.5)
            return cls(p, DISCRETE, lo, span, c_lo, c_hi - c_lo, 0, n)
        step = float(p.step or 1)
        return cls(p, DISCRETE, lo, span, p.low - step / 2, n * step, n, n)

    @property
    def numeric(self) -> NumericParam:
        assert isinstance(self.param, NumericParam)
        return self.param

    @property
    def choices(self) -> tuple[Any, ...]:
        assert isinstance(self.param, CategoricalParam)
        return self.param.choices

    # --- per value -----------------------------------------------------------------------------
    def index(self, value: Any) -> int:
        """A categorical's choice index (ValueError for a value that is not a choice)."""
        assert isinstance(self.param, CategoricalParam)
        return self.param.index(value)

    def to_unit(self, value: Any) -> float:
        """The unit coordinate of a legal value (not clipped; categoricals ``index / (k - 1)``)."""
        if self.kind == CATEGORICAL:
            return self.index(value) / self.span
        return (self.numeric.to_internal(value) - self.lo) / self.span

    def from_unit(self, u: float) -> Any:
        """The legal value nearest to unit coordinate ``u`` (clipped, rounded to ints and steps)."""
        if self.kind == CATEGORICAL:
            return self.choices[int(min(max(round(u * self.span), 0), self.n_cells - 1))]
        return self.numeric.from_internal(self.lo + u * self.span)

    def to_cell(self, value: Any) -> float:
        """The cell coordinate of a value: its cell's centre (equal cells) or its own place (log ints)."""
        if self.kind == CATEGORICAL:
            return (self.index(value) + 0.5) / self.n_cells
        z = (self.numeric.to_internal(value) - self.cell_lo) / self.cell_span
        if self.n_cells:
            z = (math.floor(z * self.n_cells) + 0.5) / self.n_cells
        return min(max(z, 0.0), 1.0)

    def from_cell(self, z: float) -> Any:
        """The legal value whose cell holds ``z``."""
        if self.n_cells:
            return self.value_at(int(min(max(math.floor(z * self.n_cells), 0), self.n_cells - 1)))
        return self.numeric.from_internal(self.cell_lo + z * self.cell_span)

    def value_at(self, i: int) -> Any:
        """The ``i``-th legal value of a categorical, linear int or stepped float."""
        if self.kind == CATEGORICAL:
            return self.choices[i]
        p = self.numeric
        return p.snap(p.low + i * float(p.step or 1))

    def encode(self, value: Any, coordinate: Coordinate = "unit") -> float:
        """One matrix entry: the coordinate clipped to [0, 1], a categorical's index, NaN for no legal value.

        NaN stands for :data:`MISSING` (inactive) and for what the space cannot encode (a bool or a
        string in a numeric range, a non-positive number on a log scale, a removed choice).
        """
        if value is MISSING:
            return math.nan
        if self.kind == CATEGORICAL:
            try:
                return float(self.index(value))
            except ValueError:
                return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return math.nan
        if self.numeric.log and value <= 0:
            return math.nan
        if coordinate == "cell":
            return self.to_cell(value)
        return min(max(self.to_unit(value), 0.0), 1.0)

    def decode(self, x: float, coordinate: Coordinate = "unit") -> Any:
        """Inverse of :meth:`encode` (categoricals: the index, rounded)."""
        if self.kind == CATEGORICAL:
            return self.choices[int(min(max(round(x), 0), self.n_cells - 1))]
        return self.from_cell(x) if coordinate == "cell" else self.from_unit(x)

    def from_uniform(self, u: float) -> Any:
        """The value a uniform draw ``u`` in [0, 1) stands for: every legal value owns an equal share
        (a log int: the share its half-cell rule gives it)."""
        if self.kind == CATEGORICAL:
            return self.choices[int(min(math.floor(u * self.n_cells), self.n_cells - 1))]
        return self.from_cell(u)

    # --- vectorised ----------------------------------------------------------------------------
    def cells(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cell holding each cell coordinate ``z``: low edge, high edge, and the coordinate of its value."""
        import numpy as np

        if self.n_cells:
            m = self.n_cells
            i = np.minimum(np.maximum(np.floor(z * m), 0.0), m - 1.0)
            return i / m, (i + 1) / m, (i + 0.5) / m
        p = self.numeric
        v = np.minimum(np.maximum(np.round(np.exp(self.cell_lo + z * self.cell_span)), p.low), p.high)
        a = (np.log(np.maximum(v - 0.5, 1e-300)) - self.cell_lo) / self.cell_span
        b = (np.log(v + 0.5) - self.cell_lo) / self.cell_span
        return np.maximum(a, 0.0), np.minimum(b, 1.0), (np.log(v) - self.cell_lo) / self.cell_span

    def snap_unit(self, u: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`from_unit` then :meth:`to_unit` of a numeric parameter: legal values only, in [0, 1]."""
        import numpy as np

        u = np.clip(u, 0.0, 1.0)
        if self.kind != DISCRETE:
            return u
        p = self.numeric
        x = self.lo + u * self.span
        if p.log:
            v = np.clip(np.round(np.exp(x)), p.low, p.high)
            return np.clip((np.log(v) - self.lo) / self.span, 0.0, 1.0)
        step = float(p.step or 1)
        v = np.clip(p.low + np.round((x - p.low) / step) * step, p.low, p.high)
        return np.clip((v - self.lo) / self.span, 0.0, 1.0)


def to_unit(param: Param, value: Any) -> float:
    """A legal value's unit coordinate: internal coordinate scaled to [0, 1], a choice's ``index / (k - 1)``."""
    return ParamCodec.of(param).to_unit(value)


def from_unit(param: Param, u: float) -> Any:
    """The legal value nearest to unit coordinate ``u`` (inverse of :func:`to_unit`)."""
    return ParamCodec.of(param).from_unit(u)


class SpaceCodec:
    """The codecs of a space's searchable parameters, in ``space.searchable`` order, for whole trials."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.params: list[ParamCodec] = [ParamCodec.of(p) for p in space.searchable]

    def __len__(self) -> int:
        return len(self.params)

    def encode(self, rows: Sequence[Mapping[str, Any]], coordinate: Coordinate = "unit") -> np.ndarray:
        """Trials' params (rows) x parameters: each :meth:`ParamCodec.encode`, NaN where inactive."""
        import numpy as np

        out = np.full((len(rows), len(self.params)), np.nan)
        for j, c in enumerate(self.params):
            name = c.param.name
            for i, params in enumerate(rows):
                if name in params:
                    out[i, j] = c.encode(params[name], coordinate)
        return out

    def decode(self, row: Sequence[float], coordinate: Coordinate = "unit") -> dict[str, Any]:
        """One encoded row back to values (NaN entries are left out)."""
        return {c.param.name: c.decode(float(x), coordinate)
                for c, x in zip(self.params, row, strict=True) if not math.isnan(float(x))}

    def from_uniform(self, u: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """A point of [0, 1)^d (a design row, a uniform draw) as values, each legal value an equal share."""
        return {c.param.name: c.from_uniform(float(x)) for c, x in zip(self.params, u, strict=True)}
