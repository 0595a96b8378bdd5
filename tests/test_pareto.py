"""Pareto machinery on hand-made sets with known answers, and the --pick rule language."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hposweep.analysis.pareto import (
    crowding_distance,
    hypervolume,
    hypervolume_contributions,
    knee_point,
    mo_split,
    non_dominated_sort,
    pareto_front_trials,
)
from hposweep.analysis.pick import parse_pick_rule, pick
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError, StudyError

MIN2 = ["minimize", "minimize"]


def brute_ranks(v: np.ndarray) -> np.ndarray:
    """Reference: peel fronts by checking every pair with plain Python."""
    left = set(range(len(v)))
    ranks = np.full(len(v), -1)
    r = 0
    while left:
        front = {i for i in left if not any(
            all(v[j] <= v[i]) and any(v[j] < v[i]) for j in left if j != i)}
        for i in front:
            ranks[i] = r
        left -= front
        r += 1
    return ranks


def brute_hv(points: np.ndarray, ref: np.ndarray) -> float:
    """Reference hypervolume by inclusion-exclusion over all subsets (small n only)."""
    pts = [p for p in points if np.all(p < ref)]
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(pts, k):
            corner = np.max(subset, axis=0)
            total += (-1) ** (k + 1) * float(np.prod(ref - corner))
    return total


# --- non-dominated sorting ---------------------------------------------------------------------
def test_sort_two_objectives_with_ties_and_duplicates() -> None:
    v = [[1, 4], [2, 2], [4, 1], [2, 2], [3, 3], [2, 4], [5, 5], [1, 4]]
    ranks = non_dominated_sort(v, MIN2)
    assert ranks.tolist() == [0, 0, 0, 0, 1, 1, 2, 0]


def test_sort_weak_dominance_on_a_tie_in_one_objective() -> None:
    # (1, 3) is no better than (1, 2) anywhere and worse in the second: dominated.
    assert non_dominated_sort([[1, 2], [1, 3]], MIN2).tolist() == [0, 1]


def test_sort_mixed_directions() -> None:
    # maximize accuracy, minimize latency
    v = [[0.9, 10], [0.95, 20], [0.9, 20], [0.8, 5], [0.7, 30]]
    ranks = non_dominated_sort(v, ["maximize", "minimize"])
    assert ranks.tolist() == [0, 0, 1, 0, 2]
    # the same set with both maximised is a different order
    assert non_dominated_sort(v, ["maximize", "maximize"]).tolist()[1] == 0


def test_sort_three_objectives() -> None:
    v = [[1, 2, 3], [3, 2, 1], [2, 2, 2], [2, 3, 4], [4, 4, 4], [1, 2, 3]]
    assert non_dominated_sort(v).tolist() == [0, 0, 0, 1, 2, 0]


def test_sort_one_objective_is_dense_rank_and_nan_last() -> None:
    v = np.array([[3.0], [1.0], [2.0], [1.0], [np.nan]])
    assert non_dominated_sort(v, ["minimize"]).tolist() == [2, 0, 1, 0, 3]
    assert non_dominated_sort(v, ["maximize"]).tolist() == [0, 2, 1, 2, 3]
    assert non_dominated_sort([[1, np.nan], [2, 2]]).tolist() == [1, 0]


def test_sort_empty() -> None:
    assert non_dominated_sort(np.zeros((0, 2))).tolist() == []


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 3), st.lists(st.tuples(*[st.integers(0, 4)] * 3), min_size=1, max_size=25))
def test_sort_matches_brute_force(m: int, rows: list[tuple[int, int, int]]) -> None:
    """Both code paths (2-D bisection, dominance matrix for more) agree with pairwise checks."""
    v = np.array(rows, dtype=float)[:, :m]
    assert non_dominated_sort(v).tolist() == brute_ranks(v).tolist()


# --- hypervolume -------------------------------------------------------------------------------
def test_hv_single_point_is_product_of_distances() -> None:
    assert hypervolume([[1.0, 2.0]], [4.0, 5.0]) == pytest.approx(9.0)
    assert hypervolume([[1.0, 2.0, 3.0]], [2.0, 4.0, 7.0]) == pytest.approx(1 * 2 * 4)
    assert hypervolume([[1.0, 1.0, 1.0, 1.0, 1.0]], [2, 3, 2, 2, 2]) == pytest.approx(2.0)


def test_hv_2d_staircase() -> None:
    # steps at (1,3), (2,2), (3,1) against (4,4): 3*1 + 2*1 + 1*1 = 6
    pts = [[1, 3], [2, 2], [3, 1]]
    assert hypervolume(pts, [4, 4]) == pytest.approx(6.0)
    # dominated points, duplicates and points beyond the reference change nothing
    assert hypervolume(pts + [[3, 3], [2, 2], [5, 0], [4, 0.5]], [4, 4]) == pytest.approx(6.0)


def test_hv_mixed_directions() -> None:
    # maximize accuracy with reference 0.5, minimize latency with reference 100
    pts = [[0.9, 50.0], [0.7, 20.0]]
    expected = (0.9 - 0.5) * (100 - 50) + (0.7 - 0.5) * (50 - 20)
    assert hypervolume(pts, [0.5, 100.0], ["maximize", "minimize"]) == pytest.approx(expected)


def test_hv_3d_known() -> None:
    # three unit-offset corners of a 2-cube against (2, 2, 2): 3 boxes of 2 minus overlaps
    pts = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert hypervolume(pts, [2, 2, 2]) == pytest.approx(4.0)
    assert hypervolume(pts + [[1, 1, 1]], [2, 2, 2]) == pytest.approx(4.0)


def test_hv_nothing_inside() -> None:
    assert hypervolume([[5, 5]], [4, 4]) == 0.0
    assert hypervolume(np.zeros((0, 3)), [1, 1, 1]) == 0.0
    assert hypervolume([[4, 1]], [4, 4]) == 0.0  # on the reference boundary: no volume


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 4), st.lists(st.lists(st.integers(0, 5), min_size=4, max_size=4), min_size=1, max_size=7))
def test_hv_matches_inclusion_exclusion(m: int, rows: list[list[int]]) -> None:
    pts = np.array(rows, dtype=float)[:, :m]
    ref = np.full(m, 6.0)
    assert hypervolume(pts, ref) == pytest.approx(brute_hv(pts, ref))


def test_hv_contributions_2d_and_3d() -> None:
    pts = [[1, 3], [2, 2], [3, 1], [3, 3], [2, 2]]
    c = hypervolume_contributions(pts, [4, 4])
    # the duplicated (2, 2) points protect each other: removing one loses nothing
    assert c.tolist() == pytest.approx([1.0, 0.0, 1.0, 0.0, 0.0])
    pts3 = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0], [1.5, 1.5, 1.5]])
    c3 = hypervolume_contributions(pts3, [2, 2, 2])
    total = hypervolume(pts3, [2, 2, 2])
    for i in range(len(pts3)):
        rest = np.delete(pts3, i, axis=0)
        assert c3[i] == pytest.approx(total - hypervolume(rest, [2, 2, 2]))
    assert c3[3] == 0.0


def test_hv_contributions_one_objective() -> None:
    assert hypervolume_contributions([[1.0], [3.0], [2.0]], [5.0]).tolist() == [1.0, 0.0, 0.0]


# --- crowding and knee -------------------------------------------------------------------------
def test_crowding_distance() -> None:
    d = crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]])
    # interior: (2-0)/4 + (4-1)/4 and (4-1)/4 + (2-0)/4
    assert d[0] == np.inf and d[3] == np.inf
    assert d[1] == pytest.approx(1.25) and d[2] == pytest.approx(1.25)
    assert np.all(np.isinf(crowding_distance([[1, 2], [2, 1]])))
    # an objective with no spread adds nothing
    d = crowding_distance([[0, 1], [1, 1], [3, 1]])
    assert d[1] == pytest.approx(1.0)


def test_knee_2d_picks_the_bend() -> None:
    front = [[0, 10], [1, 2], [2, 1.5], [10, 0]]
    assert knee_point(front) == 1
    # dominated points are never the knee, whatever their distance to the line
    assert knee_point(front + [[3, 9]]) == 1
    # maximize both: the same geometry mirrored
    assert knee_point([[-x, -y] for x, y in front], ["maximize", "maximize"]) == 1


def test_knee_3d_and_small_fronts() -> None:
    pts = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.2, 0.2, 0.2], [0.4, 0.4, 0.3]]
    assert knee_point(pts) == 3
    assert knee_point([[1.0, 2.0], [2.0, 1.0]]) == 0  # two extremes: the best in the first objective
    assert knee_point([[3.0], [1.0], [2.0]]) == 1
    assert knee_point([[5.0, 5.0]]) == 0


# --- MOTPE split -------------------------------------------------------------------------------
def test_mo_split_takes_whole_ranks_then_spreads_the_last() -> None:
    v = [[0, 4], [1, 2], [2, 1], [4, 0], [5, 5], [6, 6], [1.1, 2.1]]
    good, bad = mo_split(v, MIN2, 2)
    # rank 0 has 4 points, only 2 fit: the two with the largest hypervolume (the interior ones)
    assert good.tolist() == [1, 2]
    assert sorted(good.tolist() + bad.tolist()) == list(range(7))
    good, bad = mo_split(v, MIN2, 5)
    assert good.tolist() == [0, 1, 2, 3, 6]
    assert bad.tolist() == [4, 5]


def test_mo_split_edge_cases() -> None:
    v = [[1.0, np.nan], [2, 2], [1, 3]]
    good, bad = mo_split(v, MIN2, 5)
    assert good.tolist() == [1, 2] and bad.tolist() == [0]
    good, bad = mo_split(v, MIN2, 0)
    assert good.tolist() == [] and bad.tolist() == [0, 1, 2]
    good, _ = mo_split([[0.9, 10], [0.95, 30], [0.5, 50]], ["maximize", "minimize"], 2)
    assert good.tolist() == [0, 1]


def test_mo_split_greedy_prefers_spread_over_clumps() -> None:
    # three near-duplicates in the middle and two ends: choosing 3 keeps the ends and one middle point
    v = [[0, 10], [5, 5], [5.01, 4.99], [4.99, 5.01], [10, 0]]
    good, _ = mo_split(v, MIN2, 3)
    assert {0, 4} <= set(good.tolist())
    assert len(set(good.tolist()) & {1, 2, 3}) == 1


# --- trials, pick --------------------------------------------------------------------------------
def make_trials(rows: list[tuple[float, float]], attrs: list[dict] | None = None) -> list[Trial]:
    trials = []
    for i, (acc, lat) in enumerate(rows):
        t = Trial(number=i, params={"x": i}, state=TrialState.COMPLETE, values=[acc, lat])
        if attrs:
            t.user_attrs = attrs[i]
        trials.append(t)
    return trials


DIRS = ["maximize", "minimize"]
NAMES = ["val_acc", "latency_ms"]
ROWS = [(0.80, 5.0), (0.90, 15.0), (0.93, 25.0), (0.95, 60.0), (0.85, 30.0), (0.91, 15.0)]


def test_pareto_front_trials() -> None:
    trials = make_trials(ROWS)
    trials.append(Trial(number=6, params={}, state=TrialState.FAILED))
    trials.append(Trial(number=7, params={}, state=TrialState.PRUNED, values=[0.99, 1.0]))
    front = pareto_front_trials(trials, DIRS)
    # best first along the first objective (accuracy, maximised)
    assert [t.number for t in front] == [3, 2, 5, 0]


def test_pick_max_and_min_with_where() -> None:
    trials = make_trials(ROWS)
    assert pick(trials, DIRS, NAMES, "max val_acc where latency_ms<20").number == 5
    assert pick(trials, DIRS, NAMES, "max val_acc").number == 3
    assert pick(trials, DIRS, NAMES, "min latency_ms where val_acc>=0.9 and latency_ms<50").number == 5
    assert pick(trials, DIRS, NAMES, "MIN latency_ms WHERE val_acc >= 0.9").number == 5
    assert pick(trials, DIRS, NAMES, "max val_acc where latency_ms <= 25").number == 2


def test_pick_knee_is_default() -> None:
    trials = make_trials(ROWS)
    assert pick(trials, DIRS, NAMES, None).number == pick(trials, DIRS, NAMES, "knee").number
    assert pick(trials, DIRS, NAMES, "knee where latency_ms<20").number in (0, 5)


def test_pick_user_attrs_in_where() -> None:
    attrs = [{"mem_gb": m} for m in (1, 2, 8, 9, 3, 7)]
    trials = make_trials(ROWS, attrs)
    assert pick(trials, DIRS, NAMES, "max val_acc where mem_gb<5").number == 1
    assert pick(trials, DIRS, NAMES, "min mem_gb where val_acc>0.9").number == 5


def test_pick_errors() -> None:
    trials = make_trials(ROWS)
    with pytest.raises(ConfigError, match="unknown metric 'val_ac'") as exc:
        pick(trials, DIRS, NAMES, "max val_ac")
    assert "did you mean 'val_acc'" in str(exc.value)
    with pytest.raises(ConfigError, match="unknown metric 'speed'"):
        pick(trials, DIRS, NAMES, "knee where speed<3")
    with pytest.raises(ConfigError, match="no complete trial satisfies") as exc:
        pick(trials, DIRS, NAMES, "max val_acc where latency_ms<1")
    assert "latency_ms in [5, 60]" in str(exc.value)
    with pytest.raises(StudyError):
        pick([], DIRS, NAMES, "knee")


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "best val_acc",
        "max",
        "max where latency_ms<3",
        "max val_acc latency_ms<3",
        "max val_acc where",
        "max val_acc where latency_ms",
        "max val_acc where latency_ms<",
        "max val_acc where latency_ms<fast",
        "max val_acc where latency_ms<3 or val_acc>1",
        "max val_acc where latency_ms<3 and",
        "max val_acc where 3>latency_ms",
        "max val_acc; import os",
        "knee knee",
        "max val_acc where latency_ms =< 3",
    ],
)
def test_bad_rules_are_config_errors(rule: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_pick_rule(rule)
    assert exc.value.exit_code == 2
    assert "bad --pick rule" in str(exc.value) and "hint:" in str(exc.value)


def test_parse_rule_shapes() -> None:
    r = parse_pick_rule("min latency_ms where val_acc>=0.9 and latency_ms<5e1 and loss!=-1.5")
    assert r.kind == "min" and r.metric == "latency_ms"
    assert [(c.metric, c.op, c.value) for c in r.where] == [
        ("val_acc", ">=", 0.9), ("latency_ms", "<", 50.0), ("loss", "!=", -1.5)]
    assert parse_pick_rule("where a=1").kind == "knee"
    assert parse_pick_rule("max val/acc").metric == "val/acc"
