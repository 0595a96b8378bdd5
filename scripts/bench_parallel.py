"""Parallel sweeps: speed-up of --jobs, throughput of workers sharing one study file, and the quality
of proposals made while other trials are still running.

    python scripts/bench_parallel.py [--trials 12] [--sleep 1.0] [--quick]
    python scripts/bench_parallel.py asks [--samplers tpe,gp] [--variants] [--seeds 10] [--budget 100]
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python scripts/bench_parallel.py asks --samplers gp --variants \
        --budget 50 --jobs 2 --problems branin,hartmann6,tabular_like,ackley5   # the table at gp.PENDING

1. `--jobs 2` against `--jobs 1` on sleep-bound trials (each trial sleeps --sleep seconds): the
   speed-up should be close to 2 (target >= 1.9).
2. Trials per second through 1, 2 and 4 `hposweep worker` processes on one study file with trivial
   trials: what the file lock and the journal cost when workers contend.
3. The same with 4 workers on a study that already holds 0, 1,000 and 5,000 trials: how the cost of
   an ask/tell under the lock grows with the study.
4. ``asks``: 4 simulated workers against one worker. Each trial takes a random time (uniform 0.5-1.5,
   seeded by seed and trial number), so trials finish out of order; a freed worker asks at once, so
   every ask after the first four sees 3 running trials with their params and no value. Quality is
   the best value among the first N *finished* trials, N = 25/50/100: the same work done. Per sampler
   it prints the mean best value per problem and the mean rank of "sequential" against each parallel
   variant over problems (ties averaged), plus Wilcoxon signed-rank p-values seed by seed.
   ``--variants`` adds the alternatives to the defaults: tpe with a constant liar or with its
   acquisition lowered near running trials (``running_penalty`` radii 0.5/1/2), gp's other
   ``PENDING`` choices (kriging believer with or without the believed incumbent, a constant liar at the
   worst value, the local penalty at another radius; the one equal to the default is skipped), and for either a
   ``+delayed`` reference: one worker whose sampler never sees the newest ``workers - 1`` results
   (nor any running trial). It has the information lag of 4 workers without their overlap, so a
   parallel variant that matches it loses only what asking before the results are in must lose.
"""

from __future__ import annotations

import argparse
import heapq
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SPACE = "metric: loss\nparameters:\n  x: {type: float, low: 0, high: 1}\n"


def hp() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "hposweep")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "hposweep"]


def run(cmd: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def jobs_speedup(trials: int, sleep: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "s.yaml"), "w").write(SPACE)
        cmd = ["/bin/sh", "-c", f'sleep {sleep}; echo "loss=1"']
        base = hp() + ["run", "--space", "s.yaml", "--trials", str(trials), "--sampler", "random", "--quiet"]
        t1 = run(base + ["--checkpoint", "j1.json", "--jobs", "1", "--", *cmd], d)
        t2 = run(base + ["--checkpoint", "j2.json", "--jobs", "2", "--", *cmd], d)
    return t1, t2


def workers_throughput(n_workers: int, trials: int, existing: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "s.yaml"), "w").write(SPACE)
        path = os.path.join(d, "st.json")
        subprocess.run(hp() + ["create", "--space", "s.yaml", "--trials", str(existing + trials), "--checkpoint",
                               "st.json", "--sampler", "random", "--", "/bin/sh", "-c", 'echo "loss=1"'],
                       cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if existing:
            import hposweep

            study = hposweep.Study.load(path)
            for _ in range(existing):
                t = study.ask()
                study.tell(t, t.params["x"])
            study.close()
        t0 = time.perf_counter()
        procs = [subprocess.Popen(hp() + ["worker", "st.json", "--quiet"], cwd=d, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(n_workers)]
        for p in procs:
            p.wait()
        elapsed = time.perf_counter() - t0
        out = subprocess.run(hp() + ["trials", "st.json", "--format", "csv"], cwd=d, capture_output=True, text=True)
        n = len(out.stdout.strip().splitlines()) - 1
        assert n == existing + trials, f"expected {existing + trials} trials, found {n}"
    return trials / elapsed


def simulate(space_d: dict[str, Any], f: Any, label: str, seed: int, budget: int, workers: int,
             delay: int = 0) -> list[float]:
    """Values in the order trials finished: ``workers`` in flight, a freed worker asks at once.

    ``delay``: the sampler sees all finished trials but the newest ``delay`` ones, and no running trial.
    """
    import dataclasses

    import numpy as np

    import hposweep
    from hposweep.samplers import make_sampler

    name, _, opts = label.partition(":")
    spec: Any = name
    if opts:
        spec = {"name": name, **{k: _literal(v) for k, v in (o.split("=", 1) for o in opts.split(";"))}}
    if delay:
        sampler = make_sampler(spec)
        ask = sampler.sample

        def lagged(space: Any, ctx: Any, rng: Any) -> Any:
            seen = ctx.finished[: max(0, len(ctx.finished) - delay)]
            return ask(space, dataclasses.replace(ctx, finished=seen, running=[]), rng)

        sampler.sample = lagged  # type: ignore[method-assign]
        spec = sampler
    study = hposweep.Study(hposweep.SearchSpace.from_dict(space_d), direction="minimize", sampler=spec, seed=seed,
                           settings={"trials": budget, "jobs": workers})
    events: list[tuple[float, int, Any]] = []
    now, asked, values = 0.0, 0, []

    def start() -> None:
        nonlocal asked
        trial = study.ask()
        duration = 0.5 + np.random.default_rng([seed, trial.number, 0xD0]).random()
        heapq.heappush(events, (now + duration, trial.number, trial))
        asked += 1

    for _ in range(min(workers, budget)):
        start()
    while events:
        now, _, trial = heapq.heappop(events)
        v = f(dict(trial.params))
        study.tell(trial, v)
        values.append(v)
        if asked < budget:
            start()
    return values


def _literal(v: str) -> Any:
    import json

    try:
        return json.loads(v)
    except ValueError:
        return v


def _asks_task(args: tuple[str, str, int, int, int]) -> tuple[str, str, int, int, list[float]]:
    import sys

    problem, label, seed, budget, workers = args
    scripts = str(Path(__file__).resolve().parent)
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from bench_gp import DEFAULT_BENCH, apply_variant, load_problems

    base, delayed, _ = label.partition("+delayed")
    sampler_label = apply_variant(base)  # "gp|PENDING=worst" patches a module constant for this run
    space, f = load_problems(DEFAULT_BENCH)[problem]
    if delayed:  # one worker, results withheld as long as 4 workers would wait for them
        return problem, label, seed, workers, simulate(space, f, sampler_label, seed, budget, 1, workers - 1)
    return problem, label, seed, workers, simulate(space, f, sampler_label, seed, budget, workers)


VARIANTS = {"tpe": ["tpe:constant_liar=true", "tpe:running_penalty=0.5", "tpe:running_penalty=1",
                    "tpe:running_penalty=2", "tpe+delayed"],
            "gp": ["gp|PENDING=mean", "gp|PENDING=worst", "gp|PENDING=believer", "gp|PENDING=penalize",
                   "gp|PENDING=penalize|PENALTY_RADIUS=0.3", "gp+delayed"]}


def _is_default(variant: str) -> bool:
    """``gp|PENDING=mean`` while ``PENDING`` is "mean" already: the same run as plain ``gp``."""
    import importlib

    name, *patches = variant.split("|")
    if not patches or "+" in variant:
        return False
    for patch in patches:
        key, value = patch.split("=", 1)
        mod_name, _, attr = key.rpartition(".")
        current = getattr(importlib.import_module(f"hposweep.samplers.{mod_name or name}"), attr)
        if type(current)(value) != current:
            return False
    return True


def asks(a: argparse.Namespace) -> None:
    """Sequential against 4 workers (see the module docstring, item 4)."""
    import json
    from multiprocessing import Pool

    import numpy as np
    from scipy.stats import rankdata, wilcoxon

    problems = a.problems.split(",")
    bases = a.samplers.split(",")
    parallel = {b: [b] + ([v for v in VARIANTS.get(b.split(":")[0], []) if not _is_default(v)] if a.variants
                          else []) for b in bases}
    runs = [(b, 1) for b in bases] + [(v, a.workers) for b in bases for v in parallel[b]]
    tasks = [(p, lab, seed, a.budget, w) for lab, w in runs for seed in range(a.seeds) for p in problems]
    rows = [json.loads(line) for path in a.load for line in Path(path).read_text().splitlines() if line.strip()]
    if not a.load:
        out = open(a.out, "a") if a.out else None  # noqa: SIM115
        with Pool(a.jobs) as pool:
            for p, lab, seed, w, values in pool.imap_unordered(_asks_task, tasks, chunksize=1):
                rows.append({"problem": p, "sampler": lab, "seed": seed, "workers": w, "values": values})
                if out:
                    out.write(json.dumps(rows[-1]) + "\n")
                    out.flush()
    best: dict[tuple[str, str, int, int], float] = {}
    budgets = [b for b in (25, 50, 100, 200) if b <= a.budget]
    for r in rows:
        for b in budgets:
            if len(r["values"]) >= b:
                best[r["problem"], f"{r['sampler']}@{r['workers']}", r["seed"], b] = min(r["values"][:b])
    seeds = range(a.seeds)
    print(f"{a.workers} workers vs 1, {a.seeds} seeds, best value among the first N finished trials "
          f"(N = {'/'.join(map(str, budgets))})")
    for b0 in bases:
        cols = [f"{b0}@1"] + [f"{v}@{a.workers}" for v in parallel[b0]]
        print(f"\n{'problem':14s}" + "".join(f"{c:>30s}" for c in cols))
        for p in problems:
            cells = ["/".join(f"{np.mean([best[p, c, s, b] for s in seeds]):.4g}" for b in budgets) for c in cols]
            print(f"{p:14s}" + "".join(f"{x:>30s}" for x in cells))
        print(f"mean rank over {len(problems)} problems (1 = best of these {len(cols)}; the target: a parallel "
              f"default within 0.3 of sequential)")
        for b in budgets:
            ranks = np.mean([rankdata([round(float(np.mean([best[p, c, s, b] for s in seeds])), 12) for c in cols])
                             for p in problems], axis=0)
            print(f"{'rank @' + str(b):14s}" + "".join(f"{r:>30.2f}" for r in ranks))
        pair = [np.mean([rankdata([round(float(np.mean([best[p, c, s, b] for s in seeds])), 12) for c in cols[:2]])
                         for p in problems], axis=0) for b in budgets]
        print("  sequential vs the default in parallel alone: " + ", ".join(
            f"@{b} {r[0]:.2f} vs {r[1]:.2f}" for r, b in zip(pair, budgets, strict=True)))
        for c in cols[1:]:  # finer than ranks of means: sequential vs c seed by seed, ties 1.5 each
            per_seed = [np.mean([rankdata([best[p, cols[0], s, b], best[p, c, s, b]])[1] for p in problems
                                 for s in seeds]) for b in budgets]
            print(f"  {c}: mean rank against sequential alone, problem x seed (1.5 = even): " + ", ".join(
                f"@{b} {r:.2f}" for r, b in zip(per_seed, budgets, strict=True)))
        for c in cols[1:]:
            pvals = []
            for p in problems:
                x = np.array([best[p, cols[0], s, budgets[-1]] for s in seeds])
                y = np.array([best[p, c, s, budgets[-1]] for s in seeds])
                pvals.append(f"{p} {float(wilcoxon(x, y).pvalue) if np.any(x != y) else 1.0:.2f}"
                             f"{'+' if y.mean() < x.mean() else '-'}")
            print(f"  {c} vs sequential @{budgets[-1]}, Wilcoxon p (+: parallel better): " + ", ".join(pvals))
    if len(bases) > 1:
        allc = [f"{b0}@1" for b0 in bases] + [f"{v}@{a.workers}" for b0 in bases for v in parallel[b0]]
        print(f"\nmean rank of all {len(allc)} over {len(problems)} problems")
        print(f"{'budget':14s}" + "".join(f"{c:>30s}" for c in allc))
        for b in budgets:
            ranks = np.mean([rankdata([round(float(np.mean([best[p, c, s, b] for s in seeds])), 12) for c in allc])
                             for p in problems], axis=0)
            print(f"{'rank @' + str(b):14s}" + "".join(f"{r:>30.2f}" for r in ranks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--sleep", type=float, default=1.0)
    ap.add_argument("--worker-trials", type=int, default=80)
    ap.add_argument("--quick", action="store_true", help="skip the large-study rows")
    ap.add_argument("mode", nargs="?", default="throughput", choices=["throughput", "asks"])
    ap.add_argument("--samplers", default="tpe,gp", help="asks: hposweep samplers, e.g. tpe:constant_liar=false")
    ap.add_argument("--variants", action="store_true", help="asks: also the alternatives of VARIANTS")
    ap.add_argument("--problems", default="branin,hartmann6,ackley5,tabular_like,styblinski8,netlike")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=1, help="asks: processes running simulations")
    ap.add_argument("--out", help="asks: append one JSON line per run here")
    ap.add_argument("--load", nargs="*", default=[], help="asks: report on saved JSON lines instead of running")
    a = ap.parse_args()
    if a.mode == "asks":
        asks(a)
        return
    t1, t2 = jobs_speedup(a.trials, a.sleep)
    print(f"{'measure':52s} {'value':>10s}")
    print(f"{f'--jobs 1, {a.trials} trials of sleep {a.sleep:g}s (s)':52s} {t1:10.2f}")
    print(f"{'--jobs 2, same (s)':52s} {t2:10.2f}")
    print(f"{'speed-up (target >= 1.9)':52s} {t1 / t2:10.2f}")
    for w in (1, 2, 4):
        rate = workers_throughput(w, a.worker_trials, 0)
        print(f"{f'{w} worker(s), trivial trials (trials/s)':52s} {rate:10.1f}")
    if not a.quick:
        for existing in (1000, 5000):
            rate = workers_throughput(4, a.worker_trials, existing)
            print(f"{f'4 workers, study already holding {existing} trials (trials/s)':52s} {rate:10.1f}")


if __name__ == "__main__":
    main()
