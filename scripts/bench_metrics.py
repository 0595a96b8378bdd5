"""How fast hposweep reads a trial's metric output: the parser alone, and a whole `hposweep run`.

Prints a table. Target (issue 15): at least 1 million report lines per 5 s, and 3 million ``\\r``
redraws in a few seconds. Run it alone (it uses one core flat out):

    python scripts/bench_metrics.py            # 1,000,000 lines
    python scripts/bench_metrics.py --lines 200000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from hposweep.execution.metrics import MetricParser, MetricTracker

CHUNK = 65536


def parse_only(data: bytes) -> tuple[float, int]:
    parser, tracker = MetricParser(), MetricTracker(["val_loss"])
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(data), CHUNK):
        for rep in parser.feed(data[i:i + CHUNK]):
            tracker.add(rep)
            n += 1
    for rep in parser.flush():
        tracker.add(rep)
    return time.perf_counter() - t0, n


def whole_run(lines: int, per_step: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "space.yaml"), "w") as fh:
            fh.write("metric: val_loss\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
        with open(os.path.join(d, "train.py"), "w") as fh:
            fh.write(textwrap.dedent("""
                import sys
                w = sys.stdout.write
                for i in range(LINES):
                    w("epoch=%d val_loss=%.6f lr=0.001\\n" % (i // PER_STEP, 1.0 / (i + 1)))
            """).replace("LINES", str(lines)).replace("PER_STEP", str(per_step)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "1",
                        "--quiet", "--", sys.executable, "train.py"], cwd=d, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--redraws", type=int, default=3_000_000)
    args = ap.parse_args()
    n = args.lines
    rows = []
    data = "".join(f"epoch={i // 100} val_loss={1.0 / (i + 1):.6f} lr=0.001\n" for i in range(n)).encode()
    s, k = parse_only(data)
    rows.append((f"parse {n:,} report lines", s, k))
    data = "".join(f"\r{i % 100:3d}%|####      | {i}/{args.redraws} [00:01<00:02, val_loss=0.{i % 1000:03d}]"
                   for i in range(args.redraws)).encode() + b"\n"
    s, k = parse_only(data)
    rows.append((f"parse {args.redraws:,} \\r redraws", s, k))
    for per_step in (1000, 1):
        s = whole_run(n, per_step)
        rows.append((f"hposweep run, {n:,} lines, {per_step} per step", s, n))
    print(f"{'what':48} {'seconds':>9} {'reports':>10} {'us/line':>8}")
    for what, s, k in rows:
        lines = args.redraws if "redraws" in what else n
        print(f"{what:48} {s:9.2f} {k:10,} {s / lines * 1e6:8.2f}")


if __name__ == "__main__":
    main()
