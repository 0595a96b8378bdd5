"""``sampler: auto``: pick a sampler from the space, the trial budget and the parallelism, once.

The rule (first match wins; ``d`` = searchable parameters, ``budget`` = the study's target number of
trials, taken as 100 when unknown):

1. several objectives                       -> ``tpe`` (MOTPE, one kernel per parameter; see below)
2. nothing to search                        -> ``random``
3. conditional parameters (``when:``)       -> ``tpe``   (models each active group separately)
4. only categoricals                        -> ``tpe``   (no distance for a GP or CMA-ES to use)
5. ``d <= 20``, at most as many categoricals as numbers, ``budget <= 400`` and ``jobs <= 16``
                                            -> ``gp``    (most sample-efficient in small budgets)
6. no categoricals, ``budget >= 1000``, and the ``cmaes`` package installed
                                            -> ``cmaes`` (cheap asks, keeps improving in long runs)
7. otherwise                                -> ``tpe``

Why (``scripts/bench_gp.py`` and ``../shared/bench/compare.py``): the GP leads on continuous and
mixed problems up to a few hundred trials (mean rank over 7 problems x 10 seeds at 25/50/100 trials:
gp 2.29/1.29/2.00, tpe 3.86/3.00/2.57, cmaes 4.86/5.57/5.43, among 7 samplers with Optuna's);
its asks get slower and its advantage shrinks past that (the model is capped at 300 points), and
with many parallel workers most of each batch is proposed on fantasies. TPE handles conditional,
categorical-heavy, high-dimensional and long runs at a constant cost per ask. CMA-ES ranked last of
hposweep's samplers up to 100 trials, so it is only chosen for long all-numeric runs (1000+ trials,
not measured here), where its cheap asks and restarts are its strengths.

Several objectives (``scripts/bench_multiobjective.py``: ZDT1-3, DTLZ1/2/7, a mixed int/log/categorical
problem, a numpy MLP's validation loss vs size; normalised hypervolume, issue 18): at 100 trials over 10
seeds ``tpe`` is 0.047 above Optuna's better sampler per problem on average (its TPE or NSGA-II) and
above ``nsga2`` with a population of 20 on 7 of 8 (DTLZ1, multimodal, the exception: 0.698 vs 0.738).
NSGA-II catches up with the budget (5 seeds; mean over the 8 problems, ``tpe`` vs ``nsga2`` population
20): 0.773 vs 0.752 at 100 trials, 0.835 vs 0.829 at 200, 0.851 vs 0.862 at 300, where it is ahead on
5 of 8 but behind on DTLZ2, ZDT3 and the MLP (the real trade-off); no budget switch is better on all
of them, so ``tpe`` stays the choice at every budget.

Rules 4 and 5 on real tabular MLP surfaces (issue 18; ``scripts/bench_tabular.py``: an FCNet-like grid
trained for real on digits, breast_cancer and wine, 3 seeds per configuration, each trial returning one
recorded seed; 10 seeds, 25/50/100 trials): with every hyperparameter written as a list of choices, rule 4's
``tpe`` and a one-hot ``gp`` were within noise of each other at every budget (two-sided rank-sum p >= 0.12 on
the reported pick; gp found better configurations on digits, tpe reported better ones on breast_cancer); with
numeric ranges, rule 5's ``gp`` had the better mean than ``tpe`` in 8 of 9 (surface, budget) cells (significant
only on wine at 25, p = 0.02). ``auto`` was best or within noise of Optuna 5's TPE on all 6 surfaces at every
budget, and by the best configuration it *evaluated* it was ahead of Optuna's TPE in the mean on all 6 at 50
and 100 trials: where Optuna's TPE reports a better pick (wine, breast_cancer numeric), the difference is a
lucky training seed being reported as the best trial, not a worse search. Neither rule was changed.

The choice is made once per study, from the space, the budget and ``jobs`` at the first ask (or at
:meth:`AutoSampler.prepare`), never per trial, and :meth:`describe` states it:
``auto -> gp (6 numeric params, budget 50)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hposweep.core.space import CategoricalParam
from hposweep.errors import ConfigError
from hposweep.samplers.base import Sampler, SamplingContext

if TYPE_CHECKING:
    import numpy as np

    from hposweep.core.space import SearchSpace

GP_MAX_DIM = 20
GP_MAX_BUDGET = 400
GP_MAX_JOBS = 16
CMAES_MIN_BUDGET = 1000
DEFAULT_BUDGET = 100


@dataclass(frozen=True)
class Choice:
    """What ``auto`` picked and the facts it picked it from."""

    name: str
    reason: str


def choose(space: SearchSpace, n_trials: int | None = None, n_jobs: int = 1,
           directions: tuple[str, ...] = ("minimize",)) -> Choice:
    """The rule of the module docstring, as a pure function (tests and ``describe`` use it)."""
    budget = n_trials if n_trials else DEFAULT_BUDGET
    budget_txt = f"budget {n_trials}" if n_trials else f"budget unknown, taken as {DEFAULT_BUDGET}"
    d = len(space.searchable)
    n_cat = sum(isinstance(p, CategoricalParam) for p in space.searchable)
    n_num = d - n_cat
    if len(directions) > 1:
        return Choice("tpe", f"{len(directions)} objectives")
    if d == 0:
        return Choice("random", "no parameter to search")
    if space.is_conditional:
        return Choice("tpe", f"{d} params, conditional")
    if n_num == 0:
        return Choice("tpe", f"{d} categorical params")
    what = f"{n_num} numeric" + (f" + {n_cat} categorical" if n_cat else "") + " params"
    if d <= GP_MAX_DIM and n_cat <= n_num and budget <= GP_MAX_BUDGET and n_jobs <= GP_MAX_JOBS:
        return Choice("gp", f"{what}, {budget_txt}")
    if n_cat == 0 and budget >= CMAES_MIN_BUDGET and _cmaes_installed():
        return Choice("cmaes", f"{what}, {budget_txt}")
    jobs_txt = f", {n_jobs} jobs" if n_jobs > GP_MAX_JOBS else ""
    return Choice("tpe", f"{what}, {budget_txt}{jobs_txt}")


def _available(name: str) -> bool:
    from hposweep.samplers import SAMPLERS

    return name in SAMPLERS


def _cmaes_installed() -> bool:
    import importlib.util

    return _available("cmaes") and importlib.util.find_spec("cmaes") is not None


class AutoSampler(Sampler):
    """Delegates to the sampler :func:`choose` picks; the pick is fixed at the first ask."""

    name = "auto"

    def __init__(self) -> None:
        self._seed: int | None = None
        self._choice: Choice | None = None
        self._delegate: Sampler | None = None

    def bind_seed(self, seed: int | None) -> None:
        """The study's seed, passed on to the chosen sampler (now, or when it is chosen)."""
        self._seed = int(seed) if seed is not None else None
        if self._delegate is not None:
            self._delegate.bind_seed(self._seed)

    def prepare(self, space: SearchSpace, ctx: SamplingContext) -> Sampler:
        """Make (once) and return the chosen sampler; call it before :meth:`describe` to print the pick."""
        if self._delegate is None:
            from hposweep.samplers import make_sampler

            choice = choose(space, ctx.n_trials, ctx.n_jobs, tuple(ctx.directions))
            try:
                delegate = make_sampler(choice.name)
            except ConfigError:  # e.g. a sampler module missing from this install
                choice, delegate = Choice("random", choice.reason + f"; {choice.name} unavailable"), \
                    make_sampler("random")
            if self._seed is not None:
                delegate.bind_seed(self._seed)
            self._choice, self._delegate = choice, delegate
        return self._delegate

    @property
    def choice(self) -> Choice | None:
        return self._choice

    def describe(self) -> str:
        if self._choice is None:
            return "auto (chooses at the first trial)"
        return f"auto -> {self._choice.name} ({self._choice.reason})"

    def sample(self, space: SearchSpace, ctx: SamplingContext, rng: np.random.Generator) -> dict[str, Any]:
        return self.prepare(space, ctx).sample(space, ctx, rng)

    def exhausted(self, space: SearchSpace, ctx: SamplingContext) -> bool:
        return self._delegate.exhausted(space, ctx) if self._delegate is not None else False
