#!/usr/bin/env python3
"""Attack real ``hposweep run`` / ``resume`` / ``worker`` processes and check that nothing is lost or mixed.

Why a script and not only unit tests: the checkpoint's promises (README, "The checkpoint") are about what
survives a SIGKILL at *any* moment, a full disk, two processes racing for one file, a damaged byte. Only real
processes killed at random moments, many times, exercise the windows between a write and its fsync, a
snapshot and its journal, a tell and its log line. Each round builds a tiny study in a fresh folder, runs
``python -m hposweep`` on a training command that prints a few steps and a metric, applies one fault, lets
``resume`` (or workers) finish the study, and checks invariants with the public API
(``hposweep.Study.load(path, readonly=True)``) and ``hposweep trials FILE --format json``.

The training command's value is a deterministic function of its params (a CRC of them, salted per study),
so a value attached to the wrong params -- or written by an old process into a new study -- shows at once.

Figures printed at the end:

* kills: SIGKILLs delivered to a live hposweep process; survived: those after which every check held;
* trials lost: acknowledged trials (printed as finished in a live log, or finished in an earlier readable
  checkpoint) that a later checkpoint does not hold with the same value;
* mixed values: a trial (or an intermediate report) whose value is not the one its params produce;
* tracebacks: "Traceback" or "internal error" on any process's stderr;
* unloadable: a checkpoint the API or ``trials`` could not read where it should have been readable;
* targets exact: rounds whose study ended with exactly the target number of finished trials;
* per kind, the checks particular to it (one creator of a new checkpoint, damaged lines quarantined and
  never loaded as data, restored backups refused with exit 2, ``run --force`` refused while a worker
  holds the study, leftover trial processes stopped by ``resume``).

Usage::

    python scripts/fault_inject.py --rounds 50 --seed 0
    python scripts/fault_inject.py --kinds bitflip,concurrent --rounds 10 --keep
    sudo python scripts/fault_inject.py --kinds disk-full        # a small tmpfs needs root

Exit status: 0 when every figure that counts a defect is zero, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TRAINER = r'''
"""Tiny training command for fault_inject.py: value = CRC of (salt, params); steps and speed from ctl.json."""
import json, os, sys, time, zlib
here = os.path.dirname(os.path.abspath(__file__))
salt = ""
params = {}
for a in sys.argv[1:]:
    k, _, v = a.lstrip("-").partition("=")
    if k == "salt":
        salt = v
    else:
        params[k] = v
with open(os.path.join(here, "ctl.json")) as fh:
    ctl = json.load(fh)
key = "%s|%r|%d|%s" % (salt, float(params["x"]), int(params["y"]), params["z"])
v = (zlib.crc32(key.encode()) % 100000) / 1000.0
steps = int(ctl["steps"])
for s in range(steps):
    print("step=%d loss=%r" % (s, v + s + 1), flush=True)
    if ctl["sleep"]:
        time.sleep(ctl["sleep"])
print("loss=%r" % v, flush=True)
'''

SPACE = """parameters:
  x: {type: float, low: 0, high: 1}
  y: {type: int, low: 1, high: 1000}
  z: {type: categorical, choices: [a, b, c, d]}
"""

ACK_RE = re.compile(r"trial (\d+) complete loss=(\S+)")
BAD_RE = re.compile(r"Traceback|internal error")
#: the runner (hposweep/execution/runner.py) labels a checkpoint that cannot be written (full disk), was
#: taken over or vanished under `run --force` as "internal error while finishing the trial": counted on its
#: own line, not as a traceback
STORAGE_AS_INTERNAL = re.compile(
    r"internal error while finishing the trial \((StorageError|StudyReplacedError|CheckpointError)")


def expected_value(salt: str, params: dict[str, Any]) -> float:
    key = f"{salt}|{float(params['x'])!r}|{int(params['y'])}|{params['z']}"
    return (zlib.crc32(key.encode()) % 100000) / 1000.0


@dataclass
class Figures:
    rounds: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    kills_survived: int = 0
    kills_in_compaction: int = 0
    trials_lost: int = 0
    mixed_values: int = 0
    tracebacks: int = 0
    storage_as_internal: int = 0
    unloadable: int = 0
    targets_checked: int = 0
    targets_exact: int = 0
    checks: Counter[str] = field(default_factory=Counter)  # "kind: check" -> passed
    failures: Counter[str] = field(default_factory=Counter)  # "kind: check" -> failed
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def defects(self) -> int:
        return (self.trials_lost + self.mixed_values + self.tracebacks + self.unloadable
                + (self.targets_checked - self.targets_exact) + sum(self.failures.values()))

    def to_json(self) -> dict[str, Any]:
        return {"rounds": dict(self.rounds), "kills": self.kills, "kills_survived": self.kills_survived,
                "kills_in_compaction": self.kills_in_compaction, "trials_lost": self.trials_lost,
                "mixed_values": self.mixed_values, "tracebacks": self.tracebacks,
                "storage_as_internal": self.storage_as_internal, "unloadable": self.unloadable,
                "targets_checked": self.targets_checked, "targets_exact": self.targets_exact,
                "checks": dict(self.checks), "failures": dict(self.failures), "skipped": self.skipped,
                "notes": self.notes[:50], "defects": self.defects()}


class Proc:
    """One hposweep process, its output in files (a pipe that nobody reads could block it)."""

    def __init__(self, rnd: Round, args: list[str], tag: str, salt: str) -> None:
        self.tag = tag
        self.salt = salt  # the study this process writes to (its results' values use this salt)
        self.harvested = False
        self.out_path = os.path.join(rnd.dir, f"{tag}.out")
        self.err_path = os.path.join(rnd.dir, f"{tag}.err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen([sys.executable, "-m", "hposweep", *args], cwd=rnd.dir, stdout=out,
                                      stderr=err, stdin=subprocess.DEVNULL, env=rnd.env)
        self.killed = False

    @property
    def stderr(self) -> str:
        with open(self.err_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    @property
    def stdout(self) -> str:
        with open(self.out_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def wait(self, timeout: float) -> int:
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise


class Round:
    """One round's folder, its processes and the invariants checked over them."""

    def __init__(self, root: str, kind: str, rng: random.Random, figs: Figures, salt: str = "A") -> None:
        self.kind = kind
        self.rng = rng
        self.figs = figs
        self.dir = tempfile.mkdtemp(prefix=f"{kind}-", dir=root)
        # HPOSWEEP_DEBUG: an internal error prints its traceback (counted either way, but now it says where)
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", CI="1", HPOSWEEP_DEBUG="1")
        self.procs: list[Proc] = []
        #: (study salt, trial number) -> acknowledged value
        self.acks: dict[tuple[str, int], float] = {}
        self.pending_kills = 0
        self.path = os.path.join(self.dir, "st.json")
        with open(os.path.join(self.dir, "train.py"), "w") as fh:
            fh.write(TRAINER)
        with open(os.path.join(self.dir, "space.yaml"), "w") as fh:
            fh.write(SPACE)
        self.ctl(steps=3, sleep=0.01)
        self.salt = salt

    # --- processes ---------------------------------------------------------------------------
    def ctl(self, *, steps: int, sleep: float) -> None:
        with open(os.path.join(self.dir, "ctl.json"), "w") as fh:
            json.dump({"steps": steps, "sleep": sleep}, fh)

    def run_args(self, n: int, *, jobs: int = 1, path: str | None = None, salt: str | None = None,
                 extra: tuple[str, ...] = (), cmd: str = "run") -> list[str]:
        run_only = ["-j", str(jobs), "--no-progress"] if cmd == "run" else []
        return [cmd, "-s", "space.yaml", "-n", str(n), "--sampler", "random", "--seed",
                str(self.rng.randrange(1 << 30)), "-m", "loss", "-c", path or self.path, *run_only,
                "--grace", "1", *extra, "--", sys.executable, "train.py",
                f"--salt={salt or self.salt}"]

    def spawn(self, args: list[str], tag: str | None = None, salt: str | None = None) -> Proc:
        proc = Proc(self, args, f"p{len(self.procs):02d}-{tag or args[0]}", salt or self.salt)
        self.procs.append(proc)
        return proc

    def kill(self, proc: Proc, *, during_compaction: bool = False) -> bool:
        """SIGKILL ``proc`` if it still runs; True when the kill hit a live process."""
        if proc.p.poll() is not None:
            return False
        os.kill(proc.p.pid, signal.SIGKILL)
        rc = proc.p.wait()
        if rc != -signal.SIGKILL:
            return False
        proc.killed = True
        self.figs.kills += 1
        self.pending_kills += 1
        if during_compaction:
            self.figs.kills_in_compaction += 1
        return True

    def kill_after(self, proc: Proc, low: float, high: float) -> bool:
        try:
            proc.p.wait(self.rng.uniform(low, high))
            return False
        except subprocess.TimeoutExpired:
            return self.kill(proc)

    def finish(self, proc: Proc, timeout: float = 60.0) -> int:
        return proc.wait(timeout)

    def harvest(self, proc: Proc) -> None:
        """Acknowledged trials from a process's live log, and tracebacks on its stderr (once it ended)."""
        if proc.harvested or proc.p.poll() is None:
            return
        proc.harvested = True
        text = proc.stderr
        for m in ACK_RE.finditer(text):
            self.acks.setdefault((proc.salt, int(m.group(1))), float(m.group(2)))
        labelled = STORAGE_AS_INTERNAL.findall(text)
        if labelled:
            self.figs.storage_as_internal += len(labelled)
            text = STORAGE_AS_INTERNAL.sub("", text)
        bad = BAD_RE.findall(text)
        if bad:
            self.figs.tracebacks += 1
            self.note(f"{proc.tag}: {bad[0]} on stderr: {text[text.find(bad[0]):][:300]!r}")

    # --- checks ------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.figs.notes.append(f"[{self.kind} {os.path.basename(self.dir)}] {text}")

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        key = f"{self.kind}: {name}"
        if ok:
            self.figs.checks[key] += 1
        else:
            self.figs.failures[key] += 1
            self.note(f"{name} FAILED {detail}")
        return ok

    def load(self, path: str | None = None, *, expect_ok: bool = True) -> Any:
        """The study through the public API and through `trials --format json`; None when unreadable."""
        from hposweep import Study

        path = path or self.path
        writers = any(p.p.poll() is None for p in self.procs)  # before loading: they may end meanwhile
        api_err = None
        buf = io.StringIO()
        try:
            with contextlib.redirect_stderr(buf):
                study = Study.load(path, readonly=True)
        except Exception as exc:  # noqa: BLE001 - any failure to load is a figure
            study, api_err = None, exc
        cli = subprocess.run([sys.executable, "-m", "hposweep", "trials", path, "--format", "json"],
                             capture_output=True, text=True, env=self.env, cwd=self.dir, timeout=60)
        if BAD_RE.search(cli.stderr) or (api_err is not None and not hasattr(api_err, "exit_code")):
            self.figs.tracebacks += 1
            self.note(f"loading {path}: {api_err!r} / {cli.stderr[-300:]!r}")
        if study is None or cli.returncode != 0:
            if expect_ok:
                self.figs.unloadable += 1
                self.note(f"unloadable {path}: {api_err!r} / rc {cli.returncode} {cli.stderr[-200:]!r}")
            return None
        rows = json.loads(cli.stdout)
        api_rows = [(t.number, t.state.value, t.value) for t in study.trials]
        cli_rows = [(r["number"], r["state"], r["value"]) for r in rows]
        if writers:
            # writers still run: `trials` read later, so it must hold every trial the API saw finished, as seen
            finished = [r for r in api_rows if r[1] not in ("running",)]
            agree = all(r in cli_rows for r in finished)
        else:
            agree = api_rows == cli_rows
        self.check("API and `trials --format json` agree", agree, f"{path}: {api_rows} / {cli_rows}")
        return study

    def check_values(self, study: Any, salt: str | None = None) -> None:
        """Mixed values: every complete trial's value (and reports) must be what its params produce."""
        from hposweep.core.trial import TrialState

        salt = salt or self.salt
        for t in study.trials:
            want = expected_value(salt, t.params)
            if t.state is TrialState.COMPLETE and (t.value is None or not math.isclose(t.value, want, abs_tol=1e-9)):
                self.figs.mixed_values += 1
                self.note(f"mixed value: trial {t.number} {t.params} has {t.value}, its params give {want}")
                continue
            for step, value in t.intermediate.items():
                # step s reports want + s + 1; the final line (no step) comes last, as the next step
                if not (math.isclose(value, want + step + 1, abs_tol=1e-9)
                        or (step == max(t.intermediate) and math.isclose(value, want, abs_tol=1e-9))):
                    self.figs.mixed_values += 1
                    self.note(f"mixed report: trial {t.number} step {step} = {value}, expected {want + step + 1}")
                    break

    def record_acks(self, study: Any, salt: str | None = None) -> None:
        for t in study.trials:
            if t.state.is_finished and t.value is not None:
                self.acks.setdefault((salt or self.salt, t.number), float(t.value))

    def check_acks(self, study: Any, salt: str | None = None) -> int:
        """Acknowledged trials of this study missing (or changed) in ``study``; counted as lost."""
        salt = salt or self.salt
        lost = 0
        for (s, number), value in sorted(self.acks.items()):
            if s != salt:
                continue
            t = study.trials[number] if number < len(study.trials) else None
            if t is None or not t.state.is_finished or t.value is None or not math.isclose(
                    t.value, value, rel_tol=1e-3, abs_tol=1e-3):
                lost += 1
                self.note(f"lost trial {number} (acknowledged value {value}): now "
                          f"{None if t is None else (t.state.value, t.value)}")
        self.figs.trials_lost += lost
        return lost

    def checkpoint_after_kill(self) -> bool:
        """After a kill: the checkpoint loads, nothing acknowledged is missing, nothing is mixed."""
        if not os.path.exists(self.path):
            ok = True  # killed before the study was created: nothing was acknowledged
        else:
            study = self.load()
            ok = study is not None
            if study is not None:
                before = (self.figs.mixed_values, self.figs.trials_lost)
                self.check_values(study)
                self.check_acks(study)
                self.record_acks(study)
                ok = before == (self.figs.mixed_values, self.figs.trials_lost)
        if ok:
            self.figs.kills_survived += self.pending_kills
        self.pending_kills = 0
        return ok

    def final(self, target: int, path: str | None = None, salt: str | None = None) -> Any:
        """End of a round: the study is whole, nothing is lost or mixed, the target is met exactly."""
        for proc in self.procs:
            self.harvest(proc)
        study = self.load(path)
        if study is None:
            self.pending_kills = 0
            return None
        self.check_values(study, salt)
        lost = self.check_acks(study, salt)
        if not lost:
            self.figs.kills_survived += self.pending_kills
        self.pending_kills = 0
        self.figs.targets_checked += 1
        finished = study.n_finished
        if finished == target and not study.running_trials:
            self.figs.targets_exact += 1
        else:
            self.note(f"target {target}: {finished} finished, {len(study.running_trials)} still running")
        return study

    def resume_until_done(self, target: int, *, kills: int = 0, jobs: int | None = None) -> None:
        """`resume` (killed ``kills`` times at random moments) until one exits by itself."""
        for i in range(kills + 6):
            args = ["resume", self.path, "--no-progress"] + (["-j", str(jobs)] if jobs else [])
            proc = self.spawn(args)
            if i < kills and self.kill_after(proc, 0.2, 2.0):
                self.harvest(proc)
                self.checkpoint_after_kill()
                continue
            rc = self.finish(proc)
            self.harvest(proc)
            if rc in (0, 1):
                return
            self.note(f"resume exited {rc}: {proc.stderr[-300:]!r}")
            if rc == 2:
                return


# --- fault kinds ------------------------------------------------------------------------------
def kill_run(rnd: Round, jobs: int) -> None:
    """SIGKILL `run --jobs N` at a random moment, then resume until done."""
    target = rnd.rng.randint(6, 12)
    proc = rnd.spawn(rnd.run_args(target, jobs=jobs))
    if rnd.kill_after(proc, 0.3, 2.5):
        rnd.harvest(proc)
        rnd.checkpoint_after_kill()
        if not os.path.exists(rnd.path):
            return  # killed before it created anything: nothing to resume, nothing was acknowledged
    else:
        rnd.finish(proc)
    rnd.resume_until_done(target)
    rnd.final(target)


def kill_resume(rnd: Round) -> None:
    """A killed run, then several resumes each killed at a random moment, then one that finishes."""
    target = rnd.rng.randint(8, 14)
    proc = rnd.spawn(rnd.run_args(target, jobs=rnd.rng.choice([1, 2])))
    if rnd.kill_after(proc, 0.5, 1.5):
        rnd.harvest(proc)
        rnd.checkpoint_after_kill()
    else:
        rnd.finish(proc)
    if not os.path.exists(rnd.path):
        return
    rnd.resume_until_done(target, kills=3, jobs=rnd.rng.choice([None, 1, 2]))
    rnd.final(target)


def kill_worker(rnd: Round) -> None:
    """Workers sharing one study; one of them SIGKILLed mid-trial; a short lease re-runs its trial."""
    target = rnd.rng.randint(8, 14)
    create = rnd.spawn(rnd.run_args(target, cmd="create", extra=("--lease", "1.5")))
    if rnd.finish(create) != 0:
        rnd.check("create exits 0", False, create.stderr[-300:])
        return
    rnd.ctl(steps=3, sleep=0.04)
    workers = [rnd.spawn(["worker", rnd.path, "--no-progress", "-j", str(rnd.rng.choice([1, 2]))])
               for _ in range(2)]
    victim = rnd.rng.choice(workers)
    if rnd.kill_after(victim, 0.4, 2.0):
        rnd.harvest(victim)
        rnd.checkpoint_after_kill()
        if rnd.rng.random() < 0.5:  # a replacement worker joins
            workers.append(rnd.spawn(["worker", rnd.path, "--no-progress"]))
    for w in workers:
        if not w.killed:
            rnd.finish(w)
    rnd.resume_until_done(target)
    rnd.final(target)


def kill_compact(rnd: Round) -> None:
    """SIGKILL while the study compacts. Each trial reports 450 steps (450 journal events), so the
    journal passes COMPACT_MIN_EVENTS (2000) and the snapshot's size every few trials; the kill is sent
    the moment a compaction's temporary file appears (or, else, at a random moment)."""
    from hposweep.study.storage import COMPACT_MIN_EVENTS

    steps = 450
    target = max(8, 3 * COMPACT_MIN_EVENTS // steps)
    rnd.ctl(steps=steps, sleep=0.0)
    for attempt in range(4):
        proc = rnd.spawn(rnd.run_args(target, jobs=rnd.rng.choice([1, 2])) if attempt == 0
                         else ["resume", rnd.path, "--no-progress"])
        hit = _kill_on_compaction(rnd, proc, deadline=time.monotonic() + rnd.rng.uniform(3, 12))
        rnd.harvest(proc)
        if proc.killed:
            rnd.checkpoint_after_kill()
            if not hit:
                rnd.note("kill missed every compaction this time (a random-moment kill)")
        if not os.path.exists(rnd.path):
            return
        if not proc.killed:
            break
    rnd.resume_until_done(target)
    rnd.final(target)


def _kill_on_compaction(rnd: Round, proc: Proc, deadline: float) -> bool:
    prefix = "." + os.path.basename(rnd.path) + ".hposweep-"
    skip = rnd.rng.randint(0, 2)  # let a few compactions through, so kills land in later ones too
    seen: set[str] = set()
    while proc.p.poll() is None:
        tmp = [n for n in os.listdir(rnd.dir) if n.startswith(prefix) and n.endswith(".tmp")]
        fresh = [n for n in tmp if n not in seen]
        if fresh:
            seen.update(fresh)
            if skip == 0:
                time.sleep(rnd.rng.uniform(0, 0.01))
                return rnd.kill(proc, during_compaction=True)
            skip -= 1
        if time.monotonic() > deadline:
            rnd.kill(proc)
            return False
        time.sleep(0.0005)
    proc.p.wait()
    return False


def disk_full(rnd: Round) -> None:
    """Run on a tiny tmpfs until the disk is full: exit 2 'no space left', nothing lost; then grow it."""
    disk = os.path.join(rnd.dir, "disk")
    os.mkdir(disk)
    size = rnd.rng.choice([24, 40, 64, 96, 160])
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}k", "tmpfs", disk], capture_output=True,
                         text=True)
    if res.returncode != 0:
        msg = f"disk-full skipped: mount refused ({res.stderr.strip() or res.returncode}); run as root"
        if msg not in rnd.figs.skipped:
            rnd.figs.skipped.append(msg)
        rnd.figs.rounds["disk-full (skipped)"] += 1
        return
    try:
        rnd.path = os.path.join(disk, "st.json")
        rnd.ctl(steps=rnd.rng.choice([3, 40]), sleep=0.0)
        target = 60
        proc = rnd.spawn(rnd.run_args(target, jobs=rnd.rng.choice([1, 2])))
        rc = rnd.finish(proc, timeout=120)
        rnd.harvest(proc)
        err = proc.stderr
        if rc == 0:
            rnd.note(f"the study fitted in {size}k")
        else:
            rnd.check("full disk: exit 2 with 'no space left'", rc == 2 and "no space left" in err,
                      f"rc {rc}: {err[-300:]!r}")
        if not os.path.exists(rnd.path):
            return
        study = rnd.load()
        if study is None:
            return
        rnd.check_values(study)
        rnd.check_acks(study)
        rnd.record_acks(study)
        subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)
        proc = rnd.spawn(["resume", rnd.path, "--no-progress"])
        rnd.finish(proc, timeout=120)
        rnd.final(target)
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)


def concurrent(rnd: Round) -> None:
    """Two or three `run` on the same new checkpoint at once: exactly one proceeds, the others exit 2."""
    target = rnd.rng.randint(4, 8)
    n = rnd.rng.choice([2, 3])
    salts = [f"C{i}" for i in range(n)]
    procs = [rnd.spawn(rnd.run_args(target, salt=s), tag=f"run-{s}", salt=s) for s in salts]
    rcs = [rnd.finish(p) for p in procs]
    ok = [s for s, rc in zip(salts, rcs) if rc == 0]
    refused = [p for p, rc in zip(procs, rcs) if rc == 2 and "already exists" in p.stderr]
    rnd.check("exactly one of the concurrent runs proceeds", len(ok) == 1 and len(refused) == n - 1,
              f"exit codes {rcs}")
    for p in procs:
        rnd.harvest(p)
    if len(ok) == 1:
        rnd.salt = ok[0]
        rnd.final(target, salt=ok[0])
    else:
        study = rnd.load()
        if study is not None:
            rnd.check_values(study, study.settings["command"][-1].split("=")[1])


def bitflip(rnd: Round) -> None:
    """Flip one bit of a journal line: the line is reported and quarantined, never loaded as data."""
    from hposweep.core.trial import TrialState
    from hposweep.study.storage import journal_path, quarantine_path

    target = 12
    proc = rnd.spawn(rnd.run_args(target, jobs=rnd.rng.choice([1, 2])))
    want = rnd.rng.randint(2, 7)
    while proc.p.poll() is None and len(ACK_RE.findall(proc.stderr)) < want:
        time.sleep(0.005)
    rnd.kill(proc)  # a journal with events in it (a finished run folds them into the snapshot)
    rnd.harvest(proc)
    if not rnd.checkpoint_after_kill():
        return
    before = rnd.load()
    jpath = journal_path(rnd.path)
    with open(jpath, "rb") as fh:
        data = bytearray(fh.read())
    lines = data.split(b"\n")[:-1]
    if len(lines) < 2:
        rnd.note("journal had no events to damage")
        return
    header = rnd.rng.random() < 0.1
    index = 0 if header else rnd.rng.randrange(1, len(lines))
    start = sum(len(x) + 1 for x in lines[:index])
    pos = start + rnd.rng.randrange(len(lines[index]))
    bit = 1 << rnd.rng.randrange(8)
    data[pos] ^= bit
    with open(jpath, "wb") as fh:
        fh.write(data)
    buf = io.StringIO()
    from hposweep import Study

    try:
        with contextlib.redirect_stderr(buf):
            damaged = Study.load(rnd.path, readonly=True)
    except Exception as exc:  # noqa: BLE001
        damaged, why = None, exc
    cli = subprocess.run([sys.executable, "-m", "hposweep", "trials", rnd.path, "--format", "json"],
                         capture_output=True, text=True, env=rnd.env, cwd=rnd.dir)
    if BAD_RE.search(cli.stderr):
        rnd.figs.tracebacks += 1
        rnd.note(f"trials on a damaged journal: {cli.stderr[-300:]!r}")
    if header:
        rnd.check("damaged header refused (exit 2)", damaged is None and cli.returncode == 2,
                  f"rc {cli.returncode}, api {'loaded' if damaged else why!r}")
        return
    if damaged is None:
        rnd.figs.unloadable += 1
        rnd.note(f"a journal with one damaged line would not load: {why!r}")
        return
    rnd.check("damage reported with its byte offset", f"damaged line at byte {start}" in buf.getvalue()
              and f"damaged line at byte {start}" in cli.stderr, buf.getvalue()[-300:])
    # Never loaded as data: every trial is the undamaged one, or an earlier state of it.
    changed = 0
    for t in damaged.trials:
        o = before.trials[t.number] if t.number < len(before.trials) else None
        if o is None or t.params != o.params or any(o.intermediate.get(k) != v for k, v in t.intermediate.items()):
            changed += 1
        elif t.state.is_finished and (t.state is not o.state or t.value != o.value):
            changed += 1
    rnd.check("a damaged line never changes data", changed == 0, f"{changed} trial(s) differ")
    rnd.check_values(damaged)
    # the line's event is gone: that trial's finished state may be gone with it (not "lost": damaged)
    for t in before.trials:
        if t.number >= len(damaged.trials) or (t.state.is_finished and damaged.trials[t.number].state
                                                is not t.state):
            rnd.acks.pop((rnd.salt, t.number), None)
    proc = rnd.spawn(["resume", rnd.path, "--no-progress"])
    rc = rnd.finish(proc)
    quarantined = ""
    if os.path.exists(quarantine_path(rnd.path)):
        with open(quarantine_path(rnd.path)) as fh:
            quarantined = fh.read()
    rnd.check("resume moves the line to FILE.quarantine", rc in (0, 1) and f'"offset":{start},' in quarantined,
              f"rc {rc} {proc.stderr[-200:]!r}")
    study = rnd.final(target)
    if study is not None:
        rnd.check("no running trial left", not study.trials_in(TrialState.RUNNING))


def backup_restore(rnd: Round) -> None:
    """Restore an old snapshot beside a newer journal (or another study's): refused with exit 2, untouched."""
    from hposweep.study.storage import journal_path

    proc = rnd.spawn(rnd.run_args(4))
    rnd.finish(proc)
    backup = rnd.path + ".bak-old"
    shutil.copy2(rnd.path, backup)
    variant = rnd.rng.choice(["older snapshot", "another study"])
    if variant == "older snapshot":
        proc = rnd.spawn(["resume", rnd.path, "--no-progress", "-n", "8"])
        if rnd.rng.random() < 0.5:
            rnd.kill_after(proc, 0.6, 1.5)  # a journal with events after the newer snapshot, or an empty one
        else:
            rnd.finish(proc)
    else:
        rnd.salt = "B"  # from now on the path holds study B (run with salt B)
        proc = rnd.spawn(rnd.run_args(5, salt="B", extra=("--force",)))
        if rnd.rng.random() < 0.5:
            rnd.kill_after(proc, 0.6, 1.5)
        else:
            rnd.finish(proc)
    rnd.harvest(proc)
    if proc.killed:
        rnd.checkpoint_after_kill()
    if not os.path.exists(journal_path(rnd.path)):
        rnd.note("killed before a newer journal existed: nothing to restore the backup beside")
        return
    shutil.copy2(backup, rnd.path)  # the restore
    files = {p: open(p, "rb").read() for p in (rnd.path, journal_path(rnd.path))}  # noqa: SIM115
    if variant == "older snapshot":
        hdr = json.loads(files[journal_path(rnd.path)].split(b"\n")[0])
        snap_seq = json.loads(files[rnd.path])["seq"]
        if hdr.get("after_seq") == snap_seq:
            rnd.note("no compaction after the backup: the backup is the journal's own snapshot")
            return
    rnd.load(expect_ok=False) and rnd.check(f"{variant}: trials refuses", False, "it loaded")
    res = rnd.spawn(["resume", rnd.path, "--no-progress"])
    rc = rnd.finish(res)
    rnd.harvest(res)
    rnd.check(f"{variant} beside a newer journal: resume exits 2 naming the journal",
              rc == 2 and "journal" in res.stderr, f"rc {rc} {res.stderr[-300:]!r}")
    same = all(open(p, "rb").read() == b for p, b in files.items())  # noqa: SIM115
    rnd.check("the refused files are left untouched", same)


def force_held(rnd: Round) -> None:
    """`run --force` while a worker holds the study: refused (exit 2) unless --takeover; the old worker
    never writes its results into the new study; what it acknowledged is in the backup."""
    from hposweep.core.trial import TrialState

    create = rnd.spawn(rnd.run_args(6, cmd="create"))
    rnd.finish(create)
    rnd.ctl(steps=4, sleep=0.25)
    worker = rnd.spawn(["worker", rnd.path, "--no-progress"], tag="worker", salt="A")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st = rnd.load()
        if st is not None and st.trials_in(TrialState.RUNNING) and rnd.rng.random() < 0.4:
            break
        time.sleep(0.2)
    force = rnd.spawn(rnd.run_args(5, salt="B", extra=("--force",)), tag="force", salt="B")
    rc = rnd.finish(force)
    rnd.harvest(force)
    refused = rc == 2
    rnd.check("run --force refused while a worker holds the study", refused,
              f"exit {rc}; worker still {'running' if worker.p.poll() is None else 'done'}")
    try:
        wrc = worker.wait(30)
    except subprocess.TimeoutExpired:
        wrc = None
    rnd.harvest(worker)
    if not refused:
        rnd.check("the old worker stops (exit 2) instead of going on", wrc == 2, f"exit {wrc}")
        new = rnd.load()
        if new is not None:
            rnd.check_values(new, "B")  # an old-command value in the new study shows as mixed
        backups = sorted(n for n in os.listdir(rnd.dir) if n.startswith("st.json.bak-") and not n.endswith("journal"))
        if backups:
            old = rnd.load(os.path.join(rnd.dir, backups[-1]))
            if old is not None:
                rnd.check_values(old, "A")
                rnd.check_acks(old, "A")
        for key in [k for k in rnd.acks if k[0] == "A"]:
            rnd.acks.pop(key)
        rnd.final(5, salt="B")
    else:
        rnd.final(6, salt="A")


def orphans(rnd: Round) -> None:
    """SIGKILL hposweep while its trials run: `resume` must stop the leftover trial processes."""
    rnd.ctl(steps=4, sleep=5.0)
    target = 6
    proc = rnd.spawn(rnd.run_args(target, jobs=2))
    deadline = time.monotonic() + 20
    pids: list[int] = []
    while time.monotonic() < deadline and len(pids) < 2:
        pids = _trainer_pids(rnd.dir)
        time.sleep(0.1)
    time.sleep(rnd.rng.uniform(0, 0.5))
    rnd.kill(proc)
    rnd.harvest(proc)
    rnd.checkpoint_after_kill()
    alive = [p for p in pids if _alive(p)]
    rnd.ctl(steps=3, sleep=0.01)
    res = rnd.spawn(["resume", rnd.path, "--no-progress"])
    rc = rnd.finish(res)
    left = [p for p in alive if _alive(p)]
    rnd.check("resume stops a killed hposweep's leftover trials", not left and rc in (0, 1),
              f"{len(left)} of {len(alive)} still alive after resume (rc {rc})")
    for p in left:
        with contextlib.suppress(OSError):
            os.killpg(p, signal.SIGKILL)
    rnd.final(target)


def _trainer_pids(folder: str) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read().split(b"\0")
            cwd = os.readlink(f"/proc/{name}/cwd")
        except OSError:
            continue
        if b"train.py" in cmd and cwd == folder:
            out.append(int(name))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


KINDS: dict[str, Callable[[Round], None]] = {
    "kill-run-j1": lambda r: kill_run(r, 1),
    "kill-run-j2": lambda r: kill_run(r, 2),
    "kill-resume": kill_resume,
    "kill-worker": kill_worker,
    "kill-compact": kill_compact,
    "disk-full": disk_full,
    "concurrent": concurrent,
    "bitflip": bitflip,
    "backup-restore": backup_restore,
    "force-held": force_held,
    "orphans": orphans,
}


def run_rounds(rounds: int, seed: int, kinds: list[str], root: str, keep: bool = False,
               say: Callable[[str], None] = print) -> Figures:
    rng = random.Random(seed)
    figs = Figures()
    for i in range(rounds):
        kind = kinds[i % len(kinds)]
        rnd = Round(root, kind, random.Random(rng.randrange(1 << 62)), figs)
        t0 = time.monotonic()
        before = figs.defects()
        try:
            KINDS[kind](rnd)
        except subprocess.TimeoutExpired as exc:
            figs.failures[f"{kind}: a process hung"] += 1
            rnd.note(f"hung: {exc}")
        finally:
            for p in rnd.procs:
                if p.p.poll() is None:
                    p.p.kill()
                    p.p.wait()
            for pid in _trainer_pids(rnd.dir):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        figs.rounds[kind] += 1
        flag = "" if figs.defects() == before else "  <-- defect"
        say(f"round {i + 1:3d}/{rounds} {kind:15s} {time.monotonic() - t0:5.1f}s  {os.path.basename(rnd.dir)}{flag}")
        if not keep and figs.defects() == before:
            shutil.rmtree(rnd.dir, ignore_errors=True)
    return figs


def table(figs: Figures) -> str:
    rows = [
        ("rounds", sum(figs.rounds.values())),
        ("kills delivered (SIGKILL of a live process)", figs.kills),
        ("  survived (every check held afterwards)", figs.kills_survived),
        ("  of them during a compaction", figs.kills_in_compaction),
        ("trials lost (acknowledged, missing later)", figs.trials_lost),
        ("mixed values (value not its params')", figs.mixed_values),
        ("tracebacks / internal errors on stderr", figs.tracebacks),
        ("  a full disk / take-over said as 'internal error while finishing the trial'", figs.storage_as_internal),
        ("unloadable checkpoints", figs.unloadable),
        ("targets reached exactly", f"{figs.targets_exact} of {figs.targets_checked}"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    lines.append("rounds per kind: " + ", ".join(f"{k} {v}" for k, v in sorted(figs.rounds.items())))
    keys = sorted(set(figs.checks) | set(figs.failures))
    if keys:
        w = max(len(k) for k in keys)
        lines.append(f"\n{'check':<{w}}  passed  failed")
        lines += [f"{k:<{w}}  {figs.checks[k]:6d}  {figs.failures[k]:6d}" for k in keys]
    for s in figs.skipped:
        lines.append(f"\n{s}")
    if figs.notes:
        lines.append("\nnotes (first 30):")
        lines += [f"  {n}" for n in figs.notes[:30]]
    lines.append(f"\ndefects: {figs.defects()}")
    return "\n".join(lines)


def _use_this_checkout() -> None:
    """Run from a checkout without installing: this script and its hposweep processes use the checkout."""
    import importlib.util

    if importlib.util.find_spec("hposweep") is None:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sys.path.insert(0, repo)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))


def main(argv: list[str] | None = None) -> int:
    _use_this_checkout()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="kinds: " + ", ".join(KINDS))
    ap.add_argument("--rounds", type=int, default=50, help="rounds in all, spread over the kinds in turn")
    ap.add_argument("--seed", type=int, default=0, help="seeds every random choice (kill moments, bits, sizes)")
    ap.add_argument("--kinds", default="all", help="comma-separated fault kinds (default: all)")
    ap.add_argument("--dir", default=None, help="where the rounds' folders go (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep every round's folder (default: only failed ones)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object on stdout")
    args = ap.parse_args(argv)
    kinds = list(KINDS) if args.kinds == "all" else [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    root = args.dir or tempfile.mkdtemp(prefix="hposweep-faults-")
    os.makedirs(root, exist_ok=True)
    say = (lambda s: print(s, file=sys.stderr)) if args.json else print
    figs = run_rounds(args.rounds, args.seed, kinds, root, keep=args.keep, say=say)
    if args.json:
        print(json.dumps(figs.to_json()))
    else:
        print()
        print(table(figs))
        print(f"\nfolders of failed rounds (if any) are kept under {root}")
    if not args.keep and not os.listdir(root) and not args.dir:
        os.rmdir(root)
    return 0 if figs.defects() == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
