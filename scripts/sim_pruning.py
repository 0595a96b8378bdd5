"""Simulated learning curves: how many epochs each pruner saves, and whether it keeps the best trial.

Pure: no files, no subprocesses. Each study draws ``--trials`` synthetic curves

    loss(e) = a + b * exp(-e / tau) + noise,   e = 0 .. epochs-1

that all start near the same loss (``a + b ~ 2.3``, like cross-entropy over 10 classes); ``a`` (the
final loss) is uniform, and better trials tend to be slower to start (``tau`` grows as ``a`` shrinks,
with scatter), which is the case that fools early pruning. Trials run ``--jobs`` at a time, each
reporting one epoch per tick, and the pruner is asked after every report exactly as the Study
asks it. The oracle best trial is the one with the best final loss had every trial run to the end.

Columns: ``saved`` = fraction of epochs not run (vs. no pruning); ``best kept`` = studies in which
the oracle best trial completed; ``regret`` = mean (best completed final loss - oracle best).

    python scripts/sim_pruning.py [--seeds 20] [--trials 60] [--epochs 50] [--jobs 1] [--noise 0.03]
                                  [--slow-start 1.4]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hposweep.core.trial import Trial, TrialState
from hposweep.pruners import make_pruner
from hposweep.pruners.base import Pruner

#: label -> pruner spec, in table order; "optuna" rows are the established tools' defaults
CONFIGS: dict[str, object] = {
    "none": "none",
    "median, warm-up 0 (Optuna)": {"name": "median", "n_warmup_steps": 0},
    "median, warm-up 10": {"name": "median", "n_warmup_steps": 10},
    "median, warm-up auto (default)": "median",
    "percentile 25, warm-up 0": {"name": "percentile", "n_warmup_steps": 0},
    "percentile 25, auto (default)": "percentile",
    "asha, min_resource 1 (Ray/Optuna)": {"name": "asha", "min_resource": 1},
    "asha, min_resource auto (default)": "asha",
    "hyperband, min_resource 1 (Optuna)": {"name": "hyperband", "min_resource": 1},
    "hyperband, min_resource auto (default)": "hyperband",
}


@dataclass
class Outcome:
    saved: float
    best_kept: bool
    regret: float


def draw_curves(
    rng: np.random.Generator, n_trials: int, n_epochs: int, noise: float, slow_start: float = 1.4
) -> np.ndarray:
    """One row per trial; better (lower ``a``) trials are slower to start on average.

    ``log tau = log 2.5 + slow_start * quality + N(0, 0.5)``, quality 0 (worst) .. 1 (best): with the
    default 1.4 the best trials have tau ~ 10 epochs and the worst ~ 2.5; with 0 speed and quality
    are unrelated.
    """
    a = rng.uniform(0.2, 1.2, n_trials)
    start = 2.3 + rng.normal(0.0, 0.02, n_trials)
    quality = 1.0 - (a - 0.2)  # 1 best, 0 worst
    tau = np.clip(np.exp(np.log(2.5) + slow_start * quality + rng.normal(0.0, 0.5, n_trials)), 0.5, 40.0)
    e = np.arange(n_epochs)
    clean = a[:, None] + (start - a)[:, None] * np.exp(-e[None, :] / tau[:, None])
    return clean + rng.normal(0.0, noise, (n_trials, n_epochs))


def simulate(pruner: Pruner, curves: np.ndarray, n_jobs: int, seed: int) -> Outcome:
    n_trials, n_epochs = curves.shape
    pruner.bind(seed=seed, direction="minimize")
    trials: list[Trial] = []
    running: list[Trial] = []
    next_number, used, seq = 0, 0, 0
    while next_number < n_trials or running:
        while len(running) < n_jobs and next_number < n_trials:
            t = Trial(number=next_number, params={})
            trials.append(t)
            running.append(t)
            next_number += 1
        for t in list(running):
            e = len(t.intermediate)
            t.intermediate[e] = float(curves[t.number, e])
            used += 1
            if pruner.should_prune(t, [o for o in trials if o is not t]):
                t.state = TrialState.PRUNED
            elif e == n_epochs - 1:
                t.state, t.values = TrialState.COMPLETE, [float(curves[t.number, e])]
            else:
                continue
            t.finish_seq, seq = seq, seq + 1
            running.remove(t)
    finals = curves[:, -1]
    best = int(np.argmin(finals))
    completed = [t.number for t in trials if t.state == TrialState.COMPLETE]
    return Outcome(
        saved=1.0 - used / curves.size,
        best_kept=trials[best].state == TrialState.COMPLETE,
        regret=float(finals[completed].min() - finals[best]),
    )


def run_table(
    configs: dict[str, object],
    seeds: int,
    n_trials: int,
    n_epochs: int,
    n_jobs: int,
    noise: float,
    slow_start: float = 1.4,
    factory: Callable[[object], Pruner] = make_pruner,  # type: ignore[assignment]
) -> list[tuple[str, float, int, float]]:
    rows = []
    for label, spec in configs.items():
        outs = []
        for seed in range(seeds):
            curves = draw_curves(np.random.default_rng(seed), n_trials, n_epochs, noise, slow_start)
            outs.append(simulate(factory(spec), curves, n_jobs, seed))
        rows.append(
            (
                label,
                float(np.mean([o.saved for o in outs])),
                sum(o.best_kept for o in outs),
                float(np.mean([o.regret for o in outs])),
            )
        )
    return rows


def format_table(rows: list[tuple[str, float, int, float]], seeds: int) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"{'pruner':<{width}}  saved  best kept  regret", f"{'-' * width}  -----  ---------  ------"]
    for label, saved, kept, regret in rows:
        lines.append(f"{label:<{width}}  {saved:5.0%}  {kept:>4}/{seeds:<4}  {regret:6.3f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--noise", type=float, default=0.03)
    ap.add_argument("--slow-start", type=float, default=1.4, help="how much slower the better trials start")
    args = ap.parse_args()
    rows = run_table(CONFIGS, args.seeds, args.trials, args.epochs, args.jobs, args.noise, args.slow_start)
    print(
        f"{args.seeds} seeds, {args.trials} trials x {args.epochs} epochs, {args.jobs} at a time, "
        f"noise sd {args.noise}, slow start {args.slow_start}"
    )
    print(format_table(rows, args.seeds))


if __name__ == "__main__":
    main()
