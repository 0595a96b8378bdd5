"""Pareto numerics for multi-objective sweeps: dominance ranks, hypervolume, crowding, knee, the MOTPE split.

The ``--pick`` rule language that chooses one trial from a front is ``hposweep.analysis.pick``.

Everything here is pure and works on plain ``(n, m)`` arrays of objective values plus one direction per
objective. Internally every objective is turned into a *minimised* one (maximised columns are negated),
so each algorithm is written once. This module imports numpy at the top: it is only imported by the
multi-objective code paths (``Study.best_trials``, NSGA-II, TPE's multi-objective split, ``hposweep best``),
never when the ``hposweep`` package itself is imported.

Conventions shared by all functions:

* ranks start at 0 (the non-dominated front); duplicates never dominate each other, so they share a rank;
* rows containing NaN are ranked after every finite row and never count as Pareto-optimal;
* a hypervolume is measured against a reference point that must be *worse* than the points in every
  objective; points that do not strictly dominate the reference add nothing.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hposweep.core.trial import Trial

__all__ = [
    "non_dominated_sort",
    "pareto_front_mask",
    "hypervolume",
    "hypervolume_contributions",
    "crowding_distance",
    "knee_point",
    "mo_split",
    "greedy_hv_subset",
    "pareto_front_trials",
    "complete_trials",
]

#: rows per block when building the dominance matrix: bounds the (block, n, m) temporaries to a few MB
_BLOCK = 256


# --- directions --------------------------------------------------------------------------------
def to_minimize(values: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Return a float ``(n, m)`` copy in which every objective is minimised (maximised ones negated).

    ``directions=None`` means "minimise everything". A 1-D input is one point per row of one objective.
    """
    arr = np.array(values, dtype=float, copy=True)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"values must be a 2-D array (n points, m objectives), got shape {arr.shape}")
    if directions is not None:
        if len(directions) != arr.shape[1]:
            raise ValueError(f"{len(directions)} direction(s) for {arr.shape[1]} objective(s)")
        for j, d in enumerate(directions):
            if d == "maximize":
                arr[:, j] = -arr[:, j]
            elif d != "minimize":
                raise ValueError(f"direction must be 'minimize' or 'maximize', got {d!r}")
    return arr


# --- non-dominated sorting -----------------------------------------------------------------------
def _dominance_matrix(v: np.ndarray) -> np.ndarray:
    """``D[i, j]`` is True when row i Pareto-dominates row j (no worse anywhere, better somewhere)."""
    n, m = v.shape
    dom = np.zeros((n, n), dtype=bool)
    cols = [v[:, j] for j in range(m)]
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        # One objective at a time: (block, n) comparisons are much faster than reducing a length-m axis.
        no_worse = cols[0][start:stop, None] <= cols[0][None, :]
        better = cols[0][start:stop, None] < cols[0][None, :]
        for col in cols[1:]:
            no_worse &= col[start:stop, None] <= col[None, :]
            better |= col[start:stop, None] < col[None, :]
        dom[start:stop] = no_worse & better
    return dom


def non_dominated_sort(values: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Pareto rank of every row: 0 for the non-dominated front, 1 for the front once 0 is removed, ...

    O(m n^2) time, vectorised (a dominance matrix built in blocks, then fronts peeled off by counting
    dominators), which is fast for the few thousand trials a sweep holds. Equal rows share a rank;
    rows with a NaN get the rank after the last finite front.
    """
    v = to_minimize(values, directions)
    n = len(v)
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    ok = ~np.isnan(v).any(axis=1)
    idx = np.flatnonzero(ok)
    if v.shape[1] == 1:
        # One objective: the rank is the dense rank of the value, no matrix needed.
        _, inverse = np.unique(v[idx, 0], return_inverse=True)
        ranks[idx] = inverse.ravel()
    elif v.shape[1] == 2:
        ranks[idx] = _ranks_2d(v[idx])
    elif len(idx):
        ranks[idx] = _peel_fronts(_dominance_matrix(v[idx]))
    worst = ranks.max(initial=-1)
    ranks[~ok] = worst + 1
    return ranks


def constrained_non_dominated_sort(values: Any, violations: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Pareto ranks under Deb's constrained domination: a feasible row (violation 0) beats every
    infeasible one; of two infeasible rows the smaller violation wins; feasible rows rank as in
    :func:`non_dominated_sort`. Infeasible rows therefore rank after every feasible front, by violation."""
    v = to_minimize(values, directions)
    viol = np.asarray(violations, dtype=float).reshape(-1)
    if len(viol) != len(v):
        raise ValueError("one violation per row is needed")
    ok = viol <= 0
    ranks = np.empty(len(v), dtype=int)
    ranks[ok] = non_dominated_sort(v[ok]) if ok.any() else np.empty(0, dtype=int)
    start = int(ranks[ok].max()) + 1 if ok.any() else 0
    if (~ok).any():
        _, inverse = np.unique(viol[~ok], return_inverse=True)
        ranks[~ok] = start + inverse.ravel()
    return ranks


def _ranks_2d(v: np.ndarray) -> np.ndarray:
    """O(n log n) ranks for two objectives.

    Points are visited by increasing first objective (ties: increasing second), so a point can only be
    dominated by points already placed, and within a front the last placed point has the lowest
    second objective. A front dominates the new point exactly when its last point's key
    ``(f2, f1)`` is lexicographically smaller than the new point's; those keys stay sorted across
    fronts, so the point's rank is found by bisection. Equal points share a front.
    """
    order = np.lexsort((v[:, 1], v[:, 0]))
    ranks = np.empty(len(v), dtype=int)
    keys: list[tuple[float, float]] = []
    for i in order.tolist():
        key = (float(v[i, 1]), float(v[i, 0]))
        k = bisect.bisect_left(keys, key)
        if k == len(keys):
            keys.append(key)
        else:
            keys[k] = key
        ranks[i] = k
    return ranks


def _peel_fronts(dom: np.ndarray) -> np.ndarray:
    n = len(dom)
    ranks = np.full(n, -1, dtype=int)
    n_dominators = dom.sum(axis=0, dtype=np.int64)
    current = np.flatnonzero(n_dominators == 0)
    rank = 0
    while len(current):
        ranks[current] = rank
        n_dominators = n_dominators - dom[current].sum(axis=0, dtype=np.int64)
        n_dominators[current] = -1  # never selected again
        current = np.flatnonzero(n_dominators == 0)
        rank += 1
    return ranks


def pareto_front_mask(values: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Boolean mask of the non-dominated rows (rank 0)."""
    return non_dominated_sort(values, directions) == 0


# --- hypervolume ---------------------------------------------------------------------------------
def _inside(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rows strictly better than the reference in every objective (only those enclose any volume)."""
    return (v < ref[None, :]).all(axis=1) & ~np.isnan(v).any(axis=1)


def _hv2d(p: np.ndarray, ref: np.ndarray) -> float:
    """Area of the 2-D staircase: sort by the first objective, keep the points that lower the second."""
    order = np.lexsort((p[:, 1], p[:, 0]))
    x, y = p[order, 0], p[order, 1]
    prev_best = np.minimum.accumulate(np.concatenate(([np.inf], y[:-1])))
    step = y < prev_best
    x, y = x[step], y[step]
    widths = np.append(x[1:], ref[0]) - x
    return float(np.dot(widths, ref[1] - y))


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of points that all lie strictly inside the reference box (minimisation).

    2-D: the staircase sweep; 3-D: a sweep over the third objective with an incremental staircase
    (O(n log n)). Higher dimensions: *slicing* along the last objective (HSO): between two consecutive
    values of the last objective the dominated region is a prism whose base is the (m-1)-dimensional
    hypervolume of the points seen so far. Exact; fine for the small fronts of 4+ objectives.
    """
    n, m = p.shape
    if n == 0:
        return 0.0
    if n == 1:
        return float(np.prod(ref - p[0]))
    if m == 1:
        return float(ref[0] - p[:, 0].min())
    if m == 2:
        return _hv2d(p, ref)
    if m == 3:
        return _hv3d(p, ref)
    if m > 4:
        p = p[_peel_first_front(p)]
        n = len(p)
    p = p[np.argsort(p[:, -1], kind="stable")]
    z = np.append(p[:, -1], ref[-1])
    total = 0.0
    for i in range(n):
        height = z[i + 1] - z[i]
        if height > 0:
            total += height * _hv(p[:i + 1, :-1], ref[:-1])
    return total


def _hv3d(p: np.ndarray, ref: np.ndarray) -> float:
    """3-D hypervolume by sweeping the third objective upwards over an incrementally kept 2-D staircase.

    The staircase (x increasing, y strictly decreasing) and its area are updated per inserted point in
    O(log n + points it removes), so the whole sweep is O(n log n) plus list shifts.
    """
    order = np.argsort(p[:, 2], kind="stable")
    pts = p[order].tolist()
    zs = [q[2] for q in pts] + [float(ref[2])]
    rx, ry = float(ref[0]), float(ref[1])
    xs: list[float] = []
    ys: list[float] = []
    area = total = 0.0
    for i, (x, y, _) in enumerate(pts):
        area += _staircase_insert(xs, ys, x, y, rx, ry)
        total += (zs[i + 1] - zs[i]) * area
    return total


def _staircase_insert(xs: list[float], ys: list[float], x: float, y: float, rx: float, ry: float) -> float:
    """Insert (x, y) into a 2-D staircase; return the area it adds (0 when already dominated)."""
    pos = bisect.bisect_right(xs, x)
    if pos > 0 and ys[pos - 1] <= y:
        return 0.0  # a point with x' <= x and y' <= y already covers it
    end = pos
    while end < len(xs) and ys[end] >= y:
        end += 1  # points right of x that are no lower: the new point dominates them
    left_y = ys[pos - 1] if pos > 0 else ry
    right_x = xs[end] if end < len(xs) else rx
    # Area gained = the strip under the old staircase between x and right_x, down to y.
    gained = 0.0
    cur_x, cur_y = x, left_y
    for k in range(pos, end):
        gained += (xs[k] - cur_x) * (cur_y - y)
        cur_x, cur_y = xs[k], ys[k]
    gained += (right_x - cur_x) * (cur_y - y)
    xs[pos:end] = [x]
    ys[pos:end] = [y]
    return gained


def _peel_first_front(v: np.ndarray) -> np.ndarray:
    return np.asarray(~_dominance_matrix(v).any(axis=0))


def hypervolume(points: Any, reference: Sequence[float], directions: Sequence[str] | None = None) -> float:
    """Volume of the objective space dominated by ``points`` and bounded by ``reference``.

    Exact in any dimension (2-D sweep, slicing above); points that do not strictly dominate the
    reference are ignored, so an empty or useless set has volume 0. ``reference`` is given in the
    objectives' own units and directions (for a maximised accuracy it is a *low* accuracy).
    """
    v = to_minimize(points, directions)
    ref = to_minimize(np.asarray(reference, dtype=float).reshape(1, -1), directions)[0]
    if v.shape[1] != len(ref):
        raise ValueError(f"reference has {len(ref)} coordinates for {v.shape[1]} objective(s)")
    return _hv(v[_inside(v, ref)], ref)


def hypervolume_contributions(
    points: Any, reference: Sequence[float], directions: Sequence[str] | None = None
) -> np.ndarray:
    """Exclusive hypervolume of each point: how much volume is lost when only that point is removed.

    Dominated points, duplicates and points outside the reference contribute 0. 2-D uses the closed
    form (width to the right neighbour times height to the left one); higher dimensions compute
    ``HV(all) - HV(all but i)`` for the front's points.
    """
    v = to_minimize(points, directions)
    ref = to_minimize(np.asarray(reference, dtype=float).reshape(1, -1), directions)[0]
    out = np.zeros(len(v))
    cand = np.flatnonzero(_inside(v, ref))
    if len(cand) == 0:
        return out
    front = cand[non_dominated_sort(v[cand]) == 0]
    p = v[front]
    if p.shape[1] == 1:
        if len(front) == 1:  # a unique best point owns the gap to the runner-up (or the reference)
            second = np.partition(np.append(v[cand, 0], ref[0]), 1)[1]
            out[front[0]] = second - p[0, 0]
        return out
    if p.shape[1] == 2:
        order = np.lexsort((p[:, 1], p[:, 0]))
        x, y = p[order, 0], p[order, 1]
        right = np.append(x[1:], ref[0]) - x
        up = np.concatenate(([ref[1]], y[:-1])) - y
        out[front[order]] = right * up
        return out
    total = _hv(p, ref)
    keep = np.ones(len(p), dtype=bool)
    for i in range(len(p)):
        keep[i] = False
        out[front[i]] = total - _hv(p[keep], ref)
        keep[i] = True
    return np.maximum(out, 0.0)


# --- crowding and knee -----------------------------------------------------------------------------
def crowding_distance(values: Any) -> np.ndarray:
    """NSGA-II crowding distance of the points of one front (larger = more isolated = preferred).

    Per objective the points are sorted; the two extremes get ``inf`` and the others the gap between
    their neighbours divided by the objective's range. Objectives with zero range are skipped. The
    direction of an objective does not matter (a gap is a gap), so no directions are needed.
    """
    v = to_minimize(values)
    n, m = v.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for j in range(m):
        order = np.argsort(v[:, j], kind="stable")
        col = v[order, j]
        span = col[-1] - col[0]
        if not np.isfinite(span) or span <= 0:
            continue
        dist[order[0]] = dist[order[-1]] = np.inf
        dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def knee_point(values: Any, directions: Sequence[str] | None = None) -> int:
    """Index of the *knee* of the Pareto front: the best trade-off when no preference is given.

    Method: take the non-dominated points, normalise each objective to [0, 1] over the front (0 = best),
    pass a hyperplane through the front's extreme points (the best point of each objective; in 2-D the
    line through the two ends of the front) and return the point farthest from it on the ideal side,
    i.e. where giving up a little of one objective buys the most of the others. If the extremes do
    not span a proper hyperplane the plane ``sum(z) = 1`` is used. Ties go to the smaller normalised
    sum, then to the lower index. One objective, or a front of one or two points: the point best in
    the first objective.
    """
    v = to_minimize(values, directions)
    if len(v) == 0:
        raise ValueError("knee_point needs at least one point")
    ranks = non_dominated_sort(v)
    front = np.flatnonzero(ranks == 0)
    if len(front) == 0:  # every row has a NaN
        return 0
    if len(front) <= 2 or v.shape[1] == 1:
        f = v[front]
        return int(front[np.lexsort((front, f.sum(axis=1), f[:, 0]))[0]])
    f = v[front]
    ideal, nadir = f.min(axis=0), f.max(axis=0)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    z = (f - ideal) / span
    w = _plane_through_extremes(z)
    dist = (1.0 - z @ w) / np.linalg.norm(w)
    order = np.lexsort((front, z.sum(axis=1), -dist))
    return int(front[order[0]])


def _plane_through_extremes(z: np.ndarray) -> np.ndarray:
    """Normal ``w`` of the plane ``z . w = 1`` through the best point of each objective."""
    m = z.shape[1]
    ext = []
    for j in range(m):
        others = z.sum(axis=1) - z[:, j]
        ext.append(int(np.lexsort((others, z[:, j]))[0]))
    try:
        w = np.linalg.solve(z[ext], np.ones(m))
    except np.linalg.LinAlgError:
        return np.ones(m)
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        return np.ones(m)
    return w


# --- MOTPE split ---------------------------------------------------------------------------------
def mo_split(values: Any, directions: Sequence[str] | None, n_good: int) -> tuple[np.ndarray, np.ndarray]:
    """Split observations into ``n_good`` "good" ones and the rest, for multi-objective TPE.

    Whole non-dominated ranks are taken while they fit; the last, partially fitting rank is thinned
    by greedy hypervolume subset selection: repeatedly add the point that adds the most hypervolume
    to those already chosen (reference: the rank's worst values plus 10% of its spread), so the good
    set stays spread along the front rather than clumped. Rows with NaN are always "bad". Both index
    arrays are sorted.
    """
    v = to_minimize(values, directions)
    n = len(v)
    n_good = max(0, min(int(n_good), n))
    ok = ~np.isnan(v).any(axis=1)
    n_good = min(n_good, int(ok.sum()))
    ranks = non_dominated_sort(v)
    good: list[int] = []
    for r in range(int(ranks.max(initial=-1)) + 1):
        if len(good) >= n_good:
            break
        members = np.flatnonzero((ranks == r) & ok)
        room = n_good - len(good)
        if len(members) <= room:
            good.extend(members.tolist())
        else:
            good.extend(members[greedy_hv_subset(v[members], room)].tolist())
    good_idx = np.array(sorted(good), dtype=int)
    mask = np.ones(n, dtype=bool)
    mask[good_idx] = False
    return good_idx, np.flatnonzero(mask)


def greedy_hv_subset(p: np.ndarray, k: int) -> list[int]:
    """Indices of ``k`` of the *minimised* points ``p``, chosen greedily for hypervolume.

    Reference: the worst values plus 10% of the spread. Lazy greedy: a point's gain can only shrink as
    others are chosen, so stale gains are upper bounds and few are recomputed.
    """
    worst, best = p.max(axis=0), p.min(axis=0)
    spread = worst - best
    pad = np.where(spread > 0, 0.1 * spread, np.maximum(0.1 * np.abs(worst), 1e-9))
    ref = worst + pad
    boxes = np.prod(ref[None, :] - p, axis=1)
    heap = [(-float(b), i) for i, b in enumerate(boxes)]
    heapq.heapify(heap)
    chosen: list[int] = []
    while len(chosen) < k and heap:
        _, i = heapq.heappop(heap)
        gain = float(boxes[i]) - (_hv(np.maximum(p[chosen], p[i]), ref) if chosen else 0.0)
        if not heap or (-gain, i) <= heap[0]:  # still the best (ties: lower index) once re-evaluated
            chosen.append(i)
        else:
            heapq.heappush(heap, (-gain, i))
    return chosen


# --- trials --------------------------------------------------------------------------------------
def complete_trials(trials: Sequence[Trial], m: int) -> list[Trial]:
    """Complete trials with ``m`` finite values: the only ones a front or a pick considers."""
    from hposweep.core.trial import TrialState

    return [
        t for t in trials
        if t.state is TrialState.COMPLETE and t.values is not None and len(t.values) == m
        and all(math.isfinite(x) for x in t.values)
    ]


def pareto_front_trials(trials: Sequence[Trial], directions: Sequence[str],
                        feasible: Callable[[Trial], bool] | None = None) -> list[Trial]:
    """The non-dominated complete trials, best first along the first objective (then trial number).

    With ``feasible``, only feasible trials can be on the front (constrained domination: any feasible
    trial dominates every infeasible one), so with none feasible the front is empty.
    """
    usable = complete_trials(trials, len(directions))
    if feasible is not None:
        usable = [t for t in usable if feasible(t)]
    if not usable:
        return []
    vals = to_minimize([t.values for t in usable], directions)
    front = np.flatnonzero(non_dominated_sort(vals) == 0)
    front = front[np.lexsort(([usable[i].number for i in front], vals[front, 0]))]
    return [usable[i] for i in front]
