#!/usr/bin/env python3
"""Multi-objective benchmark: hypervolume reached after a budget of trials, hposweep vs Optuna.

Problems (all minimised, box [0, 1]^n, fixed reference points so numbers compare across runs):

* ZDT1, ZDT2, ZDT3 with 10 variables, reference (11, 11);
* DTLZ2 with 3 objectives and 12 variables, reference (2, 2, 2).

Samplers: hposweep's ``random`` and ``nsga2`` (plus variants: ``nsga2-sbx`` with SBX crossover, ``nsga2-hv``
cutting the last front by hypervolume, ``nsga2-p20`` with a population of 20), hposweep's
``tpe`` when it accepts several objectives, and Optuna's ``TPESampler`` and ``NSGAIISampler`` when optuna
is importable. Each (problem, sampler, seed) run is independent and runs in a worker process.

    python scripts/bench_multiobjective.py                  # 10 seeds, HV at 100 and 200 trials
    python scripts/bench_multiobjective.py --seeds 2 --budget 60,120 --samplers nsga2,random
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Problem:
    name: str
    fn: Callable[[np.ndarray], list[float]]
    n_vars: int
    reference: tuple[float, ...]


PROBLEMS = {
    "zdt1": Problem("zdt1", zdt1, 10, (11.0, 11.0)),
    "zdt2": Problem("zdt2", zdt2, 10, (11.0, 11.0)),
    "zdt3": Problem("zdt3", zdt3, 10, (11.0, 11.0)),
    "dtlz2": Problem("dtlz2", dtlz2, 12, (2.0, 2.0, 2.0)),
}


# --- runners ---------------------------------------------------------------------------------------
def run_hposweep(problem: Problem, sampler: object, seed: int, budget: int) -> list[list[float]]:
    space = SearchSpace.from_dict({f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(problem.n_vars)})
    m = len(problem.reference)
    study = Study(space, directions=["minimize"] * m, sampler=sampler, seed=seed)
    values = []
    for _ in range(budget):
        trial = study.ask()
        v = problem.fn(np.array([trial.params[f"x{i}"] for i in range(problem.n_vars)]))
        study.tell(trial, v)
        values.append(v)
    return values


def run_optuna(problem: Problem, which: str, seed: int, budget: int) -> list[list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if which == "tpe" else optuna.samplers.NSGAIISampler(seed=seed)
    m = len(problem.reference)
    study = optuna.create_study(directions=["minimize"] * m, sampler=sampler)
    values = []

    def objective(trial: optuna.Trial) -> list[float]:
        x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(problem.n_vars)])
        v = problem.fn(x)
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
}


def run_one(task: tuple[str, str, int, list[int]]) -> tuple[str, str, int, list[float], float]:
    problem_name, sampler_name, seed, budgets = task
    problem = PROBLEMS[problem_name]
    start = time.perf_counter()
    if sampler_name.startswith("optuna-"):
        values = run_optuna(problem, sampler_name.removeprefix("optuna-"), seed, max(budgets))
    else:
        values = run_hposweep(problem, SAMPLER_SPECS[sampler_name](), seed, max(budgets))
    elapsed = time.perf_counter() - start
    hvs = [hypervolume(values[:b], problem.reference) for b in budgets]
    return problem_name, sampler_name, seed, hvs, elapsed


# --- availability --------------------------------------------------------------------------------
def hposweep_tpe_supports_mo() -> bool:
    """True when hposweep's `tpe` exists and runs a small two-objective study without error."""
    try:
        from hposweep.samplers import sampler_class

        sampler_class("tpe")
        run_hposweep(Problem("probe", zdt1, 3, (11.0, 11.0)), "tpe", 0, 30)
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
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = ap.parse_args()
    budgets = sorted(int(b) for b in args.budget.split(","))
    problems = args.problems.split(",")
    samplers = args.samplers.split(",") if args.samplers else default_samplers()
    tasks = [(p, s, seed, budgets) for p in problems for s in samplers for seed in range(args.seeds)]
    results: dict[tuple[str, str], list[tuple[list[float], float]]] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for p, s, _seed, hvs, elapsed in pool.map(run_one, tasks):
            results.setdefault((p, s), []).append((hvs, elapsed))
    print_table(problems, samplers, budgets, results, args.seeds)


def print_table(problems: list[str], samplers: list[str], budgets: list[int],
                results: dict[tuple[str, str], list[tuple[list[float], float]]], seeds: int) -> None:
    head = "| problem (ref) | sampler | " + " | ".join(f"HV@{b} mean ± sd" for b in budgets) + " | s/run |"
    print(f"\nhypervolume over {seeds} seed(s) (higher is better)\n")
    print(head)
    print("|" + "---|" * (3 + len(budgets)))
    for p in problems:
        ref = ",".join(f"{r:g}" for r in PROBLEMS[p].reference)
        for s in samplers:
            runs = results.get((p, s), [])
            if not runs:
                continue
            hv = np.array([r[0] for r in runs])
            cells = [f"{hv[:, j].mean():.3f} ± {hv[:, j].std():.3f}" for j in range(len(budgets))]
            secs = np.mean([r[1] for r in runs])
            print(f"| {p} ({ref}) | {s} | " + " | ".join(cells) + f" | {secs:.1f} |")


if __name__ == "__main__":
    main()
