"""The one codec: unit and cell coordinates of every parameter kind, and whole-trial matrices."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from hposweep.core.codec import CATEGORICAL, CONTINUOUS, DISCRETE, ParamCodec, SpaceCodec, from_unit, to_unit
from hposweep.core.space import CategoricalParam, NumericParam, Param, SearchSpace, param_from_spec

SPECS: list[dict[str, Any]] = [
    {"type": "float", "low": -3.0, "high": 7.0},
    {"type": "float", "low": 1e-6, "high": 1.0, "log": True},
    {"type": "float", "low": 0.5, "high": 2.5, "step": 0.25},
    {"type": "int", "low": -4, "high": 9},
    {"type": "int", "low": 1, "high": 4096, "log": True},
    {"type": "int", "low": 3, "high": 10, "log": True},
    {"type": "int", "low": 16, "high": 256, "step": 16},
    {"type": "categorical", "choices": [True, False, "x", 3, None]},
    {"type": "categorical", "choices": ["only"]},
]


def legal_values(p: Param) -> list[Any]:
    if isinstance(p, NumericParam) and p.n_values() is None:
        return [p.from_internal(x) for x in np.linspace(p.internal_low, p.internal_high, 7)]
    return p.values()


def report_unit(param: Param, v: Any) -> float:
    """What the report's contour axes computed before the codec (its ``_unit``), spelled out."""
    if isinstance(param, CategoricalParam):
        return param.index(v) / max(1, len(param.choices) - 1)
    assert isinstance(param, NumericParam)
    return (param.to_internal(v) - param.internal_low) / (param.internal_high - param.internal_low)


@pytest.mark.parametrize("spec", SPECS)
def test_to_unit_is_the_reports_axis_and_from_unit_inverts_it(spec: dict[str, Any]) -> None:
    p = param_from_spec("p", spec)
    for v in legal_values(p):
        assert to_unit(p, v) == report_unit(p, v)
        back = from_unit(p, to_unit(p, v))
        assert p.contains(back)
        if p.type == "float" and p.step is None:  # type: ignore[attr-defined]
            assert back == pytest.approx(v, rel=1e-12)
        else:
            assert back == v and type(back) is type(v)


@pytest.mark.parametrize("spec", SPECS)
def test_cell_coordinate_round_trips_and_each_value_sits_in_its_own_cell(spec: dict[str, Any]) -> None:
    p = param_from_spec("p", spec)
    c = ParamCodec.of(p)
    for v in legal_values(p):
        z = c.encode(v, "cell")
        assert 0.0 <= z <= (c.n_cells - 1 if c.kind == CATEGORICAL else 1.0)
        back = c.decode(z, "cell")
        assert back == v or (c.kind == CONTINUOUS and back == pytest.approx(v, rel=1e-12))
        if c.kind == DISCRETE:
            a, b, mid = c.cells(np.array([z]))
            assert a[0] <= mid[0] <= b[0] and mid[0] == pytest.approx(z)


@pytest.mark.parametrize("spec", [s for s in SPECS if s["type"] != "float" or "step" in s])
def test_a_uniform_draw_gives_every_legal_value_its_share(spec: dict[str, Any]) -> None:
    """Equal cells for linear ints, steps and choices; the half-cell rule for log ints."""
    p = param_from_spec("p", spec)
    c = ParamCodec.of(p)
    u = (np.arange(200_000) + 0.5) / 200_000
    drawn = [c.from_uniform(float(x)) for x in u[::7]]
    values = p.values()
    counts = np.array([sum(1 for d in drawn if d == v and type(d) is type(v)) for v in values]) / len(drawn)
    if isinstance(p, NumericParam) and p.log:
        widths = np.array([math.log(min(v + 0.5, p.high + 0.5)) - math.log(max(v - 0.5, p.low - 0.5)) for v in values])
        expected = widths / widths.sum()
    else:
        expected = np.full(len(values), 1.0 / len(values))
    assert counts == pytest.approx(expected, abs=2e-3)


def test_fixed_parameters_have_no_coordinate() -> None:
    with pytest.raises(TypeError, match="fixed"):
        ParamCodec.of(param_from_spec("epochs", 20))


def test_matrices_mark_inactive_and_unencodable_values_as_nan() -> None:
    space = SearchSpace([
        param_from_spec("opt", {"type": "categorical", "choices": ["sgd", "adam"]}),
        param_from_spec("lr", {"type": "float", "low": 1e-4, "high": 1.0, "log": True, "when": {"opt": "sgd"}}),
        param_from_spec("units", {"type": "int", "low": 1, "high": 8}),
        param_from_spec("epochs", 5),
    ])
    codec = SpaceCodec(space)
    assert [c.param.name for c in codec.params] == ["opt", "lr", "units"]  # fixed ones are not encoded
    rows = [{"opt": "adam", "units": 8, "epochs": 5}, {"opt": "sgd", "lr": 1e-2, "units": 1},
            {"opt": "rmsprop", "lr": -1.0, "units": True}, {"opt": "sgd", "lr": 10.0, "units": 3}]
    unit = codec.encode(rows)
    assert unit[0, 0] == 1.0 and math.isnan(unit[0, 1]) and unit[0, 2] == 1.0
    assert unit[1].tolist() == pytest.approx([0.0, 0.5, 0.0])
    assert np.isnan(unit[2]).all()  # a removed choice, a log value <= 0, a bool for an int
    assert unit[3, 1] == 1.0  # outside an edited range: clipped to the bound
    cell = codec.encode(rows, "cell")
    assert cell[1, 2] == pytest.approx(1 / 16) and cell[0, 2] == pytest.approx(15 / 16)
    assert codec.decode(cell[1], "cell") == {"opt": "sgd", "lr": pytest.approx(1e-2), "units": 1}
    assert codec.decode(unit[0]) == {"opt": "adam", "units": 8}


def test_snap_unit_is_the_vectorised_round_trip() -> None:
    for spec in SPECS[:7]:
        c = ParamCodec.of(param_from_spec("p", spec))
        u = np.linspace(-0.1, 1.1, 101)
        expected = [min(max(c.to_unit(c.from_unit(float(x))), 0.0), 1.0) for x in u]
        assert c.snap_unit(u) == pytest.approx(expected, abs=1e-12)
