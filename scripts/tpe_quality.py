"""Quality check for the TPE sampler on problems beyond the shared four (generality, not tuning).

    python scripts/tpe_quality.py --seeds 10 --budget 100 --variants default,univariate,random
    python scripts/tpe_quality.py --variants 'default;n_candidates=48;bandwidth=scott' --problems mixed12

Each variant is ``name`` or ``name;key=value;...`` (TPESampler keyword options; ``random`` is the
uniform baseline; ``optuna`` and ``optuna;multivariate=true`` are Optuna's TPESampler, for
comparison). Prints the mean best value after each budget and the mean rank of each variant across
problems (lower is better). The sampler is driven directly through ``SamplingContext`` so
this needs nothing beyond hposweep itself (and ``../shared/bench/problems.py`` when present).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from hposweep.core.space import SearchSpace, param_from_spec
from hposweep.core.trial import Trial, TrialState
from hposweep.samplers.base import SamplingContext
from hposweep.samplers.random import RandomSampler
from hposweep.samplers.tpe import TPESampler


def _f(low: float, high: float, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


def _i(low: int, high: int, log: bool = False, step: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "int", "low": low, "high": high, "log": log}
    if step:
        d["step"] = step
    return d


def _c(*choices: Any) -> dict[str, Any]:
    return {"type": "categorical", "choices": list(choices)}


# --- problems (all minimized) ---------------------------------------------------------------
def mixed12(p: dict[str, Any]) -> float:
    """12 mixed dims: log floats, ints, stepped ints, categoricals, one interacting pair."""
    s = 0.0
    for i in range(4):
        s += (math.log10(p[f"lr{i}"]) + 2 + 0.5 * i) ** 2 / 4
    for i in range(3):
        s += ((p[f"n{i}"] - 7 - 3 * i) / 10) ** 2
    s += ((math.log2(p["width"]) - 7) / 3) ** 2 + ((p["batch"] - 96) / 128) ** 2
    s += {"relu": 0.0, "gelu": 0.02, "tanh": 0.2, "sigmoid": 0.4}[p["act"]]
    s += {"a": 0.3, "b": 0.0, "c": 0.1}[p["cat2"]]
    s += (p["x"] - 0.3) ** 2 + 2 * (p["x"] * p["y"] - 0.12) ** 2 + (p["y"] - 0.4) ** 2
    return s


MIXED12 = ({**{f"lr{i}": _f(1e-6, 1.0, True) for i in range(4)}, **{f"n{i}": _i(0, 30) for i in range(3)},
            "width": _i(8, 1024, True), "batch": _i(16, 512, step=16), "act": _c("relu", "gelu", "tanh", "sigmoid"),
            "cat2": _c("a", "b", "c"), "x": _f(0, 1), "y": _f(0, 1)}, mixed12)


def rosen10(p: dict[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(10)])
    return float(np.log1p(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)))


ROSEN10 = ({f"x{i}": _f(-2.0, 2.0) for i in range(10)}, rosen10)


def styblinski20(p: dict[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(20)])
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x) / 20)


STYB20 = ({f"x{i}": _f(-5.0, 5.0) for i in range(20)}, styblinski20)


def conditional(p: dict[str, Any]) -> float:
    """An optimizer choice with its own (conditional) hyperparameters, plus shared ones."""
    base = 0.1 * (math.log2(p["layers"]) - 2) ** 2 + (p["dropout"] - 0.2) ** 2
    if p["opt"] == "sgd":
        lr = math.log10(p["sgd_lr"])
        return base + 0.3 + 0.2 * (lr + 1) ** 2 + (p["momentum"] - 0.9) ** 2 * 3
    if p["opt"] == "adam":
        lr = math.log10(p["adam_lr"])
        return base + 0.2 * (lr + 3.3) ** 2 + 0.1 * (math.log10(p["adam_eps"]) + 8) ** 2 / 4
    return base + 0.5 + 0.1 * (p["trees"] - 300) ** 2 / 300**2 + 0.05 * (p["rf_depth"] - 9) ** 2 / 9


CONDITIONAL = ({"opt": _c("sgd", "adam", "forest"),
                "sgd_lr": {**_f(1e-4, 1.0, True), "when": {"opt": "sgd"}},
                "momentum": {**_f(0.0, 0.99), "when": {"opt": "sgd"}},
                "adam_lr": {**_f(1e-6, 1e-1, True), "when": {"opt": "adam"}},
                "adam_eps": {**_f(1e-10, 1e-4, True), "when": {"opt": "adam"}},
                "trees": {**_i(10, 1000, True), "when": {"opt": "forest"}},
                "rf_depth": {**_i(2, 20), "when": {"opt": "forest"}},
                "layers": _i(1, 64, True), "dropout": _f(0.0, 0.8)}, conditional)


def discrete6(p: dict[str, Any]) -> float:
    """Only ints and categoricals: plateaus everywhere, ties common."""
    s = abs(p["a"] - 13) / 20 + abs(p["b"] - 40) / 100 + (math.log2(p["c"]) - 5) ** 2 / 16
    s += {"x": 0.0, "y": 0.1, "z": 0.15, "w": 0.3, "v": 0.5}[p["k"]] + (0.0 if p["flag"] else 0.1)
    return s + abs(p["d"] - 2) / 5


DISCRETE6 = ({"a": _i(0, 20), "b": _i(0, 200, step=10), "c": _i(1, 4096, True), "k": _c("x", "y", "z", "w", "v"),
              "flag": _c(True, False), "d": _i(0, 5)}, discrete6)

def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def hartmann3(p: dict[str, Any]) -> float:
    a = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
    c = np.array([1.0, 1.2, 3.0, 3.2])
    q = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
    x = np.array([p["x0"], p["x1"], p["x2"]])
    return float(-np.sum(c * np.exp(-np.sum(a * (x - q) ** 2, axis=1))))


def levy8(p: dict[str, Any]) -> float:
    w = 1 + (np.array([p[f"x{i}"] for i in range(8)]) - 1) / 4
    s = np.sin(np.pi * w[0]) ** 2 + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(s + np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2)))


def rastrigin6(p: dict[str, Any]) -> float:
    """Many regular local minima around one global one (0 at the origin): a multimodal 6-d test."""
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(10 * len(x) + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))


PROBLEMS: dict[str, tuple[dict[str, Any], Any]] = {
    "branin2": ({"x1": _f(-5, 10), "x2": _f(0, 15)}, branin),
    "hartmann3": ({f"x{i}": _f(0, 1) for i in range(3)}, hartmann3),
    "levy8": ({f"x{i}": _f(-10, 10) for i in range(8)}, levy8),
    "rastrigin6": ({f"x{i}": _f(-5.12, 5.12) for i in range(6)}, rastrigin6),
    "mixed12": MIXED12, "rosen10": ROSEN10, "styb20": STYB20, "conditional": CONDITIONAL, "discrete6": DISCRETE6,
}


def _shared_problems() -> dict[str, tuple[dict[str, Any], Any]]:
    bench = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench")
    if not os.path.exists(os.path.join(bench, "problems.py")):
        return {}
    sys.path.insert(0, bench)
    from problems import PROBLEMS as SHARED  # type: ignore[import-not-found]

    return {name: (space, f) for name, (space, f, _) in SHARED.items()}


# --- driver -----------------------------------------------------------------------------------
def make_space(spec: dict[str, Any]) -> SearchSpace:
    return SearchSpace([param_from_spec(name, s) for name, s in spec.items()])


def parse_variant(v: str) -> tuple[str, dict[str, Any]]:
    name, *opts = v.split(";")
    kw: dict[str, Any] = {}
    for o in opts:
        k, val = o.split("=")
        kw[k] = {"true": True, "false": False}.get(val.lower(), None)
        if kw[k] is None:
            try:
                kw[k] = int(val)
            except ValueError:
                try:
                    kw[k] = float(val)
                except ValueError:
                    kw[k] = val
    if name == "univariate":
        kw.setdefault("multivariate", False)
    return name, kw


def run_optuna(spec: dict[str, Any], f: Any, seed: int, budget: int, kw: dict[str, Any]) -> np.ndarray:
    """Optuna's TPESampler (its defaults, or ``kw`` such as ``multivariate=true``): a comparison only.

    Needs optuna importable (the project's dev environment has it); hposweep never depends on it.
    Conditional parameters are asked only when their condition holds, as a user would write it.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = make_space(spec)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, **kw))
    values = []
    for _ in range(budget):
        t = study.ask()
        params: dict[str, Any] = {}
        for p in space.searchable:
            if not p.is_active(params):
                continue
            s = spec[p.name]
            if s["type"] == "float":
                params[p.name] = t.suggest_float(p.name, s["low"], s["high"], log=s.get("log", False))
            elif s["type"] == "int":
                params[p.name] = t.suggest_int(p.name, s["low"], s["high"], log=s.get("log", False),
                                               step=s.get("step") or 1)
            else:
                params[p.name] = t.suggest_categorical(p.name, s["choices"])
        v = float(f(space.complete(params)))
        study.tell(t, v)
        values.append(v)
    return np.minimum.accumulate(values)


def run_one(args: tuple[str, str, int, int]) -> np.ndarray:
    """Best-so-far curve of one variant on one problem with one seed."""
    variant, problem, seed, budget = args
    spec, f = ALL_PROBLEMS[problem]
    name, kw = parse_variant(variant)
    if name == "optuna":
        return run_optuna(spec, f, seed, budget, kw)
    space = make_space(spec)
    sampler = RandomSampler() if name == "random" else TPESampler(**kw)
    if hasattr(sampler, "bind_seed"):
        sampler.bind_seed(seed)
    finished: list[Trial] = []
    values = []
    for k in range(budget):
        rng = np.random.default_rng([seed, k])
        ctx = SamplingContext(number=k, finished=finished, running=[], directions=("minimize",))
        params = space.complete(sampler.sample(space, ctx, rng))
        v = float(f(params))
        finished.append(Trial(k, params, TrialState.COMPLETE, [v], finish_seq=k))
        values.append(v)
    return np.minimum.accumulate(values)


ALL_PROBLEMS = {**_shared_problems(), **PROBLEMS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="default,univariate,random")
    ap.add_argument("--problems", default=",".join(ALL_PROBLEMS))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    variants, problems = a.variants.split(","), a.problems.split(",")
    jobs = [(v, p, s, a.budget) for p in problems for v in variants for s in range(a.seeds)]
    with ProcessPoolExecutor(a.jobs) as ex:
        curves = list(ex.map(run_one, jobs, chunksize=1))
    mean: dict[tuple[str, str], np.ndarray] = {}
    for p in problems:
        for v in variants:
            runs = [c for (vv, pp, _, _), c in zip(jobs, curves, strict=True) if vv == v and pp == p]
            mean[p, v] = np.mean(runs, axis=0)
    budgets = [b for b in (25, 50, 100, 200) if b <= a.budget]
    w = max(12, *(len(v) + 2 for v in variants))
    print(f"mean best after {a.budget} trials, {a.seeds} seeds")
    print(f"{'problem':14s}" + "".join(f"{v:>{w}s}" for v in variants))
    for p in problems:
        print(f"{p:14s}" + "".join(f"{mean[p, v][-1]:>{w}.5g}" for v in variants))
    from scipy.stats import rankdata

    for b in budgets:
        ranks = np.mean([rankdata([round(float(mean[p, v][b - 1]), 12) for v in variants]) for p in problems], axis=0)
        print(f"{'rank @' + str(b):14s}" + "".join(f"{r:>{w}.2f}" for r in ranks))


if __name__ == "__main__":
    main()
