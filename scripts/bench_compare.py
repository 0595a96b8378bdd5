"""Per-problem comparison of hposweep's default sampler with Optuna's TPE and GP samplers and SMAC3.

    python scripts/bench_compare.py --seeds 10 --budget 100 --workers 2 --out compare.jsonl
    python scripts/bench_compare.py --out compare.jsonl --table-only        # re-print a finished run
    python scripts/bench_compare.py --out compare.jsonl --table-only --pick recommend   # + `best --robust`'s pick
    python scripts/bench_compare.py --samplers "hposweep-auto,hposweep-auto|_gp.NOISE_PRIOR_SD=3.0"  # a variant

Needs, for the anchors, a throwaway venv (never hposweep's own dependencies):
``pip install -e . optuna smac torch==2.13.0``. A sampler whose package is missing is skipped with a line.

What it measures, per problem and budget (25, 50, 100 trials), over ``--seeds`` seeds:

* the mean best value found (lower is better) of each sampler;
* whether ``hposweep-auto`` is the best, or **within noise** of the best: a one-sided Mann-Whitney rank-sum
  test of its per-seed best values against the best sampler's, at p < 0.05 (a ``LOSS`` is a significant
  difference, not a smaller mean);
* the mean rank of each sampler across problems at each budget.

Noisy problems (``*_noisy``) add seeded Gaussian noise of a realistic size to what the sampler sees; the
value reported for them is the **true** (noise-free) value of the configuration each sampler would pick
(its best *observed* trial), which is what a user gets from a noisy sweep. ``--pick recommend`` adds a column
``NAME@rec`` per hposweep sampler: the true value of the trial ``hposweep best --robust`` recommends
(``hposweep.analysis.recommend``), the verdict is then for that column, and a last column compares it with the
best observed trial seed by seed (paired Wilcoxon). A sampler name ``hposweep-S|MODULE.CONSTANT=VALUE`` runs a
variant with a module constant of ``hposweep.samplers`` changed (``bench_gp.apply_variant``).

Problems: the shared ones (``../shared/bench/problems.py``) and those of ``scripts/tpe_quality.py``
(multimodal, 2-20 dimensions, ints, log scales, categoricals, a conditional space, an all-discrete one), and
the real tabular MLP surfaces of ``scripts/bench_tabular.py`` (``mlp_*``: one recorded training seed per trial,
judged by the mean over seeds).
``optuna-gp`` runs on numeric spaces only and ``smac-hpo`` on unconditional ones (a line says which were
skipped). Results are appended to ``--out`` one run per line as they finish, so an interrupted benchmark
continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tpe_quality import ALL_PROBLEMS  # noqa: E402

BUDGETS = (25, 50, 100)
#: noise sd per noisy problem: a few percent of the objective's range over the space, as seed-to-seed
#: variation of a real validation loss is
NOISY = {"hartmann6_noisy": ("hartmann6", 0.1), "tabular_like_noisy": ("tabular_like", 0.01),
         "mixed12_noisy": ("mixed12", 0.05), "branin_noisy": ("branin", 1.0)}


def problems() -> dict[str, tuple[dict[str, Any], Any, float]]:
    out = {name: (space, f, 0.0) for name, (space, f) in ALL_PROBLEMS.items()}
    for name, (base, sd) in NOISY.items():
        if base in ALL_PROBLEMS:
            out[name] = (ALL_PROBLEMS[base][0], ALL_PROBLEMS[base][1], sd)
    out.update(tabular_problems())
    return out


def tabular_problems() -> dict[str, tuple[dict[str, Any], Any, float]]:
    """The real tabular MLP surfaces of ``bench_tabular.py`` (``mlp_<dataset>_{cat,num}``), when its table is here.

    Their noise is real, not Gaussian: :func:`run_one` hands them to ``bench_tabular.run_one``, whose objective
    returns one recorded training seed and whose true value is the mean over seeds (the ``f`` here).
    """
    import bench_tabular

    if not os.path.exists(bench_tabular.DATA):
        return {}
    return {name: (space, bench_tabular.mean_loss(ds), 0.0) for name, (space, ds) in bench_tabular.problems().items()}


def is_numeric(space: dict[str, Any]) -> bool:
    return all(s["type"] in ("float", "int") and "when" not in s for s in space.values())


def is_conditional(space: dict[str, Any]) -> bool:
    return any("when" in s for s in space.values())


def active(spec: dict[str, Any], params: dict[str, Any]) -> bool:
    return all(params.get(k) == v for k, v in (spec.get("when") or {}).items())


# --- one run: the (observed, true) value of every trial ------------------------------------------------
def run_hposweep(space: dict[str, Any], seed: int, budget: int, objective: Any, sampler: str) -> list[float]:
    import hposweep

    study = hposweep.Study(hposweep.SearchSpace.from_dict(space), direction="minimize", sampler=sampler, seed=seed)
    seen = []
    for _ in range(budget):
        trial = study.ask()
        v = objective(dict(trial.params))
        study.tell(trial, v)
        seen.append(v)
    return seen


def run_optuna(space: dict[str, Any], seed: int, budget: int, objective: Any, kind: str) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.GPSampler(seed=seed) if kind == "gp" else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(sampler=sampler)
    seen = []
    for _ in range(budget):
        t = study.ask()
        p: dict[str, Any] = {}
        for name, s in space.items():  # define-by-run: a conditional parameter is asked only when active
            if not active(s, p):
                continue
            if s["type"] == "float":
                p[name] = t.suggest_float(name, s["low"], s["high"], log=s.get("log", False))
            elif s["type"] == "int":
                p[name] = t.suggest_int(name, s["low"], s["high"], log=s.get("log", False), step=s.get("step", 1))
            else:
                p[name] = t.suggest_categorical(name, s["choices"])
        v = objective(p)
        study.tell(t, v)
        seen.append(v)
    return seen


def run_smac(space: dict[str, Any], seed: int, budget: int, objective: Any) -> list[float]:
    import logging
    import tempfile

    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    logging.getLogger("smac").setLevel(logging.ERROR)
    cs = ConfigurationSpace(seed=seed)
    back: dict[str, dict[str, Any]] = {}
    steps: dict[str, int] = {}
    for name, s in space.items():
        if s["type"] == "float":
            cs.add(Float(name, (s["low"], s["high"]), log=s.get("log", False)))
        elif s["type"] == "int" and s.get("step", 1) != 1:  # a stepped int as its index
            steps[name] = s["step"]
            cs.add(Integer(name, (0, (s["high"] - s["low"]) // s["step"])))
        elif s["type"] == "int":
            cs.add(Integer(name, (s["low"], s["high"]), log=s.get("log", False)))
        else:
            back[name] = {str(c): c for c in s["choices"]}
            cs.add(Categorical(name, list(back[name])))
    scenario = Scenario(cs, deterministic=True, n_trials=budget, seed=seed, output_directory=tempfile.mkdtemp())
    smac = HyperparameterOptimizationFacade(scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=40)
    seen = []
    for _ in range(budget):
        info = smac.ask()
        p = {}
        for k, v in dict(info.config).items():
            p[k] = back[k][v] if k in back else (space[k]["low"] + v * steps[k] if k in steps else v)
        value = objective(p)
        smac.tell(info, TrialValue(cost=float(value)))
        seen.append(value)
    return seen


def run_one(job: tuple[str, str, int, int]) -> dict[str, Any]:
    """One sampler on one problem with one seed: per trial the observed and the true value."""
    sampler, problem, seed, budget = job
    if problem.startswith("mlp_"):  # a real tabular surface: its own (recorded-seed) noise
        import bench_tabular

        return bench_tabular.run_one(job)
    space, f, sd = problems()[problem]
    rng = np.random.default_rng([seed, 7919])
    truths: list[float] = []
    asked: list[dict[str, Any]] = []

    def objective(p: dict[str, Any]) -> float:
        true = float(f(p))
        truths.append(true)
        asked.append({k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()})
        return true + (float(rng.normal(0.0, sd)) if sd else 0.0)

    t0 = time.perf_counter()
    if sampler.startswith("hposweep-") and "|" in sampler:  # a variant: hposweep-gp|_gp.NOISE_PRIOR_SD=3.0
        from bench_gp import apply_variant

        seen = run_hposweep(space, seed, budget, objective, apply_variant(sampler[len("hposweep-"):]))
    elif sampler.startswith("hposweep-"):
        seen = run_hposweep(space, seed, budget, objective, sampler[len("hposweep-"):])
    elif sampler.startswith("optuna-"):
        seen = run_optuna(space, seed, budget, objective, sampler[len("optuna-"):])
    elif sampler == "smac-hpo":
        seen = run_smac(space, seed, budget, objective)
    else:
        raise SystemExit(f"unknown sampler {sampler!r}")
    return {"sampler": sampler, "problem": problem, "seed": seed, "budget": budget, "seen": seen,
            "true": truths, "params": asked, "seconds": time.perf_counter() - t0}


#: ``--pick recommend``: a sampler name with this suffix is that sampler's runs, picked by
#: ``hposweep.analysis.recommend`` instead of by the best observed value
REC = "@rec"
_rec_cache: dict[tuple[str, str, int, int], int] = {}


def recommended_index(run: dict[str, Any], b: int) -> int:
    """The trial ``hposweep.analysis.recommend`` picks among the first ``b`` (what ``best --robust`` returns)."""
    key = (run["sampler"], run["problem"], run["seed"], b)
    if key not in _rec_cache:
        import hposweep
        from hposweep.analysis.recommend import recommend

        space = hposweep.SearchSpace.from_dict(problems()[run["problem"]][0])
        params = [space.complete(p) for p in run["params"][:b]]
        _rec_cache[key] = recommend(space, params, run["seen"][:b], minimize=True).index
    return _rec_cache[key]


def picked_true(run: dict[str, Any], b: int, pick: str = "observed") -> float:
    """The true value of the configuration picked after ``b`` trials: the best observed one, or with
    ``pick="recommend"`` the recommended one (runs without recorded params fall back to the best observed)."""
    seen, true = run["seen"][:b], run["true"][:b]
    if pick == "recommend" and "params" in run:
        return float(true[recommended_index(run, b)])
    return float(true[int(np.argmin(seen))])


# --- tables ------------------------------------------------------------------------------------------------
def available(sampler: str) -> str | None:
    import importlib.util

    need = {"optuna-tpe": "optuna", "optuna-gp": "torch", "smac-hpo": "smac"}.get(sampler)
    if need and importlib.util.find_spec(need) is None:
        return f"{sampler}: skipped ({need} is not installed here)"
    if sampler == "optuna-gp" and importlib.util.find_spec("optuna") is None:
        return f"{sampler}: skipped (optuna is not installed here)"
    return None


def applies(sampler: str, space: dict[str, Any]) -> bool:
    if sampler == "optuna-gp":
        return is_numeric(space)
    if sampler == "smac-hpo":
        return not is_conditional(space)
    return True


def tables(runs: list[dict[str, Any]], samplers: list[str], names: list[str], seeds: int) -> str:
    from scipy.stats import mannwhitneyu, rankdata, wilcoxon

    ref = "hposweep-auto" + REC if "hposweep-auto" + REC in samplers else "hposweep-auto"
    longest: dict[tuple[str, str, int], dict[str, Any]] = {}  # a seed run at 25 and again at 100: keep the 100
    for r in runs:
        key = (r["problem"], r["sampler"], r["seed"])
        if r["seed"] < seeds and (key not in longest or len(r["seen"]) > len(longest[key]["seen"])):
            longest[key] = r
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (problem, sampler, _), r in longest.items():
        by.setdefault((problem, sampler), []).append(r)
    lines = [f"mean best value (lower is better; noisy problems: true value of the pick) over {seeds} seeds; "
             f"verdict: {ref} against the best, one-sided Mann-Whitney p < 0.05"
             + (f"; last column: {ref} against the best observed trial, paired Wilcoxon" if ref.endswith(REC) else ""),
             ""]
    ranks: dict[int, dict[str, list[float]]] = {b: {s: [] for s in samplers} for b in BUDGETS}
    verdicts: dict[int, list[str]] = {b: [] for b in BUDGETS}
    for b in BUDGETS:
        if not any(len(r["seen"]) >= b for r in runs):
            continue
        lines.append(f"| problem @{b} | " + " | ".join(samplers) + " | verdict for auto |"
                     + (" rec vs observed |" if ref.endswith(REC) else ""))
        lines.append("|---" * (len(samplers) + 2 + ref.endswith(REC)) + "|")
        for p in names:
            vals: dict[str, np.ndarray] = {}
            for s in samplers:
                rs = by.get((p, s.removesuffix(REC)), [])
                if len(rs) >= seeds and all(len(r["seen"]) >= b for r in rs):
                    vals[s] = np.array([picked_true(r, b, "recommend" if s.endswith(REC) else "observed")
                                        for r in sorted(rs, key=lambda r: r["seed"])])
            if ref not in vals or len(vals) < 2:
                continue
            means = {s: float(v.mean()) for s, v in vals.items()}
            rivals = [s for s in vals if s.removesuffix(REC) != ref.removesuffix(REC)] + [ref]
            best = min(rivals, key=lambda s: means[s])
            if best == ref:
                verdict = "best"
            else:
                pval = float(mannwhitneyu(vals[ref], vals[best], alternative="greater").pvalue)
                verdict = f"within noise of {best} (p={pval:.2f})" if pval >= 0.05 else f"LOSS to {best} (p={pval:.3f})"
            verdicts[b].append(verdict)
            if ref.endswith(REC):
                diff = vals[ref] - vals[ref.removesuffix(REC)]
                paired = "same picks" if not np.any(diff) else (
                    f"{diff.mean():+.3g} (p={float(wilcoxon(diff).pvalue):.2f})")
                verdict += f" | {paired}"
            present = [s for s in samplers if s in vals]
            # ranks among the samplers that ran here, stretched onto 1..len(samplers) so that a problem
            # where one anchor does not apply weighs the same as the others
            for s, rk in zip(present, rankdata([round(means[s], 12) for s in present])):
                ranks[b][s].append(1 + (float(rk) - 1) * (len(samplers) - 1) / (len(present) - 1))
            cells = [f"{means[s]:.4g} ± {vals[s].std(ddof=1) / math.sqrt(len(vals[s])):.2g}" if s in vals else "n/a"
                     for s in samplers]
            lines.append(f"| {p} | " + " | ".join(f"**{c}**" if s == best else c for s, c in zip(samplers, cells))
                         + f" | {verdict} |")
        lines.append("")
    lines.append("| mean rank | " + " | ".join(samplers) + " | auto best or within noise |")
    lines.append("|---" * (len(samplers) + 2) + "|")
    for b in BUDGETS:
        if not verdicts[b]:
            continue
        ok = sum(not v.startswith("LOSS") for v in verdicts[b])
        lines.append(f"| @{b} | " + " | ".join(f"{np.mean(ranks[b][s]):.2f}" if ranks[b][s] else "n/a"
                                            for s in samplers) + f" | {ok}/{len(verdicts[b])} |")
    secs = {s: np.mean([r["seconds"] for r in runs if r["sampler"] == s.removesuffix(REC)] or [float("nan")])
            for s in samplers}
    lines.append("")
    lines.append("seconds per run: " + ", ".join(f"{s} {secs[s]:.1f}" for s in samplers if not s.endswith(REC)))
    return "\n".join(lines)


def load_runs(path: str) -> list[dict[str, Any]]:
    """The runs recorded in ``path`` (one JSON object a line); none when it does not exist yet."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run_jobs(run: Any, jobs: list[tuple[str, str, int, int]], path: str, workers: int,
             runs: list[dict[str, Any]]) -> None:
    """Run ``run(job)`` for each job in ``workers`` processes, appending each result to ``path`` as it finishes
    (so an interrupted benchmark continues where it stopped) and to ``runs``."""
    with ProcessPoolExecutor(workers) as pool, open(path, "a") as out:
        futures = [pool.submit(run, j) for j in jobs]
        for k, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            out.write(json.dumps(r) + "\n")
            out.flush()
            runs.append(r)
            print(f"[{k}/{len(jobs)}] {r['sampler']} {r['problem']} seed {r['seed']}: {r['seconds']:.1f}s",
                  file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", default="hposweep-auto,optuna-tpe,optuna-gp,smac-hpo")
    ap.add_argument("--problems", default=",".join(problems()))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 0))
    ap.add_argument("--out", default="bench_compare.jsonl", help="results, one run per line (appended)")
    ap.add_argument("--table-only", action="store_true", help="print the tables of --out, run nothing")
    ap.add_argument("--pick", choices=("observed", "recommend"), default="observed",
                    help="how hposweep's final configuration is picked: its best observed trial, or also "
                         "(extra columns NAME@rec) the trial `hposweep best --robust` recommends under noise")
    a = ap.parse_args()
    samplers, names = a.samplers.split(","), a.problems.split(",")
    unknown = [n for n in names if n not in problems()]
    if unknown:
        raise SystemExit(f"unknown problem(s) {unknown}; known: {', '.join(problems())}")
    runs = load_runs(a.out)
    if not a.table_only:
        for s in list(samplers):
            why = available(s)
            if why:
                print(why, file=sys.stderr)
                samplers.remove(s)
        done = {(r["sampler"], r["problem"], r["seed"]) for r in runs if r["budget"] >= a.budget}
        jobs = [(s, p, seed, a.budget) for s in samplers for p in names for seed in range(a.seeds)  # cheap first
                if applies(s, problems()[p][0]) and (s, p, seed) not in done]
        skipped = sorted({f"{s} on {p}" for p in names for s in samplers if not applies(s, problems()[p][0])})
        if skipped:
            print("not applicable (numeric-only GP, unconditional-only SMAC): " + ", ".join(skipped), file=sys.stderr)
        print(f"{len(jobs)} runs to do ({len(done)} already in {a.out})", file=sys.stderr)
        run_jobs(run_one, jobs, a.out, a.workers, runs)
    if a.pick == "recommend":
        samplers = [c for s in samplers for c in ([s, s + REC] if s.startswith("hposweep-") else [s])]
    print(tables(runs, samplers, names, a.seeds))


if __name__ == "__main__":
    main()
