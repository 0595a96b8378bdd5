"""Parallel sweeps: speed-up of --jobs, and throughput of workers sharing one study file.

    python scripts/bench_parallel.py [--trials 12] [--sleep 1.0] [--quick]

1. `--jobs 2` against `--jobs 1` on sleep-bound trials (each trial sleeps --sleep seconds): the
   speed-up should be close to 2 (target >= 1.9).
2. Trials per second through 1, 2 and 4 `hposweep worker` processes on one study file with trivial
   trials: what the file lock and the journal cost when workers contend.
3. The same with 4 workers on a study that already holds 0, 1,000 and 5,000 trials: how the cost of
   an ask/tell under the lock grows with the study.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--sleep", type=float, default=1.0)
    ap.add_argument("--worker-trials", type=int, default=80)
    ap.add_argument("--quick", action="store_true", help="skip the large-study rows")
    a = ap.parse_args()
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
