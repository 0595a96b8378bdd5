""""Is the best trial luck?": the noise estimate from near pairs of trials, and where the sweep says so."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from hposweep.analysis.luck import best_luck, noise_estimate
from hposweep.core.space import SearchSpace
from hposweep.study.api import Study
from hposweep.study.summary import luck_line


def sweep(noise: float, n: int = 60, seed: int = 0) -> Study:
    """TPE on a broad 2-d bowl, plus seeded noise of sd ``noise``: the sampler crowds near the optimum."""
    study = Study(SearchSpace.from_dict({"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                                         "wd": {"type": "float", "low": 0.0, "high": 0.3}}),
                  "minimize", sampler="tpe", seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        t = study.ask()
        true = 0.05 * (math.log10(t.params["lr"]) + 2.5) ** 2 + 0.2 * (t.params["wd"] - 0.1) ** 2
        study.tell(t, 0.3 + true + float(rng.normal(0, noise)))
    return study


def test_the_noise_of_repeated_points_is_recovered() -> None:
    rng = np.random.default_rng(1)
    centres = rng.uniform(size=(40, 3))
    x = np.repeat(centres, 2, axis=0) + rng.normal(0, 0.002, size=(80, 3))  # 40 near-identical pairs
    y = np.repeat(centres.sum(axis=1), 2) + rng.normal(0, 0.1, size=80)
    est = noise_estimate(x, y)
    assert est is not None and 0.07 < est[0] < 0.14 and est[1] >= 30


def test_no_near_pairs_no_verdict() -> None:
    x = np.linspace(0, 1, 10)[:, None]  # 0.11 apart, beyond the radius
    assert best_luck(x, list(range(10))) is None


def test_a_noisy_sweep_is_flagged_and_a_clean_one_is_not() -> None:
    noisy = [luck_line(sweep(0.05, seed=s)) for s in range(3)]
    assert all(line and line.startswith("the best may be luck") and "hposweep repeat" in line for line in noisy), noisy
    clean = [luck_line(sweep(0.0, seed=s)) for s in range(3)]
    assert clean == [None, None, None]


def test_the_report_and_the_sweep_summary_say_it(tmp_path: Path) -> None:
    from hposweep.report import render_report

    study = sweep(0.05)
    assert "The best may be luck" in render_report(study)

    (tmp_path / "space.yaml").write_text("metric: loss\nparameters:\n  x: {type: float, low: 0, high: 1}\n")
    (tmp_path / "train.py").write_text(textwrap.dedent("""
        import random, sys
        x = float(sys.argv[1].split("=")[1])
        random.seed(x)
        print(f"loss={0.3 + 0.1 * (x - 0.4) ** 2 + random.gauss(0, 0.05)}")
    """))
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "40",
                        "--sampler", "tpe", "--seed", "0", "--no-progress", "-c", "s.json", "--",
                        sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "the best may be luck" in r.stdout + r.stderr and "hposweep repeat s.json --top" in r.stdout + r.stderr
