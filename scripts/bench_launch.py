"""Overhead of hposweep around the user's command, and start-up time of the read-only commands.

    python scripts/bench_launch.py [--trials 100] [--repeat 3]

1. 100 trials of a trivial command through `hposweep run` against a plain shell loop running the
   same command 100 times: the difference per trial is what hposweep adds (ask, checkpoint events,
   params file, process group, output parsing, tell). Target: <= 15 ms per trial.
2. `hposweep best` and `hposweep --help` on a 1,000-trial study. Target: <= 150 ms.

Prints a table; the median of --repeat runs is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

TRIVIAL = ["/bin/sh", "-c", 'echo "loss=0.5"']


def timed(cmd: list[str] | str, cwd: str, shell: bool = False) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def hposweep_bin() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "hposweep")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "hposweep"]


def bench_run(n: int, repeat: int, sampler: str) -> tuple[float, float, float]:
    loops, sweeps = [], []
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "space.yaml"), "w") as fh:
            fh.write("metric: loss\nparameters:\n  x: {type: float, low: 0, high: 1}\n"
                     "  y: {type: int, low: 1, high: 9}\n")
        loop = f'for i in $(seq {n}); do /bin/sh -c \'echo "loss=0.5"\' --x=0.1 --y=3 > /dev/null; done'
        for r in range(repeat):
            loops.append(timed(loop, d, shell=True))
            sweeps.append(timed(hposweep_bin() + ["run", "--space", "space.yaml", "--trials", str(n), "--sampler",
                                                  sampler, "--checkpoint", f"s{r}.json", "--quiet", "--", *TRIVIAL],
                                d))
        startup = statistics.median(timed(hposweep_bin() + ["--help"], d) for _ in range(repeat))
    return statistics.median(loops), statistics.median(sweeps), startup


def make_study(path: str, n: int) -> None:
    import hposweep
    from hposweep.core.space import FloatParam, IntParam, SearchSpace

    space = SearchSpace([FloatParam("lr", low=1e-5, high=1e-1, log=True), IntParam("layers", low=1, high=8)])
    study = hposweep.Study(space, direction="minimize", sampler="random", seed=0,
                           settings={"metric": "loss", "metrics": [{"name": "loss", "direction": "minimize"}]})
    for i in range(n):
        t = study.ask()
        for step in range(20):
            study.report(t, step, 1.0 / (step + 1) + t.params["lr"])
        study.tell(t, t.params["lr"] + i * 1e-9)
    study.save(path)
    study.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sampler", default="tpe")
    a = ap.parse_args()
    loop, sweep, helptime = bench_run(a.trials, a.repeat, a.sampler)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big.json")
        make_study(path, 1000)
        best = statistics.median(timed(hposweep_bin() + ["best", path, "--format", "json"], d) for _ in range(a.repeat))
        trials = statistics.median(timed(hposweep_bin() + ["trials", path, "--format", "csv"], d)
                                   for _ in range(a.repeat))
    per = (sweep - loop) / a.trials * 1000
    print(f"{'measure':44s} {'value':>12s} {'target':>10s}")
    print(f"{'shell loop, ' + str(a.trials) + ' runs (s)':44s} {loop:12.3f}")
    print(f"{'hposweep run, ' + str(a.trials) + ' trials, ' + a.sampler + ' (s)':44s} {sweep:12.3f}")
    print(f"{'added per trial (ms)':44s} {per:12.1f} {'<= 15':>10s}")
    print(f"{'hposweep --help (ms)':44s} {helptime * 1000:12.0f} {'<= 150':>10s}")
    print(f"{'hposweep best, 1,000-trial study (ms)':44s} {best * 1000:12.0f} {'<= 150':>10s}")
    print(f"{'hposweep trials --format csv, 1,000 (ms)':44s} {trials * 1000:12.0f}")


if __name__ == "__main__":
    main()
