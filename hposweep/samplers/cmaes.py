"""CMA-ES (``sampler: cmaes``), through the optional ``cmaes`` package.

Install with ``pip install "hposweep[cmaes]"`` (or ``pip install cmaes``); without it, choosing this
sampler is a ConfigError that says so.

How it fits hposweep's ask/tell model, and why:

* **Coordinates.** Numeric parameters live in the unit cube of the codec's cell coordinate
  (``hposweep.core.codec``): floats by their internal coordinate (log for log-scaled ones); ints and
  stepped floats by *cells*, one per legal value (log ints by the half-cell rule), so the end values
  are as reachable as the middle ones. CMA-ES runs in that cube with bounds.
* **Categoricals** are not CMA-ES's business: each one is drawn uniformly at random for every trial
  (use ``tpe``, or ``auto``, for spaces where categoricals matter). Parameters inactive in a trial
  are fed back at the middle of their range.
* **State = replay.** The optimizer's state is a pure function of the study seed and the finished
  trials: they are fed, in the order they finished, ``population_size`` at a time, to a fresh
  optimizer. A resumed study, or a sampler object created again, rebuilds exactly the same state;
  the replay is cached so each ask only feeds what finished since the last one.
* **Asks.** Trial ``k`` is a draw from the current search distribution with the generator seeded by
  ``(seed, k)``: parallel asks differ, and trial ``k`` depends only on the seed, ``k`` and the trials
  finished before it (the seeding rule holds exactly). The one deviation from textbook CMA-ES:
  generations are cut by finish order, so with parallel workers a trial sampled from generation ``g``
  may be counted in generation ``g + 1`` (CMA-ES tolerates such "injected" solutions).
* **Values.** Complete and pruned trials count with their value; failed ones as the worst value seen
  so far (skipped while nothing has a value yet).
* **Restarts (IPOP).** When a generation meets CMA-ES's own stopping tests, or the step size has
  shrunk below 1e-3 of the range, or the best value per generation has not improved for
  ``10 + 30 * dim / population`` generations, the optimizer restarts from a random mean with the
  population multiplied by ``inc_popsize`` (``restart_strategy: none`` keeps going instead).
* **Warm start.** Prior observations (``ctx.prior``) are not fed to the optimizer (they were not
  drawn from its distribution, which would bias its covariance update); they set where the first run
  starts: the mean of the best quarter of them (at least 2, or the one) and a step size of their
  spread (mean per-coordinate standard deviation, at least 0.05, at most ``sigma0``). Restarts
  start from random means as usual.
* **Constraints.** An infeasible trial counts as the worst value seen, as a failed one does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hposweep.core.codec import ParamCodec
from hposweep.core.space import NumericParam
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError
from hposweep.samplers.base import Sampler, SamplingContext
from hposweep.samplers.random import sample_param

if TYPE_CHECKING:
    from hposweep.core.space import SearchSpace

RESTART_STRATEGIES = ("ipop", "none")
_MIN_SIGMA = 1e-3


def _require_cmaes() -> Any:
    try:
        import cmaes
    except ImportError:
        raise ConfigError(
            "sampler 'cmaes' needs the optional package 'cmaes', which is not installed",
            hint='pip install "hposweep[cmaes]"  (or: pip install cmaes), or use sampler: gp / tpe',
        ) from None
    return cmaes


@dataclass(frozen=True)
class _Codec:
    """The numeric parameters in the codec's cell coordinate (the unit cube CMA-ES searches)."""

    params: tuple[ParamCodec, ...]

    def encode(self, values: dict[str, Any]) -> np.ndarray:
        """A trial's point; a parameter inactive in it (or not encodable) sits at the middle."""
        x = np.array([c.encode(values[c.param.name], "cell") if c.param.name in values else 0.5 for c in self.params])
        return np.where(np.isnan(x), 0.5, x)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        return {c.param.name: c.from_cell(min(max(float(z), 0.0), 1.0)) for c, z in zip(self.params, x, strict=True)}


@dataclass
class _Replay:
    """The optimizer rebuilt from the finished trials, and how far the replay got."""

    opt: Any
    popsize: int
    restarts: int = 0
    consumed: int = 0
    buffer: list[tuple[np.ndarray, float]] = field(default_factory=list)
    gen_bests: list[float] = field(default_factory=list)
    worst: float | None = None
    first_number: int | None = None


class CmaEsSampler(Sampler):
    """CMA-ES with IPOP restarts over the numeric parameters (see the module docstring)."""

    name = "cmaes"

    def __init__(self, sigma0: float = 0.25, population_size: int | None = None,
                 restart_strategy: str = "ipop", inc_popsize: int = 2) -> None:
        self._record_options(locals())
        _require_cmaes()
        if not isinstance(sigma0, (int, float)) or isinstance(sigma0, bool) or not 0 < sigma0 <= 1:
            raise ValueError(f"sigma0 must be in (0, 1] (a fraction of each range), got {sigma0!r}")
        if population_size is not None and (isinstance(population_size, bool) or int(population_size) < 2):
            raise ValueError(f"population_size must be an integer >= 2, got {population_size!r}")
        if restart_strategy not in RESTART_STRATEGIES:
            raise ValueError(f"restart_strategy must be one of {', '.join(RESTART_STRATEGIES)}, "
                             f"got {restart_strategy!r}")
        if isinstance(inc_popsize, bool) or int(inc_popsize) < 1:
            raise ValueError(f"inc_popsize must be a positive integer, got {inc_popsize!r}")
        self.sigma0 = float(sigma0)
        self.population_size = int(population_size) if population_size is not None else None
        self.restart_strategy = restart_strategy
        self.inc_popsize = int(inc_popsize)
        self._seed = 0
        self._space: SearchSpace | None = None
        self._codec: _Codec | None = None
        self._replay: _Replay | None = None
        #: (mean, sigma) of the first run, from the warm-start priors; None: the centre and sigma0
        self._start: tuple[np.ndarray, float] | None = None
        self._start_key: tuple[int, int | None] = (0, None)
        self._violation: Any = None

    def bind_seed(self, seed: int | None) -> None:
        """Called by the Study: restart means and the optimizer seed derive from the study seed (None: 0)."""
        self._seed = int(seed) if seed is not None else 0
        self._replay = None

    def describe(self) -> str:
        return f"cmaes (restarts {self.restart_strategy})"

    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        if len(ctx.directions) > 1:
            raise ConfigError("cmaes supports one objective; use tpe or nsga2",
                              hint="set sampler: tpe (or nsga2) for a multi-objective study")
        codec = self._codec_for(space)
        out: dict[str, Any] = {}
        if codec.params:
            self._use_prior(ctx)
            if ctx.violation is not self._violation:
                self._violation, self._replay = ctx.violation, None
            state = self._replayed(ctx.finished, 1.0 if ctx.directions[0] == "minimize" else -1.0)
            state.opt.reseed_rng(int(rng.integers(2**31 - 1)))
            out.update(codec.decode(state.opt.ask()))
        for p in space.searchable:
            if p.name not in out:
                out[p.name] = sample_param(p, rng)  # categoricals: uniform (documented fallback)
        return out

    def _use_prior(self, ctx: SamplingContext) -> None:
        """Set the first run's mean and step size from the best priors (once per set of priors)."""
        key = (len(ctx.prior), ctx.prior[0].number if ctx.prior else None)
        if key == self._start_key:
            return
        self._start_key, self._replay, self._start = key, None, None
        sign = 1.0 if ctx.directions[0] == "minimize" else -1.0
        valued = [(sign * float(t.values[0]), t) for t in ctx.prior
                  if t.state is TrialState.COMPLETE and t.values and math.isfinite(t.values[0])
                  and (ctx.violation is None or ctx.violation(t) <= 0)]
        if not valued:
            return
        valued.sort(key=lambda vt: vt[0])
        best = valued[:max(2, len(valued) // 4)]
        assert self._codec is not None
        x = np.array([self._codec.encode(t.params) for _, t in best])
        mean = x.mean(axis=0)
        sigma = float(np.clip(x.std(axis=0).mean(), 0.05, self.sigma0)) if len(x) > 1 else self.sigma0 / 2
        self._start = (np.clip(mean, 0.0, 1.0), sigma)

    # --- replay -----------------------------------------------------------------------------
    def _codec_for(self, space: SearchSpace) -> _Codec:
        if self._space is not space or self._codec is None:
            self._space = space
            self._codec = _Codec(tuple(ParamCodec.of(p) for p in space.searchable if isinstance(p, NumericParam)))
            self._replay, self._start_key = None, (-1, None)
        return self._codec

    def _new_optimizer(self, restarts: int) -> _Replay:
        cmaes = _require_cmaes()
        assert self._codec is not None
        dim = len(self._codec.params)
        base = self.population_size or 4 + math.floor(3 * math.log(dim))
        popsize = base * self.inc_popsize ** restarts
        sigma = self.sigma0
        if restarts == 0 and self._start is not None:
            mean, sigma = self._start
        elif restarts == 0:
            mean = np.full(dim, 0.5)
        else:
            mean = np.random.default_rng([self._seed, restarts, 0xC3A]).uniform(0.0, 1.0, dim)
        bounds = np.tile([0.0, 1.0], (dim, 1))
        opt = cmaes.CMA(mean=mean, sigma=sigma, bounds=bounds, seed=(self._seed + restarts) % 2**31,
                        population_size=popsize)
        return _Replay(opt=opt, popsize=popsize, restarts=restarts)

    def _replayed(self, finished: Sequence[Trial], sign: float) -> _Replay:
        state = self._replay
        stale = state is None or state.consumed > len(finished) or (
            state.consumed > 0 and finished[0].number != state.first_number)
        if stale:
            state = self._new_optimizer(0)
        assert state is not None
        for t in finished[state.consumed:]:
            state = self._feed(state, t, sign)
        state.consumed = len(finished)
        state.first_number = finished[0].number if finished else None
        self._replay = state
        return state

    def _feed(self, state: _Replay, t: Trial, sign: float) -> _Replay:
        assert self._codec is not None
        value = None
        infeasible = self._violation is not None and t.state is TrialState.COMPLETE and self._violation(t) > 0
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.values and math.isfinite(t.values[0]) \
                and not infeasible:
            value = sign * float(t.values[0])
            state.worst = value if state.worst is None else max(state.worst, value)
        elif state.worst is not None:
            value = state.worst
        if value is None:
            return state
        state.buffer.append((self._codec.encode(t.params), value))
        if len(state.buffer) < state.popsize:
            return state
        state.gen_bests.append(min(v for _, v in state.buffer))
        state.opt.tell(state.buffer)
        state.buffer = []
        if self.restart_strategy == "ipop" and self._stalled(state):
            fresh = self._new_optimizer(state.restarts + 1)
            fresh.worst = state.worst
            fresh.consumed, fresh.first_number = state.consumed, state.first_number
            return fresh
        return state

    def _stalled(self, state: _Replay) -> bool:
        opt = state.opt
        if opt.should_stop():
            return True
        if float(opt._sigma) * float(np.sqrt(np.max(np.diag(opt._C)))) < _MIN_SIGMA:
            return True
        assert self._codec is not None
        patience = 10 + math.ceil(30 * len(self._codec.params) / state.popsize)
        bests = state.gen_bests
        if len(bests) > patience:
            return min(bests[-patience:]) >= min(bests[:-patience])
        return False
