"""The bounded metric history (issue 16 part 7): first and last points exact, an even thinning between."""

from __future__ import annotations

import math

import orjson
import pytest

from hposweep.core.history import MetricHistory


def test_short_history_keeps_every_point_and_assigns_steps() -> None:
    h = MetricHistory()
    h.extend([(None, 1.0), (None, 2.0), (5, 3.0), (None, 4.0), (2.5, 5.0), (None, 6.0)])
    assert h.points() == [(0, 1.0), (1, 2.0), (5, 3.0), (6, 4.0), (2.5, 5.0), (3.5, 6.0)]
    assert h.n == len(h) == 6


def test_the_same_step_again_replaces_the_last_value() -> None:
    h = MetricHistory()
    h.extend([(0, 1.0), (0, 1.5), (1, 2.0), (1, 2.5)])
    assert h.points() == [(0, 1.5), (1, 2.5)] and h.n == 2


@pytest.mark.parametrize("n", [7, 40, 41, 1000, 12345])
def test_long_history_is_bounded_with_exact_ends_and_an_even_middle(n: int) -> None:
    h = MetricHistory(edge=10, middle=16)
    for i in range(n):
        h.append(float(i), i)
    pts = h.points()
    assert len(pts) <= 10 + 16 + 10
    steps = [s for s, _ in pts]
    assert steps[: min(n, 10)] == list(range(min(n, 10)))
    assert steps[-min(n, 10):] == list(range(n - min(n, 10), n))
    assert steps == sorted(set(steps))  # in order, no duplicates
    middle = steps[len(h.head_steps): len(h.head_steps) + len(h.mid_steps)]
    gaps = {b - a for a, b in zip(middle, middle[1:])}
    assert len(gaps) <= 1 and (not gaps or gaps == {h.stride})
    if n > 200:
        assert len(h.mid_steps) >= 8  # the thinning keeps at least half its room filled


def test_batching_does_not_change_the_result_and_json_round_trips() -> None:
    a, b = MetricHistory(edge=5, middle=8), MetricHistory(edge=5, middle=8)
    points = [(i, math.sin(i)) for i in range(500)]
    for p in points:
        a.append(p[1], p[0])
    for k in range(0, 500, 37):
        b.extend(points[k:k + 37])
    assert a.points() == b.points()
    back = MetricHistory.from_json(orjson.loads(orjson.dumps(a.to_json())))
    assert back.points() == a.points() and back.stride == a.stride and back.n == a.n
    for i in range(500, 900):  # a history read back goes on exactly as the original
        a.append(float(i), i)
        back.append(float(i), i)
    assert back.points() == a.points()


def test_non_finite_values_survive_json() -> None:
    h = MetricHistory()
    h.extend([(0, float("nan")), (1, float("inf")), (2, 1.0)])
    back = MetricHistory.from_json(orjson.loads(orjson.dumps(h.to_json())))
    assert math.isnan(back.points()[0][1]) and back.points()[1:] == [(1, math.inf), (2, 1.0)]


def test_malformed_json_is_refused() -> None:
    with pytest.raises(ValueError):
        MetricHistory.from_json({"steps": [0, 1], "values": [1.0]})
    with pytest.raises(ValueError):
        MetricHistory.from_json({"steps": ["a"], "values": [1.0]})
    with pytest.raises(ValueError):
        MetricHistory.from_json({"steps": [0], "values": [1.0], "head": 3})
