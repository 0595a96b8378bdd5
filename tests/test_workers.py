"""Parallel trials on one machine (--jobs, GPU slots) and several workers sharing one study file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

SPACE = "metric: loss\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"

TRAIN = textwrap.dedent(
    """
    import json, os, sys, time
    x = float(sys.argv[1].split('=')[1])
    with open(os.environ['SEEN'], 'a') as fh:
        fh.write(json.dumps({"trial": int(os.environ['HPOSWEEP_TRIAL']), "slot": os.environ.get('HPOSWEEP_SLOT'),
                             "gpu": os.environ.get('CUDA_VISIBLE_DEVICES'), "pid": os.getpid(),
                             "start": time.time()}) + "\\n")
    time.sleep(float(os.environ.get('SLEEP', '0')))
    with open(os.environ['SEEN'] + '.end', 'a') as fh:
        fh.write(json.dumps({"trial": int(os.environ['HPOSWEEP_TRIAL']), "end": time.time()}) + "\\n")
    print(f"loss={x * x}")
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def env_for(proj: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, SEEN=str(proj / "seen.jsonl"), **extra)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def trials_of(proj: Path, name: str) -> list[dict]:
    out = subprocess.run(HPOSWEEP + ["trials", name, "--format", "json"], cwd=proj, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def seen(proj: Path) -> list[dict]:
    return [json.loads(line) for line in (proj / "seen.jsonl").read_text().splitlines()]


def test_jobs_with_gpu_slots_overlap_and_distinct_slots(proj: Path) -> None:
    r = subprocess.run(HPOSWEEP + ["run", "--space", "space.yaml", "--trials", "6", "--jobs", "3", "--gpus", "0,1",
                                   "--seed", "1", "--sampler", "random", "--", sys.executable, "train.py"],
                       cwd=proj, env=env_for(proj, SLEEP="1.0"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    starts = seen(proj)
    ends = {e["trial"]: e["end"] for e in map(json.loads, (proj / "seen.jsonl.end").read_text().splitlines())}
    assert len(starts) == 6
    # trials running at the same moment never share a slot
    for a in starts:
        for b in starts:
            if a["trial"] < b["trial"] and a["start"] < ends[b["trial"]] and b["start"] < ends[a["trial"]]:
                assert a["slot"] != b["slot"], (a, b)
    assert max(sum(1 for b in starts if b["start"] <= a["start"] < ends[b["trial"]]) for a in starts) >= 2
    # slots map round-robin onto the GPUs
    for s in starts:
        assert s["gpu"] == ["0", "1"][int(s["slot"]) % 2]


def test_gpus_auto_without_gpus_is_a_clear_error(proj: Path) -> None:
    env = env_for(proj)
    env["PATH"] = "/usr/bin:/bin"  # no nvidia-smi here
    r = subprocess.run(HPOSWEEP + ["run", "--space", "space.yaml", "--gpus", "auto", "--", sys.executable, "train.py"],
                       cwd=proj, env=env, capture_output=True, text=True)
    if Path("/usr/bin/nvidia-smi").exists():
        pytest.skip("this machine has nvidia-smi")
    assert r.returncode == 2 and "found no GPU" in r.stderr


def _create(proj: Path, trials: int, *extra: str) -> None:
    r = subprocess.run(HPOSWEEP + ["create", "--space", "space.yaml", "--trials", str(trials), "--checkpoint",
                                   "st.json", "--sampler", "random", "--seed", "0", *extra, "--",
                                   sys.executable, "train.py"], cwd=proj, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_four_workers_exact_count(proj: Path) -> None:
    _create(proj, 24)
    procs = [subprocess.Popen(HPOSWEEP + ["worker", "st.json", "--quiet"], cwd=proj, env=env_for(proj),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    trials = trials_of(proj, "st.json")
    assert [t["number"] for t in trials] == list(range(24))
    assert all(t["state"] == "complete" for t in trials)
    assert sorted(s["trial"] for s in seen(proj)) == list(range(24))


def test_killed_worker_trial_is_rerun_after_lease(proj: Path) -> None:
    _create(proj, 4, "--lease", "2")
    env = env_for(proj, SLEEP="1.5")
    victim = subprocess.Popen(HPOSWEEP + ["worker", "st.json", "--quiet"], cwd=proj, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    end = time.monotonic() + 60
    while time.monotonic() < end and not (proj / "seen.jsonl").exists():
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)  # the worker and its trial vanish mid-trial
    victim.wait()
    other = subprocess.run(HPOSWEEP + ["worker", "st.json", "--no-progress"], cwd=proj, env=env_for(proj, SLEEP="0"),
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert "lost its worker" in other.stderr
    trials = trials_of(proj, "st.json")
    states = [t["state"] for t in trials]
    assert states.count("complete") == 4
    assert states[0] == "interrupted"
    rerun = next(t for t in trials[1:] if t["params"] == trials[0]["params"])
    assert rerun["state"] == "complete"
