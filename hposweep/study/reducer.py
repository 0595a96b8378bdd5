"""The reducer: events in, study state out. Pure: no files, no lock, no sampler.

Why a module of its own: the same code must apply an event when a process makes it, when it reads
what another worker appended, and when it replays a journal on load; if any of the three differed,
the in-memory study and its checkpoint could disagree. The Study (:mod:`hposweep.study.api`) makes
events, the storage (:mod:`hposweep.study.storage`) moves their bytes, and only this module says
what an event means.

Events (one JSON object each, ``op`` says which):

* ``trial``: a trial's whole record (asked, told, pruned...), appended or updated in place;
* ``report`` / ``info``: an intermediate value (at a whole or fractional step), or info fields, of one trial;
* ``reports``: many intermediate values of one trial, ``steps`` and ``values`` as two lists (the runner writes one
  per polling round, however many steps the trial printed in it);
* ``metrics``: one polling round's points of a trial's other metrics, ``{name: [[step|null, ...], [value, ...]]}``,
  folded into each metric's bounded history (:class:`~hposweep.core.history.MetricHistory`); one event per
  round, however many lines the trial printed in it;
* ``enqueue`` / ``dequeue``: the queue of params to run next (``front`` puts an entry first);
* ``recover``: trials marked interrupted *and* their re-runs queued first, as one event, so a kill
  can never leave one half done (an interrupted trial without its re-run, or a re-run queued twice);
  ``resume --retry-failed`` uses it too: a failed trial marked ``retried`` and its params queued, one
  event per trial (:mod:`hposweep.study.retry`);
* ``meta`` / ``settings``: runtime bookkeeping and settings fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hposweep.core.history import MetricHistory
from hposweep.core.trial import Trial, TrialState, step_from_json
from hposweep.errors import CheckpointError
from hposweep.study.retry import is_retired


class StudyState:
    """What events change: trials (and indexes over them), the queue, meta and settings."""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.trials: list[Trial] = []
        self.queue: list[dict[str, Any]] = []
        #: free-form runtime bookkeeping kept in the checkpoint (time budget used, target, ...)
        self.meta: dict[str, Any] = {}
        self.settings: dict[str, Any] = dict(settings or {})
        #: finished trials in the order they finished (samplers see them in this order)
        self.finished: list[Trial] = []
        #: running trials by number: the runner, ask and the samplers need them every round, and
        #: scanning 10,000 trials each time is the slow way
        self.running: dict[int, Trial] = {}
        #: every metric's bounded history by trial number, decoded when first used (see :meth:`history`)
        self.histories: dict[int, dict[str, MetricHistory]] = {}
        #: the snapshot's histories not decoded yet: a load must not build 10^5 objects nobody reads
        self._raw_histories: dict[str, Any] = {}
        #: numbers of failed trials re-queued by ``resume --retry-failed`` (``info["retried"]``): they no
        #: longer count toward the target; kept here because the runner asks for the count every round
        self.retired: set[int] = set()

    def history(self, number: int) -> dict[str, MetricHistory]:
        """The trial's metric histories by name (empty when it reported no other metric)."""
        raw = self._raw_histories.pop(str(number), None)
        if raw is not None:
            self.histories[number] = {name: MetricHistory.from_json(h) for name, h in raw.items()}
        return self.histories.get(number, {})

    def apply(self, ev: Mapping[str, Any]) -> None:
        """Apply one event. Raises CheckpointError (or KeyError/TypeError/ValueError on a malformed one)."""
        op = ev.get("op")
        if op == "trial":
            self._put_trial(Trial.from_json(ev["trial"]))
        elif op == "report":
            t = self.trials[_number(ev["number"])]
            step = step_from_json(ev["step"])
            if step in t.intermediate:
                t.curve_changed()
            t.intermediate[step] = float(ev["value"])
        elif op == "reports":
            t = self.trials[_number(ev["number"])]
            curve = t.intermediate
            steps, values = ev["steps"], ev["values"]
            if len(steps) != len(values):
                raise ValueError("a reports event has more steps than values, or fewer")
            if not set(map(type, steps)) <= {int}:
                steps = [step_from_json(s) for s in steps]
            before = len(curve)
            curve.update(zip(steps, map(float, values)))
            if len(curve) - before != len(steps):  # a step given again: not a pure append
                t.curve_changed()
        elif op == "metrics":
            number = _number(ev["number"])
            if number >= len(self.trials):
                raise CheckpointError(f"metrics for trial {number}, which does not exist")
            mine = self.history(number)
            if not mine:
                mine = self.histories.setdefault(number, {})
            for name, (steps, values) in (ev.get("points") or {}).items():
                h = mine.get(name)
                if h is None:
                    h = mine[name] = MetricHistory()
                h.extend(zip(steps, map(float, values)))
        elif op == "info":
            self.trials[_number(ev["number"])].info.update(ev.get("fields") or {})
        elif op == "enqueue":
            self._enqueue(ev["entry"])
        elif op == "dequeue":
            if self.queue:
                self.queue.pop(0)
        elif op == "recover":
            for raw in ev["trials"]:
                self._put_trial(Trial.from_json(raw))
            for entry in reversed(ev.get("requeue") or []):
                self._enqueue({**entry, "front": True})
        elif op == "meta":
            self.meta.update(ev.get("fields") or {})
        elif op == "settings":
            self.settings.update(ev.get("fields") or {})
        else:
            raise CheckpointError(f"unknown journal event {op!r}; written by a newer hposweep?")

    def _enqueue(self, entry: Mapping[str, Any]) -> None:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("params", {}), Mapping):
            raise ValueError("the queue holds an entry that is not a set of parameters")
        if entry.get("front"):
            self.queue.insert(0, {k: v for k, v in entry.items() if k != "front"})
        else:
            self.queue.append(dict(entry))

    def _put_trial(self, t: Trial) -> None:
        if t.number == len(self.trials):
            self.trials.append(t)
            current = t
            if current.state.is_finished:
                self.finished.append(current)
        elif 0 <= t.number < len(self.trials):
            # Update in place: callers keep the Trial object that ask() returned.
            current = self.trials[t.number]
            was_finished = current.state.is_finished
            if t.state is TrialState.RUNNING and current.state is not TrialState.RUNNING:
                self.histories.pop(t.number, None)  # run again under its number: a new curve
                self._raw_histories.pop(str(t.number), None)
            current.__dict__.update(t.__dict__)
            if current.state.is_finished and not was_finished:
                self.finished.append(current)
        else:
            raise CheckpointError(f"journal skips trial numbers (got {t.number}, have {len(self.trials)})")
        if current.state is TrialState.RUNNING:
            self.running[current.number] = current
        else:
            self.running.pop(current.number, None)
        if is_retired(current):
            self.retired.add(current.number)
        else:
            self.retired.discard(current.number)

    def reset_from(self, state: Mapping[str, Any]) -> None:
        """Replace everything by a snapshot's content, keeping the Trial objects callers hold current."""
        trials = [Trial.from_json(t) for t in state["trials"]]
        for i, t in enumerate(trials):
            if t.number != i:
                raise CheckpointError(f"checkpoint trial list is out of order at position {i}")
        # After another process compacted, keep the Trial objects callers hold (from ask()) current.
        for old, new in zip(self.trials, trials):
            old.__dict__.update(new.__dict__)
        self.trials = self.trials[: len(trials)] + trials[len(self.trials):]
        self.running = {t.number: t for t in self.trials if t.state is TrialState.RUNNING}
        self.retired = {t.number for t in self.trials if is_retired(t)}
        self.finished = sorted(
            (t for t in self.trials if t.state.is_finished),
            key=lambda t: (t.finish_seq if t.finish_seq is not None else 1 << 60, t.finished_at or 0, t.number),
        )
        self.queue = list(state.get("queue") or [])
        if not all(isinstance(e, dict) and isinstance(e.get("params", {}), dict) for e in self.queue):
            raise ValueError("the queue holds an entry that is not a set of parameters")  # -> CheckpointError
        self.meta = dict(state.get("meta") or {})
        self.settings = dict(state.get("settings") or {})
        raw = state.get("metric_history") or {}  # format 3; older checkpoints have none
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            raise ValueError("the metric histories are not a mapping of trials to metrics")
        self.histories = {}
        self._raw_histories = dict(raw)

    def to_json(self) -> dict[str, Any]:
        """The event-made part of a snapshot (the Study adds the space, directions, seed, ids...)."""
        out = {
            "settings": self.settings,
            "meta": self.meta,
            "queue": self.queue,
            "trials": [t.to_json() for t in self.trials],
        }
        if self.histories or self._raw_histories:
            histories = dict(self._raw_histories)
            for number, by_name in self.histories.items():
                if by_name:
                    histories[str(number)] = {name: h.to_json() for name, h in by_name.items()}
            out["metric_history"] = histories
        return out


def _number(raw: Any) -> int:
    """A trial number from an event; a negative one would silently address the last trial."""
    n = int(raw)
    if n < 0:
        raise ValueError(f"trial number {n} is negative")
    return n
