"""Measure what the crash-safe checkpoint costs: one update, one load, one compaction, file sizes.

    python scripts/bench_storage.py                 # 1,000 and 10,000 trials, 50 reports each
    python scripts/bench_storage.py --sizes 10000 --updates 500 --profile

Targets (from the design): an update <= 20 ms and a load <= 0.5 s at 10,000 trials. An update is
dominated by one fsync, so the raw fsync cost of the disk under the checkpoint is printed first:
on a busy shared disk it, not hposweep, decides whether the update target holds.

The big studies are written directly as a snapshot (building 10,000 trials through ask/tell would
take minutes and measure nothing new); every timed operation then goes through the public API.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hposweep.core.space import CategoricalParam, Condition, FloatParam, IntParam, SearchSpace
from hposweep.study import storage
from hposweep.study.api import Study

TARGET_UPDATE_MS = 20.0
TARGET_LOAD_S = 0.5
#: other metrics per trial with a history of --reports points each (--history-metrics)
HISTORY_METRICS = 0


@dataclass
class Stat:
    """Median and 95th percentile of wall-clock timings, and the median CPU time, in milliseconds.

    CPU time is what hposweep itself spends; wall time adds fsync waits and, on a shared machine,
    waiting for a CPU. Both are printed so a missed target can be blamed on the right one.
    """

    median: float
    p95: float
    cpu: float
    n: int

    @classmethod
    def of(cls, timings: list[tuple[float, float]]) -> Stat:
        ms = sorted(w * 1000 for w, _ in timings)
        cpu = statistics.median(c * 1000 for _, c in timings)
        return cls(statistics.median(ms), ms[min(len(ms) - 1, int(0.95 * len(ms)))], cpu, len(ms))

    def __str__(self) -> str:
        return f"{self.median:9.2f} {self.p95:9.2f} {self.cpu:9.2f}"


def space() -> SearchSpace:
    return SearchSpace([
        FloatParam("lr", low=1e-5, high=1.0, log=True),
        CategoricalParam("optimizer", choices=("adam", "sgd", "rmsprop")),
        FloatParam("momentum", low=0.0, high=0.99, when=(Condition("optimizer", ("sgd",)),)),
        IntParam("layers", low=1, high=8),
        IntParam("width", low=16, high=1024, log=True),
        FloatParam("dropout", low=0.0, high=0.5, step=0.05),
    ])


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) spent in ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def fsync_cost(folder: Path, n: int = 200) -> Stat:
    """One small append plus fsync, as the journal does for each trial state change."""
    path = folder / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    times = []
    try:
        for _ in range(n):
            times.append(timed(lambda: (os.write(fd, b"x" * 300 + b"\n"), os.fsync(fd))))
    finally:
        os.close(fd)
        path.unlink()
    return Stat.of(times)


def make_checkpoint(path: Path, n_trials: int, n_reports: int) -> None:
    """Run a few real trials for the template, then write ``n_trials`` like them as one snapshot."""
    study = Study(space(), direction="minimize", sampler="random", seed=0)
    trials = []
    for number in range(n_trials):
        if number < 64:
            t = study.ask()
            for step in range(n_reports):
                study.report(t, step=step, value=1.0 / (step + 1) + t.params["lr"])
            if HISTORY_METRICS:  # other metrics' histories, as the runner records them (format 3)
                pts = [(step, 0.5 + step * 1e-3) for step in range(n_reports)]
                study.report_metric_points(t, {f"metric{k}": pts for k in range(HISTORY_METRICS)})
            study.tell(t, t.params["lr"], user_attrs={"accuracy": 0.9})
            trials.append(t.to_json())
        else:  # the same shape, other numbers and values
            d = dict(trials[number % 64])
            d.update(number=number, finish_seq=number, values=[d["values"][0] + number * 1e-6])
            trials.append(d)
    state = study.to_json()
    if HISTORY_METRICS:
        histories = state.get("metric_history") or {}
        state["metric_history"] = {str(n): histories[str(n % 64)] for n in range(n_trials)}
    state["trials"] = trials
    state["seq"] = -1
    storage.atomic_write(str(path), storage.encode_snapshot(state))
    for p in (storage.journal_path(path),):
        if os.path.exists(p):
            os.unlink(p)


def bench_size(folder: Path, n_trials: int, n_reports: int, n_updates: int, repeats: int,
               profile: bool) -> dict[str, object]:
    path = folder / f"study{n_trials}.json"
    make_checkpoint(path, n_trials, n_reports)
    out: dict[str, object] = {"trials": n_trials}

    loads = [timed(lambda: Study.load(path)) for _ in range(repeats)]
    out["load"] = Stat.of(loads)
    out["load_readonly"] = Stat.of([timed(lambda: Study.load(path, readonly=True)) for _ in range(repeats)])
    if profile:
        out["load_profile"] = profile_text(lambda: Study.load(path))

    study = Study.load(path)
    # One full cycle: ask, one intermediate report, tell (three journal events, two fsyncs).
    def cycle() -> None:
        t = study.ask()
        study.report(t, step=0, value=0.5)
        study.tell(t, 0.5)

    out["cycle"] = Stat.of([timed(cycle) for _ in range(n_updates)])
    # A single tell (one event, one fsync), trials asked beforehand.
    running = [study.ask() for _ in range(n_updates)]
    out["tell"] = Stat.of([timed(lambda t=t: study.tell(t, 0.25)) for t in running])
    out["report"] = Stat.of([timed(lambda: study.report(study.ask(), step=1, value=0.1)) for _ in range(50)])
    if profile:
        out["cycle_profile"] = profile_text(lambda: [study.tell(study.ask(), 0.1) for _ in range(50)])

    # Load with events still in the journal (as after a crash, before any compaction).
    out["journal_bytes"] = os.path.getsize(storage.journal_path(path))
    out["load_with_journal"] = Stat.of([timed(lambda: Study.load(path, readonly=True)) for _ in range(repeats)])
    if profile:
        out["journal_profile"] = profile_text(lambda: Study.load(path, readonly=True))
        gc.disable()  # how much of a load is the cyclic GC walking the objects it just made
        try:
            out["load_gc_off"] = Stat.of([timed(lambda: Study.load(path, readonly=True)) for _ in range(repeats)])
        finally:
            gc.enable()

    # A full snapshot write, as compaction does it (under the lock, fsync included).
    assert study._storage is not None
    st = study._storage

    def compact() -> None:
        with st.locked():
            st.write_snapshot(study._state())

    out["compact"] = Stat.of([timed(compact) for _ in range(repeats)])
    out["state_build"] = Stat.of([timed(study._state) for _ in range(repeats)])
    out["snapshot_bytes"] = os.path.getsize(path)
    study.close()
    return out


def profile_text(fn: Callable[[], object], lines: int = 14) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(lines)
    return buf.getvalue()


def mib(n: object) -> str:
    return f"{int(n) / 2**20:8.2f} MiB"  # type: ignore[call-overload]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--reports", type=int, default=50, help="intermediate values per trial")
    ap.add_argument("--updates", type=int, default=300, help="timed updates per size")
    ap.add_argument("--repeats", type=int, default=5, help="timed loads and snapshot writes per size")
    ap.add_argument("--dir", type=Path, default=None, help="folder for the files (default: a temp folder)")
    ap.add_argument("--history-metrics", type=int, default=0,
                    help="other metrics per trial, each with a history of --reports points (format 3)")
    ap.add_argument("--profile", action="store_true", help="print cProfile of a load and of updates")
    args = ap.parse_args()
    global HISTORY_METRICS
    HISTORY_METRICS = args.history_metrics

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        fs = fsync_cost(folder)
        print(f"disk: {folder}  append+fsync of one line: median {fs.median:.2f} ms, p95 {fs.p95:.2f} ms")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
        results = [bench_size(folder, n, args.reports, args.updates, args.repeats, args.profile) for n in args.sizes]

    rows = [
        ("update: ask+report+tell", "cycle", TARGET_UPDATE_MS),
        ("update: one tell event", "tell", TARGET_UPDATE_MS),
        ("update: ask+report (no fsync on report)", "report", None),
        ("load (Study.load, recover)", "load", TARGET_LOAD_S * 1000),
        ("load readonly", "load_readonly", TARGET_LOAD_S * 1000),
        ("load readonly, journal not compacted", "load_with_journal", TARGET_LOAD_S * 1000),
        ("full snapshot write (compaction)", "compact", None),
        ("  of which building the state dict", "state_build", None),
    ]
    print(f"{'operation (ms)':42s} {'trials':>7s} {'wall med':>9s} {'wall p95':>9s} {'cpu med':>9s}  target (p95)")
    for label, key, target in rows:
        for r in results:
            s: Stat = r[key]  # type: ignore[assignment]
            verdict = ""
            if target is not None:
                verdict = f"<= {target:g} ms " + ("ok" if s.p95 <= target else "MISSED")
            print(f"{label:42s} {r['trials']:7d} {s}  {verdict}")
    print()
    for r in results:
        print(f"files at {r['trials']:6d} trials: snapshot {mib(r['snapshot_bytes'])}, "
              f"journal before compaction {mib(r['journal_bytes'])}")
    if args.profile:
        for r in results:
            print(f"\n--- profile: load, {r['trials']} trials ---\n{r['load_profile']}")
            print(f"\n--- profile: 50 ask+tell, {r['trials']} trials ---\n{r['cycle_profile']}")
            print(f"\n--- profile: load with journal, {r['trials']} trials ---\n{r['journal_profile']}")
            print(f"load readonly with journal, gc disabled: {r['load_gc_off']} (wall med, p95, cpu med ms)")


if __name__ == "__main__":
    main()
