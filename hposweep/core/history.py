"""One metric's per-step history, bounded: the first and last points kept exactly, an even thinning between.

A trial may report a metric a million times; the study keeps every metric's curve so ``show``, the report,
the dashboard and trackers can plot any of them, but a checkpoint cannot grow with every line printed.
:class:`MetricHistory` keeps the first ``edge`` points, the last ``edge`` points, and at most ``middle``
points of what lies between, evenly spaced by index: each point that leaves the tail is kept when its index
(counted from the end of the head) is a multiple of the current stride, and when the middle fills up every
other kept point is dropped and the stride doubles. So the middle always holds the points at indices
``edge, edge + stride, edge + 2*stride, ...`` -- an even thinning, whatever the length.

Pure and deterministic: the same points appended in the same order give the same history, however they
were batched, which is what lets the reducer replay a journal and land on the state the runner saw. A
step reported again right after itself (a progress bar redrawing one epoch) replaces that point's value.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any

#: points kept exactly at each end of a history
EDGE = 1000
#: points at most kept evenly between the two ends
MIDDLE = 1000

Step = int | float


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))


def _from_json_float(v: Any) -> float:
    return float(v)  # float("nan"), float("inf") read the strings back


class MetricHistory:
    """The bounded curve of one metric: ``(step, value)`` points in the order they were reported."""

    __slots__ = ("edge", "middle", "n", "stride", "head_steps", "head_values", "mid_steps", "mid_values", "tail")

    def __init__(self, *, edge: int = EDGE, middle: int = MIDDLE) -> None:
        if edge < 1 or middle < 2:
            raise ValueError("a metric history keeps at least 1 point at each end and 2 between")
        self.edge = edge
        self.middle = middle
        #: points appended so far (replacements of the last step not counted)
        self.n = 0
        self.stride = 1
        self.head_steps: list[Step] = []
        self.head_values: list[float] = []
        self.mid_steps: list[Step] = []
        self.mid_values: list[float] = []
        self.tail: deque[tuple[Step, float]] = deque()

    def __len__(self) -> int:
        """Points kept (at most ``2 * edge + middle``), not points reported (that is :attr:`n`)."""
        return len(self.head_steps) + len(self.mid_steps) + len(self.tail)

    def last(self) -> tuple[Step, float] | None:
        if self.tail:
            return self.tail[-1]
        if self.head_steps:
            return self.head_steps[-1], self.head_values[-1]
        return None

    def append(self, value: float, step: Step | None = None) -> None:
        """Add one point; no step: the one after the last (0 for the first). The same step as the last
        point replaces its value."""
        value = float(value)
        last = self.last()
        if step is None:
            step = 0 if last is None else (int(last[0]) + 1 if isinstance(last[0], int) else last[0] + 1)
        elif last is not None and last[0] == step:
            if self.tail:
                self.tail[-1] = (step, value)
            else:
                self.head_values[-1] = value
            return
        index = self.n
        self.n += 1
        if index < self.edge:
            self.head_steps.append(step)
            self.head_values.append(value)
            return
        self.tail.append((step, value))
        if len(self.tail) > self.edge:
            left_step, left_value = self.tail.popleft()
            left_index = index - self.edge  # the index of the point leaving the tail
            if (left_index - self.edge) % self.stride == 0:
                self.mid_steps.append(left_step)
                self.mid_values.append(left_value)
                if len(self.mid_steps) > self.middle:
                    self.mid_steps = self.mid_steps[::2]
                    self.mid_values = self.mid_values[::2]
                    self.stride *= 2

    def extend(self, points: Iterable[tuple[Step | None, float]]) -> None:
        for step, value in points:
            self.append(value, step)

    def points(self) -> list[tuple[Step, float]]:
        """Every kept point, in order."""
        return [*zip(self.head_steps, self.head_values), *zip(self.mid_steps, self.mid_values), *self.tail]

    def steps_values(self) -> tuple[list[Step], list[float]]:
        pts = self.points()
        return [s for s, _ in pts], [v for _, v in pts]

    # --- the checkpoint's form: parallel lists (decoded in C), the segment lengths, the count and the stride
    def to_json(self) -> dict[str, Any]:
        steps, values = self.steps_values()
        if not all(map(math.isfinite, values)):
            values = [_json_float(v) for v in values]  # type: ignore[misc]
        out: dict[str, Any] = {"n": self.n, "steps": steps, "values": values}
        if self.mid_steps or self.stride != 1:
            out["head"] = len(self.head_steps)
            out["mid"] = len(self.mid_steps)
            out["stride"] = self.stride
        if self.edge != EDGE or self.middle != MIDDLE:
            out["edge"], out["middle"] = self.edge, self.middle
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> MetricHistory:
        h = cls(edge=int(raw.get("edge", EDGE)), middle=int(raw.get("middle", MIDDLE)))
        steps, values = list(raw["steps"]), raw["values"]
        if len(steps) != len(values):
            raise ValueError("metric history steps and values differ in length")
        if not set(map(type, values)) <= {float}:
            values = [_from_json_float(v) for v in values]
        for s in steps:
            if isinstance(s, bool) or not isinstance(s, (int, float)):
                raise ValueError(f"metric history step {s!r} is not a number")
        h.n = int(raw.get("n", len(steps)))
        head = int(raw.get("head", min(len(steps), h.edge)))
        mid = int(raw.get("mid", 0))
        h.stride = int(raw.get("stride", 1))
        if head < 0 or mid < 0 or head + mid > len(steps) or h.stride < 1 or h.n < len(steps):
            raise ValueError("metric history segments do not fit its points")
        h.head_steps, h.head_values = steps[:head], values[:head]
        h.mid_steps, h.mid_values = steps[head:head + mid], values[head:head + mid]
        h.tail = deque(zip(steps[head + mid:], values[head + mid:]))
        return h
