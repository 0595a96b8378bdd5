"""A trial: one evaluation of the user's command at one point of the space.

Values are stored as a list (``values``) so a study can hold several objectives; ``value`` is the
first one, which is all a single-objective study uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class TrialState(str, Enum):
    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def is_finished(self) -> bool:
        """Finished trials count towards ``--trials``; interrupted ones are re-run."""
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CurveSummary:
    """What pruners read of a trial's intermediate values on every report (:meth:`Trial.curve_summary`)."""

    #: ``id`` of the dict summarized and how many steps it had (the memo's key)
    ident: int
    count: int
    #: the highest step reported, and the highest below it (None: fewer than one / two distinct steps)
    last: int | float | None
    previous: int | float | None
    #: the lowest and highest value reported (NaN never is either; +inf / -inf when none is a number), and how
    #: many values are numbers (not NaN)
    lowest: float
    highest: float
    numbers: int


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    state: TrialState = TrialState.RUNNING
    values: list[float] | None = None
    #: intermediate values of the (first) objective, by step (whole steps are ints, fractional ones floats)
    intermediate: dict[int | float, float] = field(default_factory=dict)
    #: other numeric metrics the trial reported (last value of each)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    #: how it ran: argv, cwd, git commit, exit code, reason, log path, seed, slot, worker, heartbeat ...
    info: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    #: order in which the trial finished (samplers see trials in this order)
    finish_seq: int | None = None
    #: :meth:`curve_summary`'s memo (see there); not part of the trial's identity
    _curve_memo: CurveSummary | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def value(self) -> float | None:
        return self.values[0] if self.values else None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def last_step(self) -> int | float | None:
        """The highest step reported so far (None before the first report)."""
        return self.curve_summary().last

    def curve_summary(self) -> CurveSummary:
        """The highest and second-highest step reported and the lowest and highest finite value, kept up to date
        incrementally.

        Pruners read these after every report, so a trial printing a million steps must not pay a pass over all of
        them each time (that was quadratic: 10,000 steps cost the median pruner 31 s). Steps are only appended to
        ``intermediate`` (a dict keeps insertion order), so only the steps added since the last call are read,
        newest first. Code that changes the value of a step already there, or removes steps, calls
        :meth:`curve_changed` (the reducer and ``Study.report_points`` do).
        """
        steps = self.intermediate
        memo = self._curve_memo
        n = len(steps)
        if memo is not None and memo.ident == id(steps) and n == memo.count:
            return memo
        if memo is None or memo.ident != id(steps) or n < memo.count or n == 0:
            memo = CurveSummary(id(steps), 0, None, None, math.inf, -math.inf, 0)
            if n == 0:
                self._curve_memo = memo
                return memo
        last, previous, lowest, highest, numbers = memo.last, memo.previous, memo.lowest, memo.highest, memo.numbers
        newest = reversed(steps)
        for _ in range(n - memo.count):
            step = next(newest)
            if last is None or step > last:
                last, previous = step, last
            elif step != last and (previous is None or step > previous):
                previous = step
            v = steps[step]
            if v == v:  # not NaN
                numbers += 1
                if v < lowest:
                    lowest = v
                if v > highest:
                    highest = v
        memo = CurveSummary(id(steps), n, last, previous, lowest, highest, numbers)
        self._curve_memo = memo
        return memo

    def curve_changed(self) -> None:
        """Say that a reported step's value was replaced or a step removed (appending new steps needs no call)."""
        self._curve_memo = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "number": self.number,
            "params": self.params,
            "state": self.state.value,
            "values": [json_float(v) for v in self.values] if self.values is not None else None,
            "intermediate": _intermediate_to_json(self.intermediate),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
        if self.user_attrs:
            d["user_attrs"] = {k: json_float(v) if isinstance(v, float) else v for k, v in self.user_attrs.items()}
        if self.info:
            d["info"] = self.info
        if self.finish_seq is not None:
            d["finish_seq"] = self.finish_seq
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trial:
        values = d.get("values")
        if values is None and d.get("value") is not None:  # tolerate a hand-written single value
            values = [d["value"]]
        return cls(
            number=int(d["number"]),
            params=dict(d.get("params") or {}),
            state=TrialState(d.get("state", "running")),
            # float(): a hand-edited "0" or [[]] must fail here (a CheckpointError), not in a sampler
            values=[float(_from_json_float(v)) for v in values] if values is not None else None,
            intermediate=_intermediate_from_json(d.get("intermediate")),
            user_attrs={k: _from_json_float(v) for k, v in (d.get("user_attrs") or {}).items()},
            info=dict(d.get("info") or {}),
            started_at=d.get("started_at"),
            finished_at=d.get("finished_at"),
            finish_seq=d.get("finish_seq"),
        )


def as_step(step: Any) -> int | float:
    """A step as stored: a finite number >= 0, whole ones as ``int`` (``3.0`` is step 3), fractional ones kept.

    Old checkpoints hold only int steps and load unchanged; anything else (a bool, a string, NaN, -1) is refused.
    """
    if isinstance(step, int) and not isinstance(step, bool):
        if step < 0:
            raise ValueError(f"a step must be >= 0, got {step}")
        return step
    if isinstance(step, float) and math.isfinite(step) and step >= 0:
        return int(step) if step.is_integer() else step
    raise ValueError(f"a step must be a finite number >= 0, got {step!r}")


def step_from_json(raw: Any) -> int | float:
    """A step read from a checkpoint: a number, or the string key of the oldest form (``{"3": 0.41}``).

    Ints are taken as they are (an old checkpoint may hold any int a caller once passed); ``2.0`` is step 2.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            raw = float(raw)
    if isinstance(raw, float) and math.isfinite(raw):
        return int(raw) if raw.is_integer() else raw
    raise ValueError(f"a step must be a finite number, got {raw!r}")


def _intermediate_to_json(intermediate: dict[int | float, float]) -> dict[str, Any]:
    """Two parallel lists, not a ``{"step": value}`` map: a 10,000-trial study holds ~500,000 of
    these numbers, and lists convert back to ``{int: float}`` in C instead of one Python call each."""
    values = list(intermediate.values())
    if not all(map(math.isfinite, values)):
        values = [json_float(v) for v in values]
    return {"steps": list(intermediate), "values": values}


def _intermediate_from_json(raw: dict[str, Any] | None) -> dict[int | float, float]:
    """Read both forms: ``{"steps": [...], "values": [...]}`` and the older ``{"3": 0.41}``."""
    if not raw:
        return {}
    if "steps" in raw:
        steps, values = raw["steps"], raw["values"]
        if len(steps) != len(values):
            raise ValueError("intermediate steps and values differ in length")
        if not set(map(type, steps)) <= {int}:  # fractional steps (floats) are kept; "3" or 3.0 is step 3
            steps = [step_from_json(k) for k in steps]
        if not set(map(type, values)) <= {float}:  # ints, "nan"/"inf" strings; anything else fails
            values = [float(_from_json_float(v)) for v in values]
        return dict(zip(steps, values))
    out = dict(zip(map(step_from_json, raw), raw.values()))
    for k, v in out.items():
        if v.__class__ is not float:
            out[k] = float(_from_json_float(v))
    return out


def json_float(v: Any) -> Any:
    """JSON has no NaN/inf: store them as strings so the checkpoint stays standard JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _from_json_float(v: Any) -> Any:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v
