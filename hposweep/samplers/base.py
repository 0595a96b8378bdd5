"""The sampler interface: numbers in, parameters out, no I/O.

A sampler is asked for trial ``ctx.number``'s parameters given the trials that finished before it
(in the order they finished) and the ones still running. The Study hands it a random generator
seeded from ``(study seed, trial number)``: with that rule, trial k's params depend only on the
seed, k and the finished trials, so a resumed study proposes what an uninterrupted one would.

``ctx.finished`` only ever grows at the end between two calls of one study, so a sampler may cache
work on its prefix (encoded arrays, sorted values) and only process what is new.

Two more things a study may hand over:

* ``ctx.prior``: finished trials of earlier studies (a warm start), fixed for the study's life and
  numbered -1, -2, ... so they can never be mistaken for this study's trials. They are observations,
  not trials: each sampler uses them its own way (:func:`observations` puts them before the finished
  trials, which is what TPE, GP and NSGA-II want) and random and grid ignore them.
* ``ctx.violation``: how far a trial is from meeting the study's outcome constraints (0: feasible),
  or None when the study has none. Only complete trials are ever infeasible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from hposweep.core.space import SearchSpace
    from hposweep.core.trial import Trial


@dataclass
class SamplingContext:
    number: int
    #: complete, pruned and failed trials, in the order they finished
    finished: Sequence[Trial]
    #: trials asked but not yet told (their params are known, their values not)
    running: Sequence[Trial]
    #: "minimize"/"maximize" per objective
    directions: tuple[str, ...] = ("minimize",)
    #: the study's target number of trials, when known (lets `auto` and grid plan)
    n_trials: int | None = None
    #: trials run at once (lets `auto` plan)
    n_jobs: int = 1
    #: finished trials of earlier studies (warm start): observations, never this study's trials
    prior: Sequence[Trial] = ()
    #: constraint violation of a trial (0.0: feasible); None when the study has no constraints
    violation: Callable[[Trial], float] | None = None


def observations(ctx: SamplingContext) -> Sequence[Trial]:
    """The prior observations, then the finished trials: what a model-based sampler learns from.

    The priors come first and never change, so the list still only grows at its end between asks
    (the caches keyed on its prefix stay valid).
    """
    if not ctx.prior:
        return ctx.finished
    return [*ctx.prior, *ctx.finished]


def is_infeasible(ctx: SamplingContext, t: Trial) -> bool:
    return ctx.violation is not None and ctx.violation(t) > 0


class Sampler:
    """Base class. Subclasses implement :meth:`sample`; options are their ``__init__`` keywords."""

    name = "base"

    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        """Return a value for each parameter to try; inactive ones are dropped by the space."""
        raise NotImplementedError

    def exhausted(self, space: SearchSpace, ctx: SamplingContext) -> bool:
        """True when the sampler has nothing new to propose (a finished grid)."""
        return False

    def describe(self) -> str:
        """One line for the start of a sweep (``auto`` says what it chose and why)."""
        return self.name

    # --- hooks the Study calls on every sampler; the defaults do nothing ------------------------
    def bind_seed(self, seed: int | None) -> None:
        """Called once, before the first ``sample``, with the study's seed (None: unseeded).

        Samplers that keep state across asks (a CMA-ES run, a grid order) derive it from this seed so
        that a resumed study continues the same sequence; per-trial randomness comes from ``rng``.
        """

    def prepare(self, space: SearchSpace, ctx: SamplingContext) -> Sampler | None:
        """Called before a sweep starts; a meta-sampler (``auto``) decides here and returns its choice."""
        return None

    #: what ``__init__`` was called with (see :meth:`_record_options`)
    _given: Mapping[str, Any] = {}

    def _record_options(self, given: Mapping[str, Any]) -> None:
        """Keep the keywords ``__init__`` received: call ``self._record_options(locals())`` as its first line."""
        self._given = {k: v for k, v in given.items() if k not in ("self", "__class__")}

    def options(self) -> dict[str, Any]:
        """The option values this sampler was built with that differ from the defaults (JSON-able keywords
        of ``__init__``), so that ``make_sampler(x.spec())`` builds an equal sampler."""
        from hposweep.core.registry import given_options

        return given_options(type(self), self._given)

    def spec(self) -> str | dict[str, Any]:
        """What the checkpoint records to rebuild this sampler: its name, or ``{name, **options}``."""
        opts = self.options()
        return {"name": self.name, **opts} if opts else self.name

    @classmethod
    def option_names(cls) -> list[str]:
        from hposweep.core.registry import option_names

        return option_names(cls)
