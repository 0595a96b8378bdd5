"""``hposweep resume --retry-failed`` end to end, through real processes: a sweep hits a bug, the user fixes
it, and the failed trials' params run again first while the failed trials stay visible."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from hposweep.core.space import SearchSpace
from hposweep.study.api import Study

HPOSWEEP = [sys.executable, "-m", "hposweep"]

SPACE = textwrap.dedent(
    """
    metric: loss
    parameters:
      x: {type: float, low: 0.0, high: 1.0}
      depth: {type: int, low: 1, high: 8}
    """
)

#: the bug: x above 0.5 crashes until the FIXED file exists (the user's fix)
TRAIN = textwrap.dedent(
    """
    import json, os, sys, time
    params = json.loads(os.environ["HPOSWEEP_PARAMS"])
    with open(os.environ["SEEN"], "a") as fh:
        fh.write(json.dumps({"trial": int(os.environ["HPOSWEEP_TRIAL"]), "params": params,
                             "script": os.path.basename(__file__)}) + "\\n")
    time.sleep(float(os.environ.get("SLEEP", "0")))
    if params["x"] > 0.5 and not os.path.exists(os.environ["FIXED"]):
        sys.exit("IndexError: the bug")
    print(f"loss={params['x']:.6f}")
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def env(proj: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, SEEN=str(proj / "seen.jsonl"), FIXED=str(proj / "FIXED"), **extra)


def hpo(proj: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(HPOSWEEP + list(args), cwd=proj, capture_output=True, text=True, env=env(proj, **extra),
                          timeout=180)


def records(proj: Path) -> list[dict[str, Any]]:
    r = hpo(proj, "trials", "s.json", "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def seen(proj: Path) -> list[dict[str, Any]]:
    path = proj / "seen.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def buggy_sweep(proj: Path, trials: int = 8, seed: int = 3) -> list[dict[str, Any]]:
    """A sweep that hits the bug: returns its failed trials' records (at least two)."""
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", str(trials), "--seed", str(seed), "--sampler", "random",
            "--max-failures", "0", "-c", "s.json", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    failed = [t for t in records(proj) if t["state"] == "failed"]
    assert 2 <= len(failed) < trials, failed
    return failed


def test_retry_failed_reruns_the_failed_params_first_and_they_stop_counting(proj: Path) -> None:
    failed = buggy_sweep(proj)
    (proj / "FIXED").write_text("")
    r = hpo(proj, "resume", "s.json", "--retry-failed", "--trials", "10", "--no-progress")
    assert r.returncode == 0, r.stderr
    numbers = ", ".join(f"#{t['number']}" for t in failed)
    assert f"--retry-failed: re-running {len(failed)} failed trials first ({numbers})" in r.stderr
    recs = records(proj)
    # the retries come first, in trial-number order, with the failed trials' params; then new sampling
    retries = recs[8:8 + len(failed)]
    assert [t["params"] for t in retries] == [t["params"] for t in failed]
    assert all(t["state"] == "complete" for t in retries)
    # the failed trials stay, linked to their retries, and no longer count: 10 counted = 10 - failed new runs
    assert len(recs) == 10 + len(failed)
    by_number = {t["number"]: t for t in recs}
    for old, new in zip(failed, retries):
        assert by_number[old["number"]]["state"] == "failed"
        assert by_number[old["number"]]["retried_as"] == new["number"]
        assert by_number[old["number"]]["reason"] == "command failed (exit code 1)"
    assert all(t["retried_as"] is None for t in recs if t["number"] not in {f["number"] for f in failed})
    # the reading table, show and the summary say so
    table = hpo(proj, "trials", "s.json").stdout
    first, first_retry = failed[0]["number"], retries[0]["number"]
    assert f"{first}\tfailed (retried as #{first_retry})\t" in table
    shown = hpo(proj, "show", "s.json", str(first)).stdout
    assert f"failed (retried as #{first_retry})" in shown.splitlines()[1]
    shown_retry = json.loads(hpo(proj, "show", "s.json", str(first_retry), "--format", "json").stdout)
    assert shown_retry["info"]["retry_of"] == first
    assert f"retried {len(failed)} failed trials (they no longer count toward the target): #{first} as " \
           f"#{first_retry} (complete)" in r.stdout
    csv_out = hpo(proj, "trials", "s.json", "--format", "csv").stdout.splitlines()
    assert "retried_as" in csv_out[0].split(",")
    # a second --retry-failed queues nothing again: it says so and continues (here: nothing left to run)
    before = len(seen(proj))
    again = hpo(proj, "resume", "s.json", "--retry-failed", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert (f"--retry-failed: no failed trial to retry ({len(failed)} failed trials already retried); continuing"
            in again.stderr)
    assert "already has 10 finished trials (target 10)" in again.stderr
    assert len(seen(proj)) == before
    assert records(proj) == recs


def test_a_retry_that_fails_again_is_retried_by_the_next_retry_failed_with_the_fixed_command(proj: Path) -> None:
    failed = buggy_sweep(proj, trials=6, seed=5)
    # not fixed yet: the retries fail too, and count in place of the trials they retry
    r = hpo(proj, "resume", "s.json", "--retry-failed", "--no-progress")
    assert r.returncode == 0, r.stderr
    recs = records(proj)
    first_retries = recs[6:]
    assert len(first_retries) == len(failed) and all(t["state"] == "failed" for t in first_retries)
    assert [recs[t["number"]]["retried_as"] for t in failed] == [t["number"] for t in first_retries]
    # the fix is a new script: --command gives it, and only the newest failures are retried
    fixed = (proj / "train.py").read_text().replace('params["x"] > 0.5', "False")
    (proj / "train_fixed.py").write_text(fixed)
    r = hpo(proj, "resume", "s.json", "--retry-failed", "--command", f"{sys.executable} train_fixed.py",
            "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "train_fixed.py" in r.stderr
    recs = records(proj)
    second = recs[6 + len(failed):]
    assert len(second) == len(failed) and all(t["state"] == "complete" for t in second)
    assert [t["params"] for t in second] == [t["params"] for t in failed]
    # the originals still point at their first retry; the first retries at the second
    assert [recs[t["number"]]["retried_as"] for t in failed] == [t["number"] for t in first_retries]
    assert [recs[t["number"]]["retried_as"] for t in first_retries] == [t["number"] for t in second]
    assert {s["script"] for s in seen(proj)[-len(failed):]} == {"train_fixed.py"}
    assert sum(t["state"] == "complete" for t in recs) == 6
    assert hpo(proj, "best", "s.json", "--format", "json").returncode == 0


def test_retry_failed_without_failed_trials_says_so_and_continues(proj: Path) -> None:
    (proj / "FIXED").write_text("")
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "3", "--seed", "1", "-c", "s.json", "--no-progress",
            "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    r = hpo(proj, "resume", "s.json", "--retry-failed", "--trials", "5", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "--retry-failed: no failed trial to retry; continuing" in r.stderr
    assert [t["state"] for t in records(proj)] == ["complete"] * 5


def test_dry_run_shows_the_retries_and_writes_nothing(proj: Path) -> None:
    failed = buggy_sweep(proj, trials=6, seed=5)
    before = (proj / "s.json").read_bytes()
    r = hpo(proj, "resume", "s.json", "--retry-failed", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "re-running" in r.stderr
    # the first trial shown runs the first failed trial's params
    assert f"--x={failed[0]['params']['x']}" in r.stdout.split("# trial 7")[0].replace("'", "")
    assert (proj / "s.json").read_bytes() == before
    assert not os.path.exists(proj / "s.json.journal") or all(
        "retry_of" not in line for line in (proj / "s.json.journal").read_text().splitlines())


def test_killed_resume_leaves_the_queued_retries_to_a_worker_without_duplicates(proj: Path) -> None:
    failed = buggy_sweep(proj, trials=8, seed=3)
    (proj / "FIXED").write_text("")
    proc = subprocess.Popen(HPOSWEEP + ["resume", "s.json", "--retry-failed", "--no-progress"], cwd=proj,
                            env=env(proj, SLEEP="60"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(seen(proj)) < 9:
            time.sleep(0.1)
        assert len(seen(proj)) >= 9, "the first retry never started"
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # the first retry was running when the process died; the other retries wait in the queue
    study = Study.load(str(proj / "s.json"), readonly=True)
    assert [e.get("retry_of") for e in study.queue] == [t["number"] for t in failed[1:]]
    # a worker (which never queues retries itself) re-runs the lost retry and runs the queued ones
    r = hpo(proj, "worker", "s.json", "--lease", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    # and a second --retry-failed finds nothing new to retry
    again = hpo(proj, "resume", "s.json", "--retry-failed", "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "no failed trial to retry" in again.stderr
    recs = records(proj)
    complete = [t for t in recs if t["state"] == "complete"]
    assert len(complete) == 8
    # every failed configuration ran to completion exactly once
    for t in failed:
        assert sum(c["params"] == t["params"] for c in complete) == 1
        link = recs[t["number"]]["retried_as"]
        assert link is not None and recs[link]["state"] == "complete" and recs[link]["params"] == t["params"]
    interrupted = [t for t in recs if t["state"] == "interrupted"]
    assert len(interrupted) == 1 and interrupted[0]["params"] == failed[0]["params"]


def test_a_kill_while_queueing_retries_queues_no_duplicate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each re-queue is its own journal event: a kill after some leaves those done, and the next
    --retry-failed queues the rest, still in trial-number order."""
    import hposweep.study.api as api
    from hposweep.study.retry import retry_event

    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0.0, "high": 1.0}})
    study = Study(space, sampler="random", seed=0, settings={"trials": 6})
    study.save(tmp_path / "s.json")
    for k in range(6):
        t = study.ask()
        study.tell(t, state="failed") if k % 2 == 0 else study.tell(t, 0.5)
    assert study.n_finished == 6
    calls = []

    def dies_on_the_second(t: Any) -> dict[str, Any]:
        calls.append(t.number)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the kill
        return retry_event(t)

    monkeypatch.setattr(api, "retry_event", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        study.retry_failed()
    monkeypatch.undo()
    reloaded = Study.load(tmp_path / "s.json")
    assert [e["retry_of"] for e in reloaded.queue] == [4]
    assert reloaded.n_finished == 5
    assert reloaded.retry_failed() == [0, 2]
    assert [e["retry_of"] for e in reloaded.queue] == [0, 2, 4]
    assert reloaded.n_finished == 3
    assert reloaded.retry_failed() == []
    again = Study.load(tmp_path / "s.json")
    assert [e["retry_of"] for e in again.queue] == [0, 2, 4] and again.n_finished == 3
    trial = again.ask_within(4)
    assert trial is not None and trial.info["retry_of"] == 0 and trial.params == again.trial(0).params
    assert again.ask_within(4) is None  # 3 counted + 1 running reach the target


def test_the_fixed_command_survives_a_killed_resume(proj: Path) -> None:
    """``resume --retry-failed --command FIXED`` killed before it compacted: workers and a later resume still run
    FIXED (the command change is a durable settings event, not only an in-memory change)."""
    failed = buggy_sweep(proj, trials=6, seed=5)
    fixed = (proj / "train.py").read_text().replace('params["x"] > 0.5', "False")
    (proj / "train_fixed.py").write_text(fixed)
    proc = subprocess.Popen(HPOSWEEP + ["resume", "s.json", "--retry-failed", "--command",
                                        f"{sys.executable} train_fixed.py", "--no-progress"],
                            cwd=proj, env=env(proj, SLEEP="60"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(seen(proj)) < 7:
            time.sleep(0.1)
        assert len(seen(proj)) >= 7, "the first retry never started"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert Study.load(str(proj / "s.json"), readonly=True).settings["command"][-1] == "train_fixed.py"
    r = hpo(proj, "worker", "s.json", "--lease", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert {s["script"] for s in seen(proj)[6:]} == {"train_fixed.py"}
    assert sum(t["state"] == "complete" for t in records(proj)) == 6
    assert all(records(proj)[t["number"]]["retried_as"] is not None for t in failed)
