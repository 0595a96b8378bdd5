"""Pruning on a synthetic multi-fidelity problem: epochs to reach a target regret, and the final regret.

A study of the Python API (``hposweep.Study`` with TPE, ``report``/``should_prune`` after every epoch,
one trial at a time) spends a budget of ``--budget`` epochs (``--epochs`` per full run) on a
4-parameter "training" problem whose learning curves are known in closed form:

* the final loss ``f(x)`` has a narrow valley in the learning rate whose place depends on the
  optimizer (a categorical), a broad optimum in the width (log int) and one in the regularisation;
* **slow starters**: small learning rates and strong regularisation converge slowly
  (``tau`` up to ~12 epochs of 30), so the configurations near the optimum are often behind at the
  early epochs;
* **curves that cross**: wide, weakly regularised nets drop fast and then *overfit* (their loss
  rises over the second half), so they look best early and end mediocre;
* **noise**: every reported epoch carries N(0, ``--noise``) (default 0.02, about 1/10 of the
  spread of final losses).

Regret is the *true* (noise-free) final loss of the trial the study would return (its best complete
trial by reported value) minus the problem's optimum (found by a dense random search, cached per
problem). ``epochs to target`` is the number of epochs run until that regret first falls to
``--target`` or below (studies that never reach it count as the whole budget, and the column says
how many reached it); ``final regret`` is the regret when the budget is spent. Mean ± sd over seeds;
each seed gives every configuration the same noise and the same problem.

``--sampler-variant common-step`` also runs the pruners with TPE ranking pruned trials by where they
stood among the complete trials at their last step (their rank there mapped to the complete trials'
final values, as BOHB models each budget), instead of after every complete trial
(:func:`common_step_key`); ``ignore-pruned`` leaves pruned trials out of TPE's bad group
(:func:`split_without_pruned`), so a pruned slow starter does not push the sampler away from its
region. Both swap a function of ``hposweep.samplers`` for the study's duration (measurement only).

Measured (commit 201b8ed, ``--seeds 40 --sampler-variant common-step``; defaults otherwise: budget 1500
epochs = 50 full runs, target regret 0.02, optimum 0.1635):

| pruner | epochs to target | reached | median ratio vs none | final regret | trials | pruned |
| --- | --- | --- | --- | --- | --- | --- |
| none | 1073 ± 490 | 20/40 | 1.00 | 0.0270 ± 0.0215 | 50 ± 0 | 0 ± 0 |
| median | 1072 ± 527 | 18/40 | 1.00 | 0.0296 ± 0.0224 | 102 ± 14 | 65 ± 17 |
| asha | 838 ± 523 | 27/40 | 0.79 | 0.0176 ± 0.0132 | 78 ± 5 | 41 ± 8 |
| hyperband | 1110 ± 477 | 19/40 | 1.00 | 0.0328 ± 0.0209 | 99 ± 10 | 76 ± 13 |
| median, TPE common-step | 1066 ± 523 | 19/40 | 1.00 | 0.0293 ± 0.0225 | 102 ± 14 | 65 ± 18 |
| asha, TPE common-step | 828 ± 514 | 28/40 | 0.76 | 0.0173 ± 0.0132 | 78 ± 5 | 41 ± 7 |
| hyperband, TPE common-step | 1189 ± 454 | 14/40 | 1.00 | 0.0334 ± 0.0228 | 97 ± 8 | 73 ± 11 |

Ranking pruned trials at their last step changes nothing that matters for median and ASHA: a trial
they prune ranked below the median (ASHA: the best third) at that step, so its mapped loss never
reaches TPE's good group (the best 10 %), and the split is the same. For Hyperband it is worse
(14/40 vs 19/40). Leaving pruned trials out of the bad group (``ignore-pruned``, 20 seeds) is clearly
worse: median 1139 epochs, 7/20 reached (vs 912, 11/20), asha 952, 14/20 (vs 700, 14/20): "pruned =
bad" is information the sampler needs. Fixed median warm-ups (20 seeds): 0 -> 1308, 3/20; 6 -> 907,
11/20; 10 -> 730, 16/20; 15 -> 843, 13/20; ``asha: min_resource 1`` never reaches the target.

    python scripts/bench_multifidelity.py [--seeds 20] [--budget 1500] [--epochs 30] [--target 0.02]
                                          [--pruners none,median,asha,hyperband,median:n_warmup_steps=10]
                                          [--sampler-variant common-step,ignore-pruned]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hposweep import Study
from hposweep.core.space import SearchSpace
from hposweep.core.trial import Trial, TrialState
from hposweep.samplers import tpe_model

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "width": {"type": "int", "low": 8, "high": 512, "log": True},
    "reg": {"type": "float", "low": 0.0, "high": 1.0},
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
}
#: the optimizer moves the learning-rate valley (log10 units) and adds a little loss
LR_CENTER = {"sgd": -1.0, "momentum": -1.7, "adam": -2.7}
OPT_PENALTY = {"sgd": 0.06, "momentum": 0.0, "adam": 0.02}
START = 2.3
PRUNERS = ("none", "median", "asha", "hyperband")


def final_loss(p: dict[str, Any]) -> float:
    """Noise-free loss a full run ends at."""
    u = math.log10(p["lr"]) - LR_CENTER[p["optimizer"]]
    w = math.log2(p["width"]) - 7.0
    return (0.15 + 0.12 * u * u + 0.05 * math.sin(3.0 * u) ** 2 + 0.012 * w * w
            + 0.25 * (p["reg"] - 0.45) ** 2 + OPT_PENALTY[p["optimizer"]])


def clean_curve(p: dict[str, Any], epochs: int) -> np.ndarray:
    """Loss at epochs 1..epochs: exponential approach to ``final_loss`` plus late overfitting."""
    f = final_loss(p)
    u = math.log10(p["lr"]) - LR_CENTER[p["optimizer"]]
    tau = min(40.0, 1.2 * 10 ** (-0.45 * u) * (1.0 + 3.0 * p["reg"] ** 2))  # small lr, strong reg: slow
    e = np.arange(1, epochs + 1, dtype=float)
    over = 0.25 * (1.0 - p["reg"]) ** 3 * (p["width"] / 512.0) ** 0.5  # wide and unregularised overfit
    # the overfit rises after the midpoint; its size is subtracted early so that such nets lead then
    late = over * (np.clip(e / epochs - 0.5, 0.0, None) * 2.0) ** 2 - over * 0.6 * np.exp(-e / 4.0)
    return f + (START - f) * np.exp(-e / tau) + late


def true_final(p: dict[str, Any], epochs: int) -> float:
    return float(clean_curve(p, epochs)[-1])


_OPTIMUM: dict[int, float] = {}


def optimum(epochs: int) -> float:
    """The problem's best true final loss: a dense random search (cached), then a local polish."""
    if epochs in _OPTIMUM:
        return _OPTIMUM[epochs]
    rng = np.random.default_rng(12345)
    best = math.inf
    for opt in LR_CENTER:
        for _ in range(4000):
            p = {"lr": 10 ** rng.uniform(-4, 0), "width": int(round(2 ** rng.uniform(3, 9))),
                 "reg": rng.uniform(0, 1), "optimizer": opt}
            best = min(best, true_final(p, epochs))
        for lr_exp in np.linspace(-4, 0, 201):
            for width in (64, 90, 128, 181, 256):
                for reg in np.linspace(0.3, 0.7, 21):
                    best = min(best, true_final({"lr": 10 ** lr_exp, "width": width, "reg": reg, "optimizer": opt},
                                                epochs))
    _OPTIMUM[epochs] = best
    return best


@dataclass
class Outcome:
    to_target: int
    reached: bool
    final_regret: float
    n_trials: int
    n_pruned: int


# --- the sampler variant: pruned trials ranked at their last step -----------------------------------

#: the study whose trials :func:`common_step_key` reads (set while a variant study runs)
_CONTEXT: dict[str, Study] = {}


def common_step_key(t: Trial, sign: float) -> tuple[int, float, float]:
    """TPE's sort key with pruned trials mapped onto the complete trials' scale.

    A pruned trial's best value at its last step s is ranked among the complete trials' best-so-far
    values at s; that rank's quantile of their final values is the loss it is sorted by, in the
    same tier as the complete trials. With fewer than 3 complete trials at s the default key is kept.
    """
    key = DEFAULT_KEY(t, sign)
    if t.state is not TrialState.PRUNED or not t.intermediate or "study" not in _CONTEXT:
        return key
    s = max(t.intermediate)
    own = min(sign * v for v in t.intermediate.values() if not math.isnan(v))
    at, finals = [], []
    for c in _CONTEXT["study"].trials:
        if c.state is TrialState.COMPLETE and s in c.intermediate and c.value is not None:
            at.append(min(sign * v for k, v in c.intermediate.items() if k <= s))
            finals.append(sign * c.value)
    if len(at) < 3:
        return key
    q = (sum(a < own for a in at) + 0.5 * sum(a == own for a in at)) / len(at)
    return tpe_model.COMPLETE, 0.0, float(np.quantile(finals, q))


def _install_key(fn: Callable[[Trial, float], tuple[int, float, float]]) -> None:
    """Swap TPE's sort key (``History.extend`` looks it up in its module at each call)."""
    tpe_model.score_key = fn  # type: ignore[assignment]


#: TPE's own key: complete trials first, then pruned ones by step reached and value
DEFAULT_KEY = tpe_model.score_key


def split_without_pruned(tier: np.ndarray, step: np.ndarray, loss: np.ndarray,
                         n_good: int) -> tuple[np.ndarray, np.ndarray]:
    """TPE's split with pruned trials left out of the bad group (they still count as "tried")."""
    good, bad = DEFAULT_SPLIT(tier, step, loss, n_good)
    return good, bad[tier[bad] != tpe_model.PRUNED]


DEFAULT_SPLIT = tpe_model.split_good_bad


def _install_split(fn: Callable[..., tuple[np.ndarray, np.ndarray]]) -> None:
    from hposweep.samplers import tpe

    tpe.split_good_bad = fn


# --- one study ----------------------------------------------------------------------------------


def run_study(pruner: Any, seed: int, args: argparse.Namespace, variant: str = "default") -> Outcome:
    space = SearchSpace.from_dict(SPACE)
    study = Study(space, "minimize", sampler="tpe", pruner=pruner, seed=seed)
    if variant == "common-step":
        _CONTEXT["study"] = study
        _install_key(common_step_key)
    elif variant == "ignore-pruned":
        _install_split(split_without_pruned)
    elif variant != "default":
        raise SystemExit(f"unknown sampler variant {variant!r}: common-step, ignore-pruned")
    try:
        return _spend_budget(study, seed, args)
    finally:
        _CONTEXT.pop("study", None)
        _install_key(DEFAULT_KEY)
        _install_split(DEFAULT_SPLIT)


def _spend_budget(study: Study, seed: int, args: argparse.Namespace) -> Outcome:
    best_opt = optimum(args.epochs)
    used, to_target, reached = 0, args.budget, False
    best_seen, regret = math.inf, math.inf
    n_trials = 0
    while used < args.budget:
        t = study.ask()
        n_trials += 1
        noise = np.random.default_rng([seed, t.number]).normal(0.0, args.noise, args.epochs)
        curve = clean_curve(t.params, args.epochs) + noise
        done = False
        for e in range(args.epochs):
            study.report(t, e + 1, float(curve[e]))
            used += 1
            if e + 1 < args.epochs and study.should_prune(t):
                study.tell(t, state="pruned")
                break
            if used >= args.budget and e + 1 < args.epochs:
                study.tell(t, state="interrupted")  # the budget ran out mid-run
                break
        else:
            done = True
            study.tell(t, float(curve[-1]))
        if done and curve[-1] < best_seen:
            best_seen = float(curve[-1])
            regret = true_final(t.params, args.epochs) - best_opt
        if not reached and regret <= args.target:
            reached, to_target = True, used
    return Outcome(to_target, reached, regret, n_trials, len(study.trials_in(TrialState.PRUNED)))


# --- table ----------------------------------------------------------------------------------------


def mean_sd(xs: Sequence[float], fmt: str) -> str:
    if len(xs) == 1:
        return format(xs[0], fmt)
    return f"{format(statistics.mean(xs), fmt)} ± {format(statistics.stdev(xs), fmt)}"


def pruner_spec(text: str) -> Any:
    """``median`` or ``median:n_warmup_steps=10,interval_steps=2`` (integer options) as a pruner spec."""
    name, _, opts = text.partition(":")
    if not opts:
        return name
    spec: dict[str, Any] = {"name": name}
    for item in opts.split(";"):
        k, _, v = item.partition("=")
        spec[k] = int(v) if v.lstrip("-").isdigit() else v
    return spec


def configs(args: argparse.Namespace) -> list[tuple[str, Any, str]]:
    out = [(p, pruner_spec(p), "default") for p in args.pruners]
    for variant in args.sampler_variant:
        out += [(f"{p}, TPE {variant}", pruner_spec(p), variant) for p in args.pruners if p != "none"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=int, default=1500, help="epochs per study")
    ap.add_argument("--epochs", type=int, default=30, help="epochs of a full run")
    ap.add_argument("--noise", type=float, default=0.02)
    ap.add_argument("--target", type=float, default=0.02, help="regret to reach")
    ap.add_argument("--pruners", default=",".join(PRUNERS),
                    help="comma-separated; options after a colon, ';'-separated: median:n_warmup_steps=10")
    ap.add_argument("--sampler-variant", default="", help="comma-separated: common-step, ignore-pruned")
    args = ap.parse_args(argv)
    args.pruners = [x for x in args.pruners.split(",") if x]
    args.sampler_variant = [x for x in args.sampler_variant.split(",") if x]
    rows = []
    t0 = time.perf_counter()
    optimum(args.epochs)
    results: dict[str, list[Outcome]] = {}
    for seed in range(args.seeds):  # configurations interleaved per seed: machine load hits all alike
        for label, pruner, variant in configs(args):
            results.setdefault(label, []).append(run_study(pruner, seed, args, variant))
        print(f"seed {seed} done ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    base = {i: o for i, o in enumerate(results.get("none", []))}
    for label, outs in results.items():
        ratio = [o.to_target / base[i].to_target for i, o in enumerate(outs) if i in base]
        rows.append("| " + " | ".join([
            label,
            mean_sd([o.to_target for o in outs], ".0f"),
            f"{sum(o.reached for o in outs)}/{len(outs)}",
            f"{statistics.median(ratio):.2f}" if ratio else "-",
            mean_sd([o.final_regret for o in outs], ".4f"),
            mean_sd([o.n_trials for o in outs], ".0f"),
            mean_sd([o.n_pruned for o in outs], ".0f"),
        ]) + " |")
    print(f"{args.seeds} seeds, budget {args.budget} epochs, {args.epochs} epochs a run, noise {args.noise}, "
          f"target regret {args.target}, TPE, one trial at a time; optimum {optimum(args.epochs):.4f}\n")
    print("| pruner | epochs to target | reached | median ratio vs none | final regret | trials | pruned |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\n({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
