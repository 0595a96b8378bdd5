"""``hposweep enqueue`` and ``hposweep repeat`` end to end, through real processes (a running worker included)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hposweep.cli.workflow import parse_scalar

HPOSWEEP = [sys.executable, "-m", "hposweep"]

SPACE = textwrap.dedent(
    """
    metric: loss
    parameters:
      x: {type: float, low: 0.0, high: 1.0}
      depth: {type: int, low: 1, high: 8, step: 1}
      drop: {type: float, low: 0.0, high: 0.5, step: 0.1}
      opt: {type: categorical, choices: [adam, sgd]}
      momentum: {type: float, low: 0.5, high: 0.99, when: {opt: sgd}}
      use_bn: {type: bool}
    """
)

#: loss depends on x and on the seed (a "lucky" seed gives a lower loss), as real training does
TRAIN = textwrap.dedent(
    """
    import json, os, sys, time
    params = json.loads(os.environ["HPOSWEEP_PARAMS"])
    seed = int(os.environ["HPOSWEEP_SEED"])
    with open(os.environ["SEEN"], "a") as fh:
        fh.write(json.dumps({"trial": int(os.environ["HPOSWEEP_TRIAL"]), "params": params, "seed": seed,
                             "argv": sys.argv[1:]}) + "\\n")
    time.sleep(float(os.environ.get("SLEEP", "0")))
    print(f"loss={params['x'] + (seed % 1000) / 4000}")
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def hpo(proj: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, SEEN=str(proj / "seen.jsonl"), **env)
    return subprocess.run(HPOSWEEP + list(args), cwd=proj, capture_output=True, text=True, env=full, timeout=180)


def seen(proj: Path) -> list[dict]:
    path = proj / "seen.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trials(proj: Path, name: str = "s.json") -> list[dict]:
    r = hpo(proj, "trials", name, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def info(proj: Path, number: int, name: str = "s.json") -> dict:
    r = hpo(proj, "show", name, str(number), "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["info"]


def run(proj: Path, n: int, name: str = "s.json", seed: str = "0") -> None:
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", str(n), "--seed", seed, "-c", name, "--no-progress",
            "--sampler", "random", "--", "python", "train.py")
    assert r.returncode == 0, r.stderr


def test_parse_scalar_reads_yaml_and_exponents() -> None:
    assert parse_scalar("1e-3") == 0.001 and parse_scalar("3") == 3 and parse_scalar("true") is True
    assert parse_scalar("adam") == "adam" and parse_scalar("null") is None and parse_scalar("'1e-3'") == "1e-3"


def test_enqueue_name_value_is_taken_by_a_running_worker(proj: Path) -> None:
    r = hpo(proj, "create", "--space", "space.yaml", "--trials", "4", "--seed", "1", "-c", "s.json", "--",
            "python", "train.py")
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, SEEN=str(proj / "seen.jsonl"), SLEEP="1.0")
    worker = subprocess.Popen(HPOSWEEP + ["worker", "s.json", "--no-progress"], cwd=proj, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not seen(proj) and time.time() < deadline:  # the worker is running its first trial
            time.sleep(0.1)
        assert seen(proj), "the worker never started a trial"
        r = hpo(proj, "enqueue", "s.json", "x=1e-3", "depth=3", "opt=sgd", "use_bn=true")
        assert r.returncode == 0, r.stderr
        assert "queued 1 configuration" in r.stdout and "x=0.001" in r.stdout and "sampled: drop, momentum" in r.stdout
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors
    finally:
        if worker.poll() is None:
            worker.kill()
    rows = trials(proj)
    assert len(rows) == 4  # the enqueued trial is one of the target's 4, not a fifth
    taken = [r for r in rows if r["params"]["x"] == 0.001]
    assert len(taken) == 1 and taken[0]["number"] >= 1
    assert taken[0]["params"]["depth"] == 3 and taken[0]["params"]["use_bn"] is True
    assert 0.5 <= taken[0]["params"]["momentum"] <= 0.99  # the missing active parameter was sampled


@pytest.mark.parametrize(("args", "message"), [
    (["dpeth=3"], "did you mean 'depth'"),
    (["x=1.5"], "outside the range 0..1"),
    (["drop=0.25"], "off the step 0.1"),
    (["depth=2.5"], "not a whole number"),
    (["opt=rmsprop"], "not one of the choices adam, sgd"),
    (["opt=adam", "momentum=0.9"], "inactive"),
    (["momentum=0.9"], "conditional on 'opt'"),
    (["use_bn=1"], "not one of the choices false, true"),
    (["x"], "is not NAME=VALUE"),
])
def test_enqueue_refuses_what_the_space_cannot_hold(proj: Path, args: list[str], message: str) -> None:
    run(proj, 1)
    before = (proj / "s.json").read_bytes(), (proj / "s.json.journal").read_bytes()
    r = hpo(proj, "enqueue", "s.json", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert ((proj / "s.json").read_bytes(), (proj / "s.json.journal").read_bytes()) == before  # nothing written


def test_enqueue_from_file_and_from_study(proj: Path) -> None:
    run(proj, 6, "old.json", seed="5")
    run(proj, 2)
    (proj / "best.yaml").write_text("- {x: 0.25, opt: adam}\n- {x: 0.5, drop: 0.3}\n")
    r = hpo(proj, "enqueue", "s.json", "--from", "best.yaml")
    assert r.returncode == 0, r.stderr
    assert "queued 2 configurations" in r.stdout
    (proj / "one.json").write_text(json.dumps({"x": 0.75}))
    assert hpo(proj, "enqueue", "s.json", "--from", "one.json").returncode == 0
    (proj / "bad.yaml").write_text("- {x: 0.25}\n- {x: 7}\n")
    r = hpo(proj, "enqueue", "s.json", "--from", "bad.yaml")
    assert r.returncode == 2 and "configuration 2 of 2" in r.stderr  # nothing of the file is queued
    r = hpo(proj, "enqueue", "s.json", "--from-study", "old.json", "--top", "2")
    assert r.returncode == 0, r.stderr
    assert "from old.json#" in r.stdout
    assert "note:" in r.stderr and "resume s.json --trials 7" in r.stderr  # the study already reached its target
    r = hpo(proj, "resume", "s.json", "--trials", "7", "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = trials(proj)
    old = sorted((t for t in trials(proj, "old.json") if t["state"] == "complete"), key=lambda t: t["value"])
    assert [t["params"]["x"] for t in rows[2:5]] == [0.25, 0.5, 0.75]
    assert rows[2]["params"]["opt"] == "adam" and rows[3]["params"]["drop"] == 0.3
    assert [t["params"] for t in rows[5:7]] == [t["params"] for t in old[:2]]
    assert info(proj, 5)["enqueued_from"].endswith(f"old.json#{old[0]['number']}")


def test_repeat_reruns_the_best_with_new_seeds_and_best_uses_the_mean(proj: Path) -> None:
    run(proj, 5)
    r = hpo(proj, "repeat", "s.json", "--top", "2", "--repeats", "3", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "repeating 2 configurations 3 times each (6 extra trials, target now 11)" in r.stderr
    rows = trials(proj)
    assert len(rows) == 11 and all(t["state"] == "complete" for t in rows)
    by_trial = {row["trial"]: row for row in seen(proj)}
    groups: dict[int, list[int]] = {}
    for t in rows[5:]:
        i = info(proj, t["number"])
        groups.setdefault(i["repeat_of"], []).append(t["number"])
        assert by_trial[t["number"]]["seed"] == i["repeat_seed"]  # HPOSWEEP_SEED is the recorded seed
        assert t["params"] == rows[i["repeat_of"]]["params"]
    single = sorted(rows[:5], key=lambda t: t["value"])
    assert sorted(groups) == sorted(t["number"] for t in single[:2])
    for origin, members in groups.items():
        seeds = [by_trial[n]["seed"] for n in [origin, *members]]
        assert len(set(seeds)) == 4  # the original's seed and three new ones
    # best: the configuration with the best mean over its 4 runs, with mean and sd
    means = {o: statistics.mean([rows[n]["value"] for n in [o, *m]]) for o, m in groups.items()}
    winner = min(means, key=lambda o: means[o])
    r = hpo(proj, "best", "s.json", "--format", "json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)
    assert best["number"] == winner and best["picked_by"].startswith("mean")
    assert best["repeats"]["n"] == 4 and best["repeats"]["mean"] == pytest.approx(means[winner])
    sd = statistics.stdev([rows[n]["value"] for n in [winner, *groups[winner]]])
    assert best["repeats"]["sd"] == pytest.approx(sd)
    r = hpo(proj, "best", "s.json")
    assert "picked by the mean" in r.stdout and f"trial {winner}: " in r.stdout and "±" in r.stdout
    # the repeats were extra: the study's search target is reached, a resume runs nothing more
    r = hpo(proj, "resume", "s.json", "--no-progress")
    assert "already has 11 finished trials" in r.stderr
    # the report shows the repeats
    r = hpo(proj, "report", "s.json", "-o", "r.html")
    assert r.returncode == 0, r.stderr
    html = (proj / "r.html").read_text()
    assert "Repeats of the best" in html and "Picked by the mean over repeats" in html


def test_repeat_seed_placeholder_and_no_run(proj: Path) -> None:
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "2", "--seed", "0", "-c", "s.json", "--no-progress",
            "--", "python", "train.py", "--seed={seed}")
    assert r.returncode == 0, r.stderr
    r = hpo(proj, "repeat", "s.json", "--repeats", "2", "--no-run")
    assert r.returncode == 0, r.stderr
    assert "queued 2 repeats" in r.stdout
    r = hpo(proj, "worker", "s.json", "--no-progress")
    assert r.returncode == 0, r.stderr
    for row in seen(proj):
        assert row["argv"] == [f"--seed={row['seed']}"]  # {seed} is HPOSWEEP_SEED
    assert len(trials(proj)) == 4
