#!/usr/bin/env python3
"""Multi-objective benchmark: hypervolume reached after a budget of trials, hposweep vs Optuna.

Problems (all minimised; fixed reference points so numbers compare across runs; the table shows the
hypervolume divided by the box between the reference and the ideal corner, 0 unless given; ZDT3's and
``mixed``'s fronts dip below 0 in f2, so they can exceed 1 slightly):

* ZDT1, ZDT2, ZDT3 with 10 variables in [0, 1], reference (11, 11);
* DTLZ2 with 3 objectives and 12 variables, reference (2, 2, 2);
* DTLZ1 with 2 objectives and 6 variables (multimodal g: 11**5 local fronts), reference (100, 100);
* DTLZ7 with 3 objectives and 12 variables (front in 4 disconnected pieces), reference (1, 1, 21);
* ``mixed``: a ZDT-like problem over 2 log-scaled floats, 2 ints (one log), a stepped int and two
  categoricals (one picks the front's shape), reference (11, 11);
* ``mlp``: a real loss/size trade-off: a numpy MLP (1-3 layers of 2-64 units, learning rate, L2,
  activation) trained full-batch on a fixed generated regression task; (validation MSE, log10 number
  of weights), reference (0.3, 3), ideal (0, 1). Deterministic (fixed data and initial weights).

Samplers: hposweep's ``random``, ``auto`` and ``nsga2`` (plus variants: ``nsga2-sbx`` with SBX crossover,
``nsga2-hv`` cutting the last front by hypervolume, ``nsga2-p20`` with a population of 20), hposweep's
``tpe`` (``tpe:key=value;...`` passes options, e.g. ``tpe:gamma=0.2``), and Optuna's ``TPESampler``
and ``NSGAIISampler`` when optuna is importable. Each (problem, sampler, seed) run is independent. The
table gives, for each hposweep sampler, the mean gain over Optuna's better sampler on that problem
and the paired Wilcoxon signed-rank p-value over the seeds.

    python scripts/bench_multiobjective.py --budget 100     # 10 seeds, all problems
    python scripts/bench_multiobjective.py --seeds 2 --budget 60,120 --samplers nsga2,random
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from hposweep import Study
from hposweep.analysis.pareto import hypervolume
from hposweep.core.space import SearchSpace


# --- problems ------------------------------------------------------------------------------------
def zdt1(x: np.ndarray) -> list[float]:
    f1 = x[0]
    g = 1.0 + 9.0 * x[1:].mean()
    return [f1, g * (1.0 - math.sqrt(f1 / g))]


def zdt2(x: np.ndarray) -> list[float]:
    f1 = x[0]
    g = 1.0 + 9.0 * x[1:].mean()
    return [f1, g * (1.0 - (f1 / g) ** 2)]


def zdt3(x: np.ndarray) -> list[float]:
    f1 = x[0]
    g = 1.0 + 9.0 * x[1:].mean()
    return [f1, g * (1.0 - math.sqrt(f1 / g) - f1 / g * math.sin(10.0 * math.pi * f1))]


def dtlz2(x: np.ndarray, m: int = 3) -> list[float]:
    g = float(((x[m - 1:] - 0.5) ** 2).sum())
    theta = x[: m - 1] * math.pi / 2.0
    out = []
    for i in range(m):
        f = 1.0 + g
        f *= float(np.prod(np.cos(theta[: m - 1 - i])))
        if i > 0:
            f *= math.sin(theta[m - 1 - i])
        out.append(f)
    return out


def dtlz1(x: np.ndarray, m: int = 2) -> list[float]:
    """DTLZ1: a linear front behind 11**k - 1 local fronts (Rastrigin-like g): the multimodal one."""
    y = x[m - 1:] - 0.5
    g = 100.0 * (len(y) + float((y**2 - np.cos(20.0 * math.pi * y)).sum()))
    out = []
    for i in range(m):
        f = 0.5 * (1.0 + g) * float(np.prod(x[: m - 1 - i]))
        if i > 0:
            f *= 1.0 - x[m - 1 - i]
        out.append(f)
    return out


def dtlz7(x: np.ndarray, m: int = 3) -> list[float]:
    """DTLZ7: a front in 2**(m-1) disconnected pieces (3 objectives here)."""
    f = [float(v) for v in x[: m - 1]]
    g = 1.0 + 9.0 * float(x[m - 1:].mean())
    h = m - sum(fi / (1.0 + g) * (1.0 + math.sin(3.0 * math.pi * fi)) for fi in f)
    return [*f, (1.0 + g) * h]


def unit_box(n: int) -> dict[str, dict[str, Any]]:
    return {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(n)}


def on_vector(fn: Callable[[np.ndarray], list[float]], n: int) -> Callable[[dict[str, Any]], list[float]]:
    return lambda p: fn(np.array([p[f"x{i}"] for i in range(n)], dtype=float))


MIXED_SPACE: dict[str, dict[str, Any]] = {
    "x": {"type": "float", "low": 0.0, "high": 1.0},
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "decay": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "layers": {"type": "int", "low": 1, "high": 8},
    "width": {"type": "int", "low": 4, "high": 512, "log": True},
    "batch": {"type": "int", "low": 16, "high": 256, "step": 16},
    "shape": {"type": "categorical", "choices": ["convex", "linear", "concave", "wave"]},
    "norm": {"type": "categorical", "choices": ["none", "batch", "layer"]},
}


def mixed(p: dict[str, Any]) -> list[float]:
    """A ZDT-like problem over ints, log scales, a step and categoricals (optima inside the ranges).

    Each non-``x`` parameter adds a distance in [0, 1] to g (0 at its best value: lr 1e-2, decay 1e-3,
    3 layers, width 64, batch 128, norm "layer"); ``shape`` picks the front's shape, ``convex`` and
    ``wave`` being the two that reach the best trade-offs.
    """
    dist = [
        abs(math.log10(p["lr"]) + 2.0) / 2.0,
        abs(math.log10(p["decay"]) + 3.0) / 3.0,
        abs(p["layers"] - 3) / 5.0,
        abs(math.log2(p["width"]) - 6.0) / 3.0,
        abs(p["batch"] - 128) / 128.0,
        {"none": 1.0, "batch": 0.4, "layer": 0.0}[p["norm"]],
    ]
    f1 = float(p["x"])
    g = 1.0 + 9.0 * sum(dist) / len(dist)
    r = f1 / g
    f2 = {"convex": 1.0 - math.sqrt(r), "linear": 1.0 - r, "concave": 1.0 - r**2,
          "wave": 1.0 - math.sqrt(r) - r * math.sin(10.0 * math.pi * f1)}[p["shape"]]
    return [f1, g * f2]


MLP_SPACE: dict[str, dict[str, Any]] = {
    "layers": {"type": "int", "low": 1, "high": 3},
    "width": {"type": "int", "low": 2, "high": 64, "log": True},
    "lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
    "l2": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    "activation": {"type": "categorical", "choices": ["tanh", "relu"]},
}
_MLP_DATA: list[np.ndarray] = []


def mlp_data() -> list[np.ndarray]:
    """A fixed regression task (6 inputs, interactions and a sine; 160 training and 160 validation rows)."""
    if not _MLP_DATA:
        rng = np.random.default_rng(20261201)
        x = rng.uniform(-1.0, 1.0, (320, 6))
        y = np.sin(2.5 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2 - 0.3 * x[:, 4] + 0.1 * rng.normal(size=320)
        y = (y - y.mean()) / y.std()
        _MLP_DATA.extend([x[:160], y[:160, None], x[160:], y[160:, None]])
    return _MLP_DATA


def mlp(p: dict[str, Any], steps: int = 80) -> list[float]:
    """Real loss/size trade-off: a numpy MLP trained full-batch with Adam; (validation MSE, log10 #weights).

    The initial weights come from a fixed seed, so the result is a deterministic function of the
    parameters (every sampler sees the same surface); diverged runs score 10 (outside the reference).
    """
    xt, yt, xv, yv = mlp_data()
    rng = np.random.default_rng(0)
    sizes = [xt.shape[1]] + [int(p["width"])] * int(p["layers"]) + [1]
    ws = [rng.normal(0.0, 1.0 / math.sqrt(a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    bs = [np.zeros(b) for b in sizes[1:]]
    params = [*ws, *bs]
    mom = [np.zeros_like(q) for q in params]
    vel = [np.zeros_like(q) for q in params]
    relu = p["activation"] == "relu"
    lr, l2, n_w = float(p["lr"]), float(p["l2"]), len(ws)

    def forward(x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        acts = [x]
        for k in range(n_w):
            z = acts[-1] @ ws[k] + bs[k]
            acts.append(z if k == n_w - 1 else (np.maximum(z, 0.0) if relu else np.tanh(z)))
        return acts[-1], acts

    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            out, acts = forward(xt)
            delta = 2.0 * (out - yt) / len(xt)
            grads_w: list[np.ndarray] = [np.empty(0)] * n_w
            grads_b: list[np.ndarray] = [np.empty(0)] * n_w
            for k in range(n_w - 1, -1, -1):
                grads_w[k] = acts[k].T @ delta + l2 * ws[k]
                grads_b[k] = delta.sum(axis=0)
                if k:
                    delta = delta @ ws[k].T
                    delta = delta * (acts[k] > 0) if relu else delta * (1.0 - acts[k] ** 2)
            for q, gq, mq, vq in zip(params, grads_w + grads_b, mom, vel, strict=True):
                mq *= 0.9
                mq += 0.1 * gq
                vq *= 0.999
                vq += 0.001 * gq * gq
                q -= lr * (mq / (1 - 0.9**t)) / (np.sqrt(vq / (1 - 0.999**t)) + 1e-8)
        val = float(((forward(xv)[0] - yv) ** 2).mean())
    n_weights = sum(q.size for q in params)
    return [val if math.isfinite(val) else 10.0, math.log10(n_weights)]


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, dict[str, Any]]
    fn: Callable[[dict[str, Any]], list[float]]
    reference: tuple[float, ...]
    #: lower corner of the box HV is normalised by (the objectives' best possible values or below)
    ideal: tuple[float, ...] | None = None

    def box(self) -> float:
        low = self.ideal or (0.0,) * len(self.reference)
        return float(np.prod(np.subtract(self.reference, low)))


def vector_problem(name: str, fn: Callable[[np.ndarray], list[float]], n: int, ref: tuple[float, ...]) -> Problem:
    return Problem(name, unit_box(n), on_vector(fn, n), ref)


PROBLEMS = {
    "zdt1": vector_problem("zdt1", zdt1, 10, (11.0, 11.0)),
    "zdt2": vector_problem("zdt2", zdt2, 10, (11.0, 11.0)),
    "zdt3": vector_problem("zdt3", zdt3, 10, (11.0, 11.0)),
    "dtlz2": vector_problem("dtlz2", dtlz2, 12, (2.0, 2.0, 2.0)),
    "dtlz1": vector_problem("dtlz1", dtlz1, 6, (100.0, 100.0)),
    "dtlz7": vector_problem("dtlz7", dtlz7, 12, (1.0, 1.0, 21.0)),
    "mixed": Problem("mixed", MIXED_SPACE, mixed, (11.0, 11.0)),
    "mlp": Problem("mlp", MLP_SPACE, mlp, (0.3, 3.0), (0.0, 1.0)),
}


# --- runners ---------------------------------------------------------------------------------------
def run_hposweep(problem: Problem, sampler: Any, seed: int, budget: int) -> list[list[float]]:
    space = SearchSpace.from_dict(problem.space)
    m = len(problem.reference)
    study = Study(space, directions=["minimize"] * m, sampler=sampler, seed=seed)
    values = []
    for _ in range(budget):
        trial = study.ask()
        v = problem.fn(dict(trial.params))
        study.tell(trial, v)
        values.append(v)
    return values


def suggest(trial: Any, name: str, spec: dict[str, Any]) -> Any:
    """The Optuna call for one of this script's parameter specs."""
    if spec["type"] == "categorical":
        return trial.suggest_categorical(name, spec["choices"])
    if spec["type"] == "int":
        return trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False))
    return trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))


def run_optuna(problem: Problem, which: str, seed: int, budget: int) -> list[list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if which == "tpe" else optuna.samplers.NSGAIISampler(seed=seed)
    m = len(problem.reference)
    study = optuna.create_study(directions=["minimize"] * m, sampler=sampler)
    values = []

    def objective(trial: optuna.Trial) -> list[float]:
        v = problem.fn({name: suggest(trial, name, spec) for name, spec in problem.space.items()})
        values.append(v)
        return v

    study.optimize(objective, n_trials=budget)
    return values


SAMPLER_SPECS: dict[str, Callable[[], object]] = {
    "random": lambda: "random",
    "nsga2": lambda: "nsga2",
    "nsga2-sbx": lambda: {"name": "nsga2", "crossover": "sbx"},
    "nsga2-hv": lambda: {"name": "nsga2", "tie_break": "hypervolume"},
    "nsga2-p20": lambda: {"name": "nsga2", "population_size": 20},
    "tpe": lambda: "tpe",
    "auto": lambda: "auto",
}


def sampler_spec(name: str) -> object:
    """A name of SAMPLER_SPECS, or ``tpe:key=value;key=value`` for TPE with options (values parsed as JSON)."""
    if name in SAMPLER_SPECS:
        return SAMPLER_SPECS[name]()
    base, _, opts = name.partition(":")
    spec: dict[str, Any] = {"name": base}
    for item in filter(None, opts.split(";")):
        key, _, raw = item.partition("=")
        try:
            spec[key] = json.loads(raw)
        except json.JSONDecodeError:
            spec[key] = raw
    return spec


def run_one(task: tuple[str, str, int, list[int]]) -> tuple[str, str, int, list[float], float]:
    problem_name, sampler_name, seed, budgets = task
    problem = PROBLEMS[problem_name]
    start = time.perf_counter()
    if sampler_name.startswith("optuna-"):
        values = run_optuna(problem, sampler_name.removeprefix("optuna-"), seed, max(budgets))
    else:
        values = run_hposweep(problem, sampler_spec(sampler_name), seed, max(budgets))
    elapsed = time.perf_counter() - start
    hvs = [hypervolume(values[:b], problem.reference) / problem.box() for b in budgets]
    return problem_name, sampler_name, seed, hvs, elapsed


# --- availability --------------------------------------------------------------------------------
def hposweep_tpe_supports_mo() -> bool:
    """True when hposweep's `tpe` exists and runs a small two-objective study without error."""
    try:
        from hposweep.samplers import sampler_class

        sampler_class("tpe")
        run_hposweep(vector_problem("probe", zdt1, 3, (11.0, 11.0)), "tpe", 0, 30)
    except Exception as exc:  # noqa: BLE001 - any failure means "not supported (yet)"
        print(f"skipping hposweep tpe: {type(exc).__name__}: {str(exc).splitlines()[0][:100]}")
        return False
    return True


def optuna_available() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("skipping Optuna samplers: optuna is not importable")
        return False
    return True


def default_samplers() -> list[str]:
    names = ["random", "nsga2", "nsga2-sbx", "nsga2-hv", "nsga2-p20"]
    if hposweep_tpe_supports_mo():
        names.append("tpe")
    if optuna_available():
        names += ["optuna-tpe", "optuna-nsga2"]
    return names


# --- main ----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds per (problem, sampler) (default 10)")
    ap.add_argument("--budget", default="100,200", help="comma-separated trial counts to report (default 100,200)")
    ap.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated subset of " + ", ".join(PROBLEMS))
    ap.add_argument("--samplers", default=None, help="comma-separated subset (default: all available)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--save", default=None, help="also write every run's HVs to this JSON file")
    args = ap.parse_args()
    budgets = sorted(int(b) for b in args.budget.split(","))
    problems = args.problems.split(",")
    samplers = args.samplers.split(",") if args.samplers else default_samplers()
    tasks = [(p, s, seed, budgets) for p in problems for s in samplers for seed in range(args.seeds)]
    results: dict[tuple[str, str], list[tuple[list[float], float]]] = {}
    outcomes: Iterator[tuple[str, str, int, list[float], float]]
    if args.jobs == 1:
        outcomes = map(run_one, tasks)
    else:
        outcomes = ProcessPoolExecutor(max_workers=args.jobs).map(run_one, tasks)
    for p, s, _seed, hvs, elapsed in outcomes:
        results.setdefault((p, s), []).append((hvs, elapsed))
    if args.save:
        with open(args.save, "w") as fh:
            json.dump({"budgets": budgets, "runs": [{"problem": p, "sampler": s, "hv": [r[0] for r in runs],
                                                     "seconds": [r[1] for r in runs]}
                                                    for (p, s), runs in results.items()]}, fh)
    print_table(problems, samplers, budgets, results, args.seeds)


def print_table(problems: list[str], samplers: list[str], budgets: list[int],
                results: dict[tuple[str, str], list[tuple[list[float], float]]], seeds: int) -> None:
    """Mean ± sd of the normalised HV, and for each hposweep sampler at the largest budget the gain over
    Optuna's better sampler on that problem with the paired (same seed) Wilcoxon signed-rank p-value."""
    from scipy.stats import wilcoxon

    cols = " | ".join(f"HV@{b} mean ± sd" for b in budgets)
    head = f"| problem (ref) | sampler | {cols} | vs best Optuna | p | s/run |"
    print(f"\nhypervolume / reference box over {seeds} seed(s) (higher is better)\n")
    print(head)
    print("|" + "---|" * (5 + len(budgets)))
    gains: dict[str, list[float]] = {}
    for p in problems:
        ref = ",".join(f"{r:g}" for r in PROBLEMS[p].reference)
        final = {s: np.array([r[0][-1] for r in results[(p, s)]]) for s in samplers if results.get((p, s))}
        optuna = [s for s in final if s.startswith("optuna-")]
        best = max(optuna, key=lambda s: final[s].mean()) if optuna else None
        for s in samplers:
            runs = results.get((p, s), [])
            if not runs:
                continue
            hv = np.array([r[0] for r in runs])
            cells = [f"{hv[:, j].mean():.3f} ± {hv[:, j].std():.3f}" for j in range(len(budgets))]
            gain = pval = ""
            if best is not None and not s.startswith("optuna-") and len(final[s]) == len(final[best]):
                diff = final[s] - final[best]
                gains.setdefault(s, []).append(float(diff.mean()))
                gain = f"{diff.mean():+.3f} ({best.removeprefix('optuna-')})"
                pval = f"{wilcoxon(diff).pvalue:.3f}" if np.any(diff != 0) else "1"
            secs = np.mean([r[1] for r in runs])
            print(f"| {p} ({ref}) | {s} | " + " | ".join(cells) + f" | {gain} | {pval} | {secs:.1f} |")
    if gains:
        print(f"\nmean gain over Optuna's better sampler per problem at {budgets[-1]} trials:")
        for s, g in gains.items():
            print(f"  {s}: {np.mean(g):+.4f} over {len(g)} problem(s)")


if __name__ == "__main__":
    main()
