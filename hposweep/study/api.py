"""The Study: trials, a sampler, a pruner and (optionally) a checkpoint, behind ask/tell.

Everything that changes the study goes through one of a few methods (:meth:`Study.ask`,
:meth:`Study.tell`, :meth:`Study.report`, :meth:`Study.enqueue`, :meth:`Study.update_meta`). Each one
is an *event*: when a checkpoint is attached, appended to its journal under the file lock (after first
applying whatever other processes appended), and only once it is recorded applied to the in-memory
state by the reducer (:mod:`hposweep.study.reducer`), the same code that replays events on load, so
the in-memory state and the file can never disagree. The bytes are the storage's job
(:mod:`hposweep.study.storage`).

This module is over 500 lines because it is one job: the Study's public API (ask, tell, report,
enqueue, load, save and the properties callers read); replaying events is the reducer's, bytes are the
storage's, locking is :mod:`hposweep.study.lock`'s.

Sampler and pruner objects passed in are seeded with the study's seed and recorded by their
``spec()`` (name and options), so a loaded study rebuilds them as they were.

Seeding rule: trial k is sampled with a generator seeded by ``(seed, k)`` and sees the trials that
finished before it, so a study that is saved, loaded and continued proposes exactly what an
uninterrupted one would have.
"""

from __future__ import annotations

import gc
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from hposweep.core.constraints import Constraint, constraint_strings, parse_constraints
from hposweep.core.objectives import check_direction, metric_names
from hposweep.core.space import SearchSpace
from hposweep.core.trial import Trial, TrialState, as_step, json_float
from hposweep.core.version import __version__
from hposweep.errors import CheckpointError, ConfigError, StudyError
from hposweep.pruners.base import Pruner
from hposweep.samplers import Sampler, SamplingContext, make_sampler
from hposweep.study.feasibility import Feasibility
from hposweep.study.reducer import StudyState
from hposweep.study.retry import CARRIED as RETRY_CARRIED
from hposweep.study.retry import RETRY_OF, retry_candidates, retry_event
from hposweep.study.storage import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Loaded,
    Storage,
    StorageError,
    looks_like_checkpoint,
    read_checkpoint,
    read_snapshot,
    report_damage,
)
from hposweep.study.warmstart import read_prior_source


def new_study_id() -> str:
    return uuid.uuid4().hex[:16]


class Study:
    """A hyperparameter search over one space.

    >>> study = Study(space, direction="minimize", sampler="random", seed=0)
    >>> trial = study.ask(); study.tell(trial, 0.25)
    """

    def __init__(
        self,
        space: SearchSpace,
        direction: str | None = None,
        *,
        directions: Sequence[str] | None = None,
        sampler: str | Mapping[str, Any] | Sampler | None = None,
        pruner: Any = None,
        seed: int | None = None,
        settings: Mapping[str, Any] | None = None,
        constraints: Sequence[str] | None = None,
        warm_start: Sequence[Any] | None = None,
        warm_start_metric: Sequence[str] | None = None,
        callbacks: Sequence[Callable[[Study, Trial], Any]] | None = None,
    ) -> None:
        if direction is not None and directions is not None:
            raise ConfigError("give direction or directions, not both")
        if directions is None:
            directions = [direction or "minimize"]
        if not directions:
            raise ConfigError("directions is empty")
        self.space = space
        self.directions: tuple[str, ...] = tuple(check_direction(d) for d in directions)
        if seed is None:
            # Record a seed even when none was asked for, so a resumed study continues its sequence.
            seed = int.from_bytes(os.urandom(4), "little")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an integer, got {seed!r}")
        self.seed = seed
        self._st = StudyState(settings)
        if constraints:
            self._st.settings["constraints"] = constraint_strings(parse_constraints(constraints))
        self._feasibility: Feasibility | None = None
        #: finished trials of earlier studies (warm start): prior observations of the sampler, recorded
        #: once at creation, numbered -1, -2, ...; they never count toward the target
        self.prior_trials: list[Trial] = []
        #: what the warm start kept and dropped (one line each), for the CLI to print
        self.warm_start_notes: list[str] = []
        for source in warm_start or ():
            found = read_prior_source(source, space, directions=self.directions,
                                      names=metric_names(self._st.settings, len(self.directions)),
                                      metric_map=warm_start_metric, first_number=-1 - len(self.prior_trials))
            self.prior_trials.extend(found.trials)
            self.warm_start_notes.extend(found.notes)
        #: random id of this study and its generation (bumped by a take-over): a process that finds
        #: another study or generation at its checkpoint path stops writing
        self.study_id = new_study_id()
        self.generation = 1
        #: journal lines found damaged when this study was loaded (skipped; see FILE.quarantine)
        self.damaged: list[Any] = []
        #: the checkpoint this study was loaded from (also when loaded read-only, which has no ``path``)
        self.loaded_from: str | None = None
        if sampler is None:
            from hposweep.samplers import default_sampler

            sampler = default_sampler(len(self.directions))
        # Samplers and pruners are built on first use: `hposweep best` loads a study without paying
        # for numpy/scipy. Validate the names now all the same, so a typo fails before any trial.
        self._sampler: Sampler | None = None
        if isinstance(sampler, Sampler):
            self.sampler_spec: Any = sampler.spec()
            self._sampler = sampler
            sampler.bind_seed(seed)
        else:
            from hposweep.samplers import check_sampler_spec

            check_sampler_spec(sampler)
            self.sampler_spec = sampler
        self._pruner_obj: Pruner | None = pruner if isinstance(pruner, Pruner) else None
        self.pruner_spec: Any = pruner.spec() if isinstance(pruner, Pruner) else pruner
        self._pruner_built = self._pruner_obj is not None
        if self._pruner_obj is not None:
            if len(self.directions) > 1:
                raise ConfigError("pruning is not supported with several objectives",
                                  hint="drop the pruner for multi-objective studies")
            self._pruner_obj.bind(seed=seed, direction=self.directions[0])
        elif pruner not in (None, "none"):
            if len(self.directions) > 1:
                raise ConfigError(
                    "pruning is not supported with several objectives",
                    hint="drop --pruner / `pruner:` for multi-objective sweeps",
                )
            from hposweep.pruners import make_pruner

            self._pruner_obj = make_pruner(pruner)  # pure Python: cheap, and validates the options
            self._pruner_obj.bind(seed=seed, direction=self.directions[0])
            self._pruner_built = True
        self.created_at = time.time()
        self._storage: Storage | None = None
        #: ``fn(study, trial)`` after each tell, once the trial is recorded (not saved in the checkpoint; an
        #: exception in one reaches the caller of tell, whose trial is recorded all the same)
        self.callbacks: list[Callable[[Study, Trial], Any]] = list(callbacks or [])

    # --- the event-made state (kept by the reducer) -------------------------------------
    @property
    def trials(self) -> list[Trial]:
        return self._st.trials

    @property
    def queue(self) -> list[dict[str, Any]]:
        return self._st.queue

    @property
    def meta(self) -> dict[str, Any]:
        """Free-form runtime bookkeeping kept in the checkpoint (time budget used, target, ...)."""
        return self._st.meta

    @property
    def settings(self) -> dict[str, Any]:
        return self._st.settings

    @property
    def _finished(self) -> list[Trial]:
        return self._st.finished

    @property
    def _running(self) -> dict[int, Trial]:
        return self._st.running

    @property
    def sampler(self) -> Sampler:
        if self._sampler is None:
            spec = self.sampler_spec
            if spec == "auto" and self.meta.get("auto_choice"):
                spec = self.meta["auto_choice"]  # decided once for the study: a resume keeps it
            self._sampler = make_sampler(spec)
            self._sampler.bind_seed(self.seed)
        return self._sampler

    def describe_sampler(self) -> str:
        """One line for the start of a sweep; ``auto`` decides here and the choice is recorded."""
        sampler = self.sampler
        chosen = sampler.prepare(self.space, self._context(len(self.trials)))
        if chosen is not None and chosen is not sampler and self.meta.get("auto_choice") != chosen.name:
            self.update_meta(auto_choice=chosen.name)
        if self.sampler_spec == "auto" and sampler.name != "auto":
            return f"auto -> {sampler.describe()} (as chosen when the study started)"
        return sampler.describe()

    @property
    def pruner(self) -> Pruner | None:
        if not self._pruner_built:
            self._pruner_built = True
            if self.pruner_spec not in (None, "none"):
                from hposweep.pruners import make_pruner

                self._pruner_obj = make_pruner(self.pruner_spec)
                self._pruner_obj.bind(seed=self.seed, direction=self.directions[0])
        return self._pruner_obj

    # --- properties ----------------------------------------------------------------------
    @property
    def direction(self) -> str:
        return self.directions[0]

    @property
    def is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    @property
    def path(self) -> str | None:
        return self._storage.path if self._storage else None

    @property
    def finished_trials(self) -> list[Trial]:
        """Complete, pruned and failed trials, in the order they finished."""
        return list(self._finished)

    @property
    def running_trials(self) -> list[Trial]:
        return list(self._running.values())

    @property
    def n_finished(self) -> int:
        """Finished trials that count toward the target: a failed trial retried by ``resume --retry-failed``
        no longer does (its retry counts instead); :attr:`finished_trials` still lists it."""
        return len(self._finished) - len(self._st.retired)

    def retry_failed(self) -> list[int]:
        """Queue the params of every failed trial not retried yet, ahead of new sampling and in trial-number
        order; those trials stop counting toward the target. Returns their numbers (empty: none failed).

        One journal event per trial (:func:`hposweep.study.retry.retry_event`), under one lock: a kill
        half-way leaves some queued and marked, and calling this again queues only the others.
        """
        with self._transaction():
            todo = retry_candidates(self.trials)
            for t in reversed(todo):  # each goes to the front of the queue: the lowest number ends up first
                self._emit(retry_event(t))
        return [t.number for t in todo]

    def trials_in(self, *states: TrialState) -> list[Trial]:
        return [t for t in self.trials if t.state in states]

    # --- constraints -----------------------------------------------------------------------
    @property
    def constraints(self) -> list[Constraint]:
        return list(self.feasibility.constraints)

    @property
    def feasibility(self) -> Feasibility:
        """The study's constraints as one object (kept while they do not change: samplers cache on it)."""
        exprs = tuple(self.settings.get("constraints") or ())
        if self._feasibility is None or tuple(map(str, self._feasibility.constraints)) != exprs:
            self._feasibility = Feasibility(parse_constraints(exprs), metric_names(self.settings, len(self.directions)))
        return self._feasibility

    def is_feasible(self, trial: Trial) -> bool:
        """A complete trial that meets every constraint (every complete trial, without constraints)."""
        return trial.state is TrialState.COMPLETE and (not self.settings.get("constraints")
                                                       or self.feasibility.is_feasible(trial))

    def infeasible_reason(self, trial: Trial) -> str | None:
        """Why a complete trial is infeasible; None for a feasible one (and for any other state)."""
        return self.feasibility.reason(trial) if self.settings.get("constraints") else None

    @property
    def best_trial(self) -> Trial | None:
        """The feasible complete trial with the best value (the first objective); None when there is none."""
        if self.is_multi_objective:
            raise StudyError("a multi-objective study has no single best trial", hint="use study.best_trials")
        sign = 1.0 if self.direction == "minimize" else -1.0
        best: Trial | None = None
        constrained = bool(self.settings.get("constraints"))
        for t in self.trials:
            if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value) and (
                    not constrained or self.feasibility.is_feasible(t)):
                if best is None or sign * t.value < sign * best.value:  # type: ignore[operator]  # best.value is finite: only such trials become best
                    best = t
        return best

    @property
    def best_trials(self) -> list[Trial]:
        """The Pareto front of feasible complete trials (for one objective: the best trial)."""
        complete = [t for t in self.trials if t.state is TrialState.COMPLETE and t.values]
        if not self.is_multi_objective:
            best = self.best_trial
            return [best] if best else []
        from hposweep.analysis.pareto import pareto_front_trials

        feasible = self.feasibility.is_feasible if self.settings.get("constraints") else None
        return pareto_front_trials(complete, self.directions, feasible)

    def trial(self, number: int) -> Trial:
        if not 0 <= number < len(self.trials):
            raise StudyError(f"no trial number {number} (the study has {len(self.trials)} trials)")
        return self.trials[number]

    # --- events --------------------------------------------------------------------------
    def ask(self, *, info: Mapping[str, Any] | None = None) -> Trial:
        """Start a new trial: queued params first (re-runs, enqueued), else the sampler's proposal."""
        trial = self.ask_within(None, info=info)
        assert trial is not None
        return trial

    def ask_within(self, target: int | None, *, info: Mapping[str, Any] | None = None) -> Trial | None:
        """Like :meth:`ask`, but None when finished plus running trials already reach ``target``.

        The check and the new trial happen under one lock, after reading what other workers wrote,
        so workers sharing a study never start more trials than the target between them.
        """
        with self._transaction():
            if target is not None:
                if self.n_finished + len(self._running) >= target:
                    return None
            number = len(self.trials)
            rng = self._rng(number)
            extra: dict[str, Any] = {}
            if self.queue:
                entry = self.queue[0]
                given = dict(entry.get("params", {}))
                missing = [p for p in self.space.searchable if p.name not in given]
                sampled = self.sampler.sample(self.space, self._context(number), rng) if missing else {}
                params = self.space.complete({**sampled, **given})
                extra = {k: v for k, v in entry.items() if k != "params"}
                self._emit({"op": "dequeue"})
            else:
                params = self.space.complete(self.sampler.sample(self.space, self._context(number), rng))
            trial_info = dict(info or {})
            trial_info.update(extra)
            trial = Trial(number=number, params=params, started_at=time.time(), info=trial_info)
            # Not fsync-ed: a started trial lost to a power cut is simply asked again; what must
            # survive one is a result (tell).
            self._emit({"op": "trial", "trial": trial.to_json()}, durable=False)
            return self.trials[number]

    def tell(
        self,
        trial: Trial | int,
        values: float | Sequence[float] | None = None,
        *,
        state: TrialState | str | None = None,
        info: Mapping[str, Any] | None = None,
        user_attrs: Mapping[str, Any] | None = None,
    ) -> Trial:
        """Finish a trial: a value (or one per objective), or ``state="failed" | "pruned" | "interrupted"``.

        A non-finite value makes the trial ``failed`` (it would poison every model built on it).
        A pruned trial without a value takes its last intermediate value.
        """
        with self._transaction():
            t = self._own(trial)
            if t.state is not TrialState.RUNNING:
                raise StudyError(f"trial {t.number} is already {t.state.value}; it cannot be told again")
            st = TrialState(state) if state is not None else (
                TrialState.COMPLETE if values is not None else TrialState.FAILED)
            vals = self._normalize_values(values)
            reason = None
            if st is TrialState.PRUNED and vals is None and t.intermediate:
                vals = [t.intermediate[t.curve_summary().last]]  # type: ignore[index]  # not empty: last is set
            if st is TrialState.COMPLETE:
                if vals is None:
                    raise StudyError("a complete trial needs a value", hint="pass a value, or state='failed'")
                bad = [v for v in vals if not math.isfinite(v)]
                if bad:
                    st, reason = TrialState.FAILED, f"objective value is {bad[0]}"
            new = Trial.from_json(t.to_json())
            new.state = st
            new.values = vals if st in (TrialState.COMPLETE, TrialState.PRUNED) else None
            if st in (TrialState.FAILED,) and vals is not None:
                new.info.setdefault("values_seen", [json_float(v) for v in vals])
            new.finished_at = time.time()
            if info:
                new.info.update(info)
            if reason:
                new.info.setdefault("reason", reason)
            if user_attrs:
                new.user_attrs.update(user_attrs)
            if st.is_finished:
                new.finish_seq = len(self._finished)
            self._emit({"op": "trial", "trial": new.to_json()})
            told = self.trials[t.number]
        for callback in self.callbacks:
            callback(self, told)
        return told

    def report(self, trial: Trial | int, step: int | float, value: float) -> None:
        """Record an intermediate value of the (first) objective at ``step``.

        A step is a whole or fractional number (``1.5``: half an epoch), kept as given; ``3.0`` is step 3.
        """
        with self._transaction(durable=False):
            t = self._own(trial)
            if t.state is not TrialState.RUNNING:
                raise StudyError(f"trial {t.number} is {t.state.value}; only running trials take reports")
            self._emit({"op": "report", "number": t.number, "step": as_step(step), "value": json_float(float(value))},
                       durable=False)

    def report_points(self, trial: Trial | int,
                      points: Mapping[int | float, float] | Sequence[tuple[int | float, float]], *,
                      until_pruned: bool = False) -> tuple[int, int | float | None]:
        """Record many intermediate values in order as one journal event (the runner: one per polling round).

        With ``until_pruned`` the pruner is asked after each point, exactly as if each had been a
        :meth:`report` followed by :meth:`should_prune`, and recording stops at the first step it prunes at.
        Returns how many points were recorded and the step pruned at (None: not pruned). A trial printing
        200,000 steps a second thus writes a few journal lines a second, never one per step.
        """
        if not points:
            return 0, None
        if isinstance(points, Mapping):
            steps, raw_values = list(points), list(points.values())
        else:
            steps, raw_values = [s for s, _ in points], [v for _, v in points]
        if set(map(type, steps)) != {int} or min(steps) < 0:  # (checking a million ints one by one is slow)
            steps = [as_step(s) for s in steps]
        values = list(map(float, raw_values))
        with self._transaction(durable=False):
            t = self._own(trial)
            if t.state is not TrialState.RUNNING:
                raise StudyError(f"trial {t.number} is {t.state.value}; only running trials take reports")
            pruned_at = None
            if until_pruned and self.pruner is not None:
                # Ask on the curve as it stands after each point, then put the curve back: the event applies it
                # (a write that fails, on a full disk, must leave the study as it was).
                curve = t.intermediate
                undo: list[tuple[int | float, Any]] = []
                others = [o for o in self.trials if o.number != t.number]
                try:
                    for i, (step, value) in enumerate(zip(steps, values, strict=True)):
                        old = curve.get(step, curve)  # the dict itself marks "absent"
                        undo.append((step, old))
                        curve[step] = value
                        if old is not curve:
                            t.curve_changed()
                        if self.pruner.should_prune(t, others):
                            pruned_at = step
                            del steps[i + 1:], values[i + 1:]
                            break
                finally:
                    for step, old in reversed(undo):
                        if old is curve:
                            del curve[step]
                        else:
                            curve[step] = old
                    t.curve_changed()
            stored = values if all(map(math.isfinite, values)) else [json_float(v) for v in values]
            self._emit({"op": "reports", "number": t.number, "steps": steps, "values": stored}, durable=False)
        return len(steps), pruned_at

    def report_metrics(self, trial: Trial | int, step: int | float | None, values: Mapping[str, float]) -> None:
        """Record other metrics' values at ``step`` (None: the step after each metric's last) in their histories."""
        self.report_metric_points(trial, {name: [(step, value)] for name, value in values.items()})

    def report_metric_points(self, trial: Trial | int,
                             points: Mapping[str, Sequence[tuple[int | float | None, float]]]) -> None:
        """Record many points of several metrics as one journal event (the runner: one per polling round).

        Each metric's history is bounded (:class:`~hposweep.core.history.MetricHistory`: the first and last
        1,000 points and an even thinning between); a trial printing a million lines makes one event a round.
        """
        packed = {str(name): [[s for s, _ in pts], [json_float(float(v)) for _, v in pts]]
                  for name, pts in points.items() if pts}
        if not packed:
            return
        with self._transaction(durable=False):
            t = self._own(trial)
            if t.state is not TrialState.RUNNING:
                raise StudyError(f"trial {t.number} is {t.state.value}; only running trials take reports")
            self._emit({"op": "metrics", "number": t.number, "points": packed}, durable=False)

    def metric_history(self, trial: Trial | int) -> dict[str, list[tuple[int | float, float]]]:
        """Every metric's curve of the trial: the first objective's intermediate values under its name, then
        each other metric's bounded history, as ``[(step, value), ...]``."""
        t = self._own(trial)
        from hposweep.core.objectives import metric_names

        first = metric_names(self.settings, len(self.directions))[0]
        out: dict[str, list[tuple[int | float, float]]] = {}
        if t.intermediate:
            out[first] = sorted(t.intermediate.items())
        for name, h in self._st.history(t.number).items():
            out.setdefault(name, h.points())
        return out

    def should_prune(self, trial: Trial | int) -> bool:
        """Ask the pruner about a running trial's latest report. Pure: changes nothing."""
        if self.pruner is None:
            return False
        t = self._own(trial)
        if not t.intermediate:
            return False
        others = [o for o in self.trials if o.number != t.number]
        return bool(self.pruner.should_prune(t, others))

    def enqueue(self, params: Mapping[str, Any], **extra: Any) -> None:
        """The next ask() uses these values; parameters left out are sampled."""
        params = dict(params)
        for name, value in params.items():
            if name not in self.space:
                raise ConfigError(f"enqueued parameter '{name}' is not in the space")
            p = self.space[name]
            if not p.contains(value):
                raise ConfigError(f"enqueued value {value!r} is outside the space", param=name)
        with self._transaction():
            self._emit({"op": "enqueue", "entry": {"params": params, **extra}})

    def update_meta(self, **fields: Any) -> None:
        """Record runtime bookkeeping (time budget used, target trial count, ...) in the checkpoint."""
        with self._transaction():
            self._emit({"op": "meta", "fields": fields})

    def update_settings(self, **fields: Any) -> None:
        """Change recorded settings (``resume --timeout 2h``) as one durable ``settings`` event, so they hold
        from now on even if this process is killed before it compacts."""
        with self._transaction():
            self._emit({"op": "settings", "fields": fields})

    def update_info(self, trial: Trial | int, **fields: Any) -> None:
        """Add to a trial's info (heartbeat, pid, ...) without changing its state."""
        with self._transaction(durable=False):
            t = self._own(trial)
            self._emit({"op": "info", "number": t.number, "fields": fields}, durable=False)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the checkpoint's lock across several calls (one lock round trip instead of many)."""
        with self._transaction():
            yield

    def refresh(self) -> None:
        """Apply what other processes (workers sharing the file) wrote since we last looked."""
        with self._transaction():
            pass

    def reap_expired(self, lease: float, *, now: float | None = None) -> list[int]:
        """Running trials whose heartbeat is older than ``lease`` seconds lost their worker
        (SIGKILL, lost node): mark them interrupted and queue their params first for a re-run.

        The heartbeat is wall-clock time written by the worker running the trial; workers on
        several machines therefore need clocks in sync to well under the lease (NTP does that).
        """
        now = time.time() if now is None else now
        with self._transaction():
            expired = [t.number for t in self._running.values()
                       if now - float(t.info.get("heartbeat") or t.started_at or now) > lease]
            if expired:
                self.recover_running(expired, reason=f"its worker stopped sending heartbeats (lease {lease:g}s)")
        return expired

    def sampler_exhausted(self) -> bool:
        return not self.queue and self.sampler.exhausted(self.space, self._context(len(self.trials)))

    # --- internals -----------------------------------------------------------------------
    def _rng(self, number: int) -> Any:
        import numpy as np

        return np.random.default_rng([self.seed, number])

    def _context(self, number: int) -> SamplingContext:
        return SamplingContext(
            number=number,
            finished=self._finished,
            running=list(self._running.values()),
            directions=self.directions,
            n_trials=self.meta.get("target_trials") or self.settings.get("trials"),
            n_jobs=int(self.settings.get("jobs") or 1),
            prior=self.prior_trials,
            violation=self.feasibility.violation if self.settings.get("constraints") else None,
        )

    def _own(self, trial: Trial | int) -> Trial:
        number = trial if isinstance(trial, int) else trial.number
        return self.trial(number)

    def _normalize_values(self, values: float | Sequence[float] | None) -> list[float] | None:
        if values is None:
            return None
        try:
            # Any scalar (numpy's float32/int64 and 0-d arrays included) is one value; else a sequence.
            scalar = isinstance(values, (int, float, str)) or getattr(values, "ndim", None) == 0
            items: Sequence[Any] = [values] if scalar or not hasattr(values, "__iter__") else values  # type: ignore[assignment]  # a scalar or a sequence, told apart above
            vals = [float(v) for v in items]
        except (TypeError, ValueError):
            raise StudyError(f"values must be numbers, got {values!r}") from None
        if len(vals) != len(self.directions):
            raise StudyError(
                f"expected {len(self.directions)} value(s), one per objective, got {len(vals)}"
            )
        return vals

    @contextmanager
    def _transaction(self, durable: bool = True) -> Iterator[None]:
        if self._storage is None:
            yield
            return
        with self._storage.locked():
            self._sync()
            yield
            if self._storage.wants_compaction():
                self._storage.compact(self._state())  # postponed (not failed) on a full disk

    def _sync(self) -> None:
        """Apply what other processes wrote since we last looked (we hold the lock)."""
        assert self._storage is not None
        if self._storage.changed_elsewhere():
            loaded = read_checkpoint(self._storage.path)
            self._storage.check_same_study(loaded.state)  # replaced or taken over: stop before writing
            self._st.reset_from(loaded.state)
            for ev in loaded.events:
                self._st.apply(ev)
            self._storage.attach(loaded)
        else:
            for ev in self._storage.read_new():
                self._st.apply(ev)

    def _emit(self, event: dict[str, Any], durable: bool = True) -> None:
        """Record the event first, then apply it: a failed write (a full disk) leaves the study as it was."""
        if self._storage is not None:
            self._storage.append(event, durable=durable)
        self._st.apply(event)

    # --- persistence ---------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "hposweep_version": __version__,
            "study_id": self.study_id,
            "generation": self.generation,
            "created_at": self.created_at,
            "space": self.space.to_json(),
            "directions": list(self.directions),
            "seed": self.seed,
            "sampler": self.sampler_spec,
            "pruner": self.pruner_spec,
            **self._st.to_json(),
            # written at creation and never changed; an older hposweep ignores the key
            **({"prior_trials": [t.to_json() for t in self.prior_trials]} if self.prior_trials else {}),
        }

    def to_json(self) -> dict[str, Any]:
        """The whole study as one JSON-able dict (the checkpoint's content)."""
        return self._state()

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False, group_writable: bool = False,
             lock: str | None = None) -> None:
        """Write the whole study to ``path`` and keep it as this study's checkpoint from now on.

        The study is created under the lock and with an exclusive create, so of two processes creating
        a study at one new path exactly one succeeds; the other gets a StudyError ("already exists").
        Saving again over this same study's files is fine; over another study's only with ``overwrite``.
        ``group_writable`` makes the files 0660 (default 0600); ``lock``: ``auto``, ``fcntl`` or ``lease``.
        """
        storage = Storage(path, group_writable=group_writable, lock=lock)
        with storage.locked():
            existing = None
            try:
                existing = storage.existing_study()
            except StorageError:
                raise
            except CheckpointError:
                if not overwrite:
                    raise StudyError(f"{storage.path} already exists and is not this study's checkpoint",
                                     hint="choose another path, or remove that file") from None
            exists = existing is not None or os.path.lexists(storage.path)
            same = existing is not None and existing.get("study_id") == self.study_id
            if exists and not same and not overwrite:
                raise StudyError(
                    f"{storage.path} already exists",
                    hint=f"continue it with `hposweep resume {storage.path}`, or choose another path",
                )
            if exists and not same:
                # Another study's journal must not outlive it beside our snapshot (a kill between our
                # snapshot and our new journal would otherwise pair them).
                try:
                    os.unlink(storage.path + ".journal")
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    from hposweep.study.storage import write_error

                    raise write_error(storage.path + ".journal", exc) from None
            try:
                storage.write_snapshot(self._state(), exclusive=not exists)
            except FileExistsError:
                raise StudyError(
                    f"{storage.path} already exists (another process created it just now)",
                    hint=f"continue it with `hposweep resume {storage.path}`, or choose another path",
                ) from None
        if self._storage is not None:
            self._storage.close()
        self._storage = storage

    def close(self) -> None:
        """Fold the journal into the snapshot (a tidy file for `best`, `report`) and release it.

        On a full disk the journal stays as it is: it already holds every event.
        """
        if self._storage is None:
            return
        with self._storage.locked():
            self._sync()
            self._storage.compact(self._state())
        self._storage.close()

    def held_by(self, lease: float) -> list[dict[str, Any]]:
        """Who else is using this study's checkpoint now: the lock's holder, and each worker whose running
        trials are alive (a heartbeat within ``lease`` seconds and, on this host, its process still there),
        as ``{"worker", "host", "pid", "trials", "heartbeat_age"}``. Empty when nobody is (``--force`` is
        safe). The same rule as ``run --force`` and ``resume`` apply (:func:`~hposweep.study.holders.live_holders`).

        For ``run --force`` / ``--takeover``: refuse to replace a study that is held, unless asked to
        take it over (:meth:`take_over`), after which the old workers stop at their next sync.
        """
        from hposweep.study.holders import live_holders

        return live_holders(self, lease=lease)

    def take_over(self) -> None:
        """Start a new generation of this study: every other process attached to it stops writing at
        its next sync (it finds another generation at the path), and its running trials are re-run."""
        if self._storage is None:
            raise StudyError("take_over() needs a study attached to a checkpoint")
        with self._storage.locked():
            self._sync()
            self.generation += 1
            self._storage.write_snapshot(self._state())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, recover: bool = True, readonly: bool = False,
             lock: str | None = None, group_writable: bool = False) -> Study:
        """Load a checkpoint. With ``recover``, trials left running by a dead process become
        ``interrupted`` and their params are queued first, so the next ask() re-runs them.

        ``readonly`` loads without taking the lock or attaching (for ``best``, ``trials``, reports).
        A writer also moves damaged journal lines to ``FILE.quarantine`` and converts an old-format
        checkpoint (format 1, without checksums or ids) to the current format.
        """
        path = os.fspath(path)
        if readonly:
            loaded = read_checkpoint(path)
            if loaded.damaged:
                report_damage(path, loaded.damaged, moved=False)
            return cls._from_loaded(loaded, path)
        if not looks_like_checkpoint(path):
            read_snapshot(path)  # the precise error, before a lock file appears beside a foreign file
        storage = Storage(path, lock=lock, group_writable=group_writable)
        with storage.locked():
            loaded = read_checkpoint(path)  # re-read under the lock: a writer may have moved on
            study = cls._from_loaded(loaded, path)
            storage.attach(loaded)
            study._storage = storage
            if loaded.damaged:
                storage.quarantine(loaded.damaged)
                report_damage(path, loaded.damaged, moved=True)
            if loaded.damaged or int(loaded.state.get("format_version", 1)) < FORMAT_VERSION:
                storage.write_snapshot(study._state())  # damaged lines leave the journal; ids and CRCs added
        if recover:
            study.recover_running()
        return study

    @classmethod
    def _from_loaded(cls, loaded: Loaded, path: str) -> Study:
        state = loaded.state
        try:
            space = SearchSpace.from_json(state["space"])
            study = cls(
                space,
                directions=state.get("directions") or ["minimize"],
                sampler=state.get("sampler"),
                pruner=state.get("pruner"),
                seed=state.get("seed"),
                settings=state.get("settings"),
            )
        except (ConfigError, TypeError, ValueError, AttributeError, KeyError) as exc:  # a hand-edited file
            raise CheckpointError(f"{path}: the checkpoint's study settings are invalid: {exc}") from None
        study.created_at = state.get("created_at") or study.created_at
        if isinstance(state.get("study_id"), str):  # format 1 has none: the conversion keeps the new one
            study.study_id = state["study_id"]
            study.generation = int(state.get("generation") or 1)
        study.damaged = list(loaded.damaged)
        try:
            study.prior_trials = [Trial.from_json(t) for t in state.get("prior_trials") or []]
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise CheckpointError(f"{path}: the checkpoint's warm-start priors are invalid: {exc}") from None
        study.loaded_from = path
        # Building ~10^5 small objects: the cyclic GC would run dozens of times for nothing.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            study._st.reset_from(state)
            for ev in loaded.events:
                if not study.damaged:
                    study._st.apply(ev)
                    continue
                try:  # after a damaged line, an event that no longer fits is skipped, not fatal
                    study._st.apply(ev)
                except (CheckpointError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                    from hposweep.study.storage import Damaged, dumps

                    study.damaged.append(Damaged(-1, f"does not follow once a damaged line is skipped: {exc}",
                                                 dumps(ev)))
            if study._pruner_obj is not None:  # a resumed study settles the pruner's automatic settings at once
                study._pruner_obj.observe(study.trials)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise CheckpointError(f"{path}: the checkpoint is corrupt ({type(exc).__name__}: {exc})") from None
        except CheckpointError as exc:  # raised by the reducer, which does not know the file name
            raise CheckpointError(f"{path}: {exc.message}", hint=exc.hint) from None
        finally:
            if gc_was_enabled:
                gc.enable()
        return study

    def recover_running(self, numbers: Sequence[int] | None = None, reason: str = "its process died") -> list[int]:
        """Mark running trials (all, or ``numbers``) interrupted and queue their params first.

        One event for all of them: a kill can never leave a trial interrupted without its re-run
        queued, nor queue a re-run twice.
        """
        with self._transaction():
            targets = [t for t in self._running.values() if numbers is None or t.number in numbers]
            if not targets:
                return []
            trials = []
            for t in targets:
                new = Trial.from_json(t.to_json())
                new.state = TrialState.INTERRUPTED
                new.finished_at = time.time()
                new.info.setdefault("reason", reason)
                trials.append(new.to_json())
            # a re-run of a repeat stays a repeat of the same trial, with the same seed; of a retry, a retry
            requeue = [{"params": t.params, "rerun_of": t.number,
                        **{k: t.info[k] for k in (*RETRY_CARRIED, RETRY_OF) if k in t.info}} for t in targets]
            self._emit({"op": "recover", "trials": trials, "requeue": requeue})
        return [t.number for t in targets]
