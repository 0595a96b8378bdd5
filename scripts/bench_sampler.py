"""Milliseconds per ask+tell of the TPE sampler after 1,000 and 10,000 finished trials.

    python scripts/bench_sampler.py [--sizes 1000,10000] [--asks 20] [--sampler tpe]

The space mixes the parameter kinds a real sweep has (float, log float, int, log int, stepped
int, categorical). The history is random trials fed through ``study.enqueue`` (enqueued params
bypass the sampler), then the first TPE ask is a warm-up (it encodes the history once) and the
next ``--asks`` ask+tell pairs are timed. When optuna is importable, its default TPESampler is timed
the same way in the same run (history added with ``add_trials``), and the ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

SPACE: dict[str, dict[str, Any]] = {
    "x": {"type": "float", "low": -5.0, "high": 5.0},
    "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
    "depth": {"type": "int", "low": 1, "high": 16},
    "width": {"type": "int", "low": 8, "high": 1024, "log": True},
    "batch": {"type": "int", "low": 16, "high": 256, "step": 16},
    "act": {"type": "categorical", "choices": ["relu", "gelu", "tanh", "silu"]},
}


def objective(p: dict[str, Any]) -> float:
    return ((p["x"] - 1) ** 2 + (math.log10(p["lr"]) + 3) ** 2 + (p["depth"] - 6) ** 2 / 10
            + (math.log2(p["width"]) - 7) ** 2 / 4 + (p["batch"] - 128) ** 2 / 1e4 + (p["act"] != "gelu"))


def random_params(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "x": float(rng.uniform(-5, 5)),
        "lr": float(10 ** rng.uniform(-5, 0)),
        "depth": int(rng.integers(1, 17)),
        "width": int(round(2 ** rng.uniform(3, 10))),
        "batch": int(16 * rng.integers(1, 17)),
        "act": str(rng.choice(["relu", "gelu", "tanh", "silu"])),
    }


def time_hposweep(n: int, asks: int, sampler: Any) -> float:
    import hposweep
    from hposweep.core.space import SearchSpace, param_from_spec

    space = SearchSpace([param_from_spec(k, v) for k, v in SPACE.items()])
    study = hposweep.Study(space, direction="minimize", sampler=sampler, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(n):
        study.enqueue(random_params(rng))
        t = study.ask()
        study.tell(t, objective(t.params))
    t = study.ask()  # warm-up: the sampler encodes the history once
    study.tell(t, objective(t.params))
    start = time.perf_counter()
    for _ in range(asks):
        t = study.ask()
        study.tell(t, objective(t.params))
    return (time.perf_counter() - start) / asks * 1e3


def time_direct(n: int, asks: int, sampler_spec: Any) -> float:
    """The sampler alone (no Study): contexts built by hand, to separate its cost from the Study's."""
    from hposweep.core.space import SearchSpace, param_from_spec
    from hposweep.core.trial import Trial, TrialState
    from hposweep.samplers import SamplingContext, make_sampler

    space = SearchSpace([param_from_spec(k, v) for k, v in SPACE.items()])
    sampler = make_sampler(sampler_spec)
    rng = np.random.default_rng(0)
    finished = []
    for i in range(n):
        p = random_params(rng)
        finished.append(Trial(i, p, TrialState.COMPLETE, [objective(p)], finish_seq=i))

    def one(k: int) -> None:
        ctx = SamplingContext(number=k, finished=finished, running=[])
        p = space.complete(sampler.sample(space, ctx, np.random.default_rng([0, k])))
        finished.append(Trial(k, p, TrialState.COMPLETE, [objective(p)], finish_seq=k))

    one(n)
    start = time.perf_counter()
    for k in range(n + 1, n + 1 + asks):
        one(k)
    return (time.perf_counter() - start) / asks * 1e3


def time_optuna(n: int, asks: int) -> float | None:
    try:
        import optuna
    except ImportError:
        return None
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        "x": FloatDistribution(-5, 5), "lr": FloatDistribution(1e-5, 1.0, log=True),
        "depth": IntDistribution(1, 16), "width": IntDistribution(8, 1024, log=True),
        "batch": IntDistribution(16, 256, step=16), "act": CategoricalDistribution(["relu", "gelu", "tanh", "silu"]),
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    rng = np.random.default_rng(0)
    trials = []
    for _ in range(n):
        p = random_params(rng)
        trials.append(optuna.trial.create_trial(params=p, distributions=dists, value=objective(p)))
    study.add_trials(trials)

    def one() -> None:
        t = study.ask()
        p = {
            "x": t.suggest_float("x", -5, 5), "lr": t.suggest_float("lr", 1e-5, 1.0, log=True),
            "depth": t.suggest_int("depth", 1, 16), "width": t.suggest_int("width", 8, 1024, log=True),
            "batch": t.suggest_int("batch", 16, 256, step=16),
            "act": t.suggest_categorical("act", ["relu", "gelu", "tanh", "silu"]),
        }
        study.tell(t, objective(p))

    one()
    start = time.perf_counter()
    for _ in range(asks):
        one()
    return (time.perf_counter() - start) / asks * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--asks", type=int, default=20)
    ap.add_argument("--sampler", default="tpe", help='hposweep sampler: a name or JSON, e.g. \'{"name": "tpe"}\'')
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--direct", action="store_true", help="time the sampler alone, without the Study")
    a = ap.parse_args()
    sampler = json.loads(a.sampler) if a.sampler.lstrip().startswith("{") else a.sampler
    print(f"{'finished':>9s} {'hposweep ms':>12s} {'optuna ms':>10s} {'speed-up':>9s}")
    for n in (int(s) for s in a.sizes.split(",")):
        ours = (time_direct if a.direct else time_hposweep)(n, a.asks, sampler)
        theirs = None if a.no_optuna else time_optuna(n, max(3, a.asks // 4))
        ratio = f"{theirs / ours:8.1f}x" if theirs else "        -"
        print(f"{n:9d} {ours:12.2f} {theirs if theirs is not None else float('nan'):10.1f} {ratio}", flush=True)


if __name__ == "__main__":
    main()
