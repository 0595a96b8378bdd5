"""How fast hposweep reads a trial's metric output: the parser alone, and a whole `hposweep run`.

Three trials, each a small Python program:

* ``lines``: 1,000,000 lines ``step=N loss=x`` (a new step each line; ``loss`` is the study's metric);
* ``redraws``: 3,000,000 tqdm-like ``\\r`` redraws with an ``acc=`` postfix and no newline, then ``loss=``;
* ``json``: 1,000,000 JSON lines ``{"step": N, "loss": x}``.

For each, the table gives lines per second of the parser alone (``MetricParser`` + ``MetricTracker`` on the
program's exact output, in memory) and of ``hposweep run --trials 1`` end to end, and the *anchor*: the same
program with its stdout sent to ``/dev/null``, timed in the same run. ``run / anchor`` is what reading the
output costs on top of printing it (1.0: nothing); it is the number to compare between machines. The last
columns say how big the checkpoint got and how many journal lines were written (never one per output line).

Target (issue 15, item 5): at least 1,000,000 report lines per 5 s end to end. Run it alone (it keeps a
core busy for a minute or two):

    python scripts/bench_metrics.py                 # the sizes above
    python scripts/bench_metrics.py --scale 0.2     # a fifth of them
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from hposweep.execution.metrics import MetricParser, MetricTracker

CHUNK = 65536

TRIALS = {
    "lines": (1_000_000, """
import sys
w = sys.stdout.write
for i in range(N):
    w("step=%d loss=%.6f\\n" % (i, 1.0 / (i + 1)))
"""),
    "redraws": (3_000_000, """
import sys
w = sys.stdout.write
for i in range(N):
    w("\\r%3d%%|####      | %d/%d [00:01<00:02, acc=0.%03d]" % (i * 100 // N, i, N, i % 1000))
w("\\nloss=0.25\\n")
"""),
    "json": (1_000_000, """
import json, sys
w, dumps = sys.stdout.write, json.dumps
for i in range(N):
    w(dumps({"step": i, "loss": 1.0 / (i + 1)}) + "\\n")
"""),
}


@dataclass
class Row:
    name: str
    lines: int
    parse_s: float
    reports: int
    anchor_s: float
    run_s: float
    checkpoint_bytes: int
    journal_lines: int


def parse_only(data: bytes) -> tuple[float, int]:
    parser, tracker = MetricParser(), MetricTracker(["loss"])
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(data), CHUNK):
        reports = parser.feed(data[i:i + CHUNK])
        tracker.add_all(reports)
        n += len(reports)
    reports = parser.flush()
    tracker.add_all(reports)
    return time.perf_counter() - t0, n + len(reports)


def timed(cmd: list[str], cwd: str, stdout: int | None = subprocess.DEVNULL) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=stdout)
    return time.perf_counter() - t0


def bench(name: str, n: int, program: str) -> Row:
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "trial.py"), "w") as fh:
            fh.write(f"N = {n}\n" + program)
        with open(os.path.join(d, "space.yaml"), "w") as fh:
            fh.write("metric: loss\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
        data = subprocess.run([sys.executable, "trial.py"], cwd=d, check=True, stdout=subprocess.PIPE).stdout
        parse_s, reports = parse_only(data)
        del data
        anchor_s = timed([sys.executable, "trial.py"], d)
        run_s = timed([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "1", "--quiet",
                       "--checkpoint", "study.json", "--", sys.executable, "trial.py"], d)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in ("study.json", "study.json.journal")
                   if os.path.exists(os.path.join(d, f)))
        journal = os.path.join(d, "study.json.journal")
        with open(journal, "rb") as fh:
            journal_lines = fh.read().count(b"\n")
    return Row(name, n, parse_s, reports, anchor_s, run_s, size, journal_lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every trial's line count (default 1)")
    ap.add_argument("--only", choices=sorted(TRIALS), action="append", help="run only these trials")
    args = ap.parse_args()
    rows = [bench(name, max(1, int(n * args.scale)), program)
            for name, (n, program) in TRIALS.items() if not args.only or name in args.only]
    print(f"{'trial':8} {'lines':>10} {'parser lines/s':>15} {'run lines/s':>12} {'anchor s':>9} {'run s':>7} "
          f"{'run/anchor':>10} {'checkpoint':>11} {'journal lines':>13}")
    for r in rows:
        print(f"{r.name:8} {r.lines:10,} {r.lines / r.parse_s:15,.0f} {r.lines / r.run_s:12,.0f} {r.anchor_s:9.2f} "
              f"{r.run_s:7.2f} {r.run_s / r.anchor_s:10.2f} {r.checkpoint_bytes / 1e6:9.1f}MB {r.journal_lines:13,}")


if __name__ == "__main__":
    main()
