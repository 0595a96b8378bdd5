"""Warm start vs cold start: 10 new trials after a 40-trial study of the same problem, over seeds.

For each problem and seed: a 40-trial "old" study (default sampler, seed + 1000), then 10 trials
warm-started from it and 10 cold trials (both with the study seed ``seed``). The table gives the mean
(and standard error) of the best value of the 10 new trials only, so the priors' own best does not
count, and how many seeds the warm start won. Run: ``python scripts/bench_warm_start.py [--seeds 10]``.
Problems come from ../shared/bench/problems.py (next to the checkout).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _problems() -> dict[str, Any]:
    for folder in (os.path.join(HERE, "..", "..", "shared", "bench"), os.path.join(HERE, "..", "shared", "bench")):
        if os.path.exists(os.path.join(folder, "problems.py")):
            sys.path.insert(0, os.path.abspath(folder))
            from problems import PROBLEMS  # type: ignore[import-not-found]

            return dict(PROBLEMS)
    raise SystemExit("cannot find shared/bench/problems.py")


def best_of(study: Any) -> float:
    return min(t.value for t in study.trials if t.value is not None)


def run(space_dict: dict[str, Any], fn: Any, seed: int, n: int, warm: Any = None) -> Any:
    from hposweep import SearchSpace, Study

    study = Study(SearchSpace.from_dict(space_dict), direction="minimize", seed=seed,
                  warm_start=[warm] if warm is not None else None)
    for _ in range(n):
        t = study.ask()
        study.tell(t, fn(t.params))
    return study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", default="branin,hartmann6,tabular_like")
    ap.add_argument("--old", type=int, default=40)
    ap.add_argument("--new", type=int, default=10)
    args = ap.parse_args()
    problems = _problems()
    print(f"| problem | cold best of {args.new} (mean ± se) | warm best of {args.new} (mean ± se) | warm wins |")
    print("|---|---|---|---|")
    for name in args.problems.split(","):
        space, fn, _ = problems[name]
        cold, warm = [], []
        for seed in range(args.seeds):
            old = run(space, fn, seed + 1000, args.old)
            cold.append(best_of(run(space, fn, seed, args.new)))
            warm.append(best_of(run(space, fn, seed, args.new, warm=old)))

        def cell(xs: list[float]) -> str:
            se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
            return f"{statistics.mean(xs):.4f} ± {se:.4f}"

        wins = sum(w < c for w, c in zip(warm, cold, strict=True))
        print(f"| {name} | {cell(cold)} | {cell(warm)} | {wins}/{args.seeds} |", flush=True)


if __name__ == "__main__":
    main()
