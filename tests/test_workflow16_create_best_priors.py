"""Issue 16 end to end, through real processes: ``create`` takes run's warm-start and constraint flags (and
workers use them), ``best`` says why when no trial is feasible, and the warm-start priors are listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

SPACE = textwrap.dedent(
    """
    metric: loss
    parameters:
      x: {type: float, low: 0.0, high: 1.0}
    """
)

#: memory grows with x: "memory_gb <= 10" holds below x = 0.5
TRAIN = textwrap.dedent(
    """
    import json, os
    x = json.loads(os.environ["HPOSWEEP_PARAMS"])["x"]
    print(f"loss={(x - 0.7) ** 2:.6f}")
    print(f"memory_gb={x * 20 + float(os.environ.get('EXTRA_GB', '0')):.3f}")
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def hpo(proj: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(HPOSWEEP + list(args), cwd=proj, capture_output=True, text=True,
                          env=dict(os.environ, **extra), timeout=180)


def records(proj: Path, name: str, *more: str) -> list[dict[str, Any]]:
    r = hpo(proj, "trials", name, "--format", "json", *more)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def old_study(proj: Path, n: int = 6) -> None:
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", str(n), "--seed", "0", "--sampler", "random",
            "-c", "old.json", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr


def test_create_takes_warm_start_and_constraints_and_workers_use_them(proj: Path) -> None:
    old_study(proj)
    r = hpo(proj, "create", "--space", "space.yaml", "--trials", "3", "--seed", "1", "-c", "new.json",
            "--warm-start", "old.json", "--constraint", "memory_gb <= 10", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    assert "warm start: 6 prior observation(s) from old.json" in r.stderr
    study = json.loads((proj / "new.json").read_text())
    assert study["settings"]["constraints"] == ["memory_gb <= 10"]
    assert len(study["prior_trials"]) == 6 and study["trials"] == []
    w = hpo(proj, "worker", "new.json", "--no-progress")
    assert w.returncode == 0, w.stderr
    recs = records(proj, "new.json")
    assert len(recs) == 3 and all(t["feasible"] == (t["metrics"]["memory_gb"] <= 10) for t in recs)
    assert "warm start: 6 prior observations from old.json (not counted as trials)" in w.stdout


def test_create_validates_those_flags_as_run_does_and_writes_nothing(proj: Path) -> None:
    old_study(proj)
    for args, message in [
        (["--constraint", "memory_gb <"], "cannot read the constraint 'memory_gb <'"),
        (["--warm-start", "missing.json"], "--warm-start: no such study missing.json"),
        (["--warm-start", "old.json", "--metric", "acc"], "warm-start-metric"),
    ]:
        r = hpo(proj, "create", "--space", "space.yaml", "-c", "bad.json", *args, "--", sys.executable, "train.py")
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert not (proj / "bad.json").exists()
        same = hpo(proj, "run", "--space", "space.yaml", "-c", "bad.json", *args, "--", sys.executable, "train.py")
        assert same.returncode == 2 and same.stderr.splitlines()[0] == r.stderr.splitlines()[0]
    r = hpo(proj, "create", "--space", "space.yaml", "-c", "mapped.json", "--metric", "acc", "--direction",
            "maximize", "--warm-start", "old.json", "--warm-start-metric", "loss", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    assert len(json.loads((proj / "mapped.json").read_text())["prior_trials"]) == 6


def test_best_with_no_feasible_trial_names_the_closest_and_exits_1(proj: Path) -> None:
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "4", "--seed", "2", "--sampler", "random",
            "-c", "s.json", "--constraint", "memory_gb <= 10", "--no-progress", "--", sys.executable, "train.py",
            EXTRA_GB="20")
    recs = records(proj, "s.json")
    assert [t["feasible"] for t in recs] == [False] * 4
    closest = min(recs, key=lambda t: t["metrics"]["memory_gb"])
    expected = (f"no feasible trial: 4 complete trials all violate a constraint; the closest is #{closest['number']} "
                f"(memory_gb <= 10: {closest['metrics']['memory_gb']:g})")
    assert expected in r.stdout  # the end-of-sweep summary says it too
    # ``run`` exits 1 as ``best`` does, so ``run && best`` stops at ``run`` (it exited 0 before)
    assert r.returncode == 1, r.stderr
    assert f"sweep finished with {expected}" in r.stdout + r.stderr
    for fmt in ("table", "json", "args"):
        b = hpo(proj, "best", "s.json", "--format", fmt)
        assert b.returncode == 1, b.stderr
        assert b.stdout == ""
        assert b.stderr.strip() == expected
    # a constraint metric never reported is named as such
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "2", "--seed", "2", "-c", "m.json",
            "--constraint", "latency_ms < 50", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 1, r.stderr
    b = hpo(proj, "best", "m.json")
    assert b.returncode == 1
    assert "2 complete trials all violate a constraint; the closest is #0 (latency_ms < 50: never reported)" \
        in b.stderr


def test_trials_lists_the_warm_start_priors_after_the_trials(proj: Path) -> None:
    old_study(proj, n=4)
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "2", "--seed", "1", "-c", "s.json",
            "--warm-start", "old.json", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    assert "warm start: 4 prior observations from old.json (not counted as trials)" in r.stdout
    table = hpo(proj, "trials", "s.json").stdout.splitlines()
    header = table[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in table[1:]]
    assert [r["number"] for r in rows] == ["0", "1", "-1", "-2", "-3", "-4"]
    assert [r["state"] for r in rows] == ["complete", "complete", "prior", "prior", "prior", "prior"]
    assert rows[2]["reason"] == "warm start from old.json #0"
    # scripts get this study's trials only, unless they ask for the priors
    assert [t["number"] for t in records(proj, "s.json")] == [0, 1]
    priors = records(proj, "s.json", "--state", "prior")
    assert [t["number"] for t in priors] == [-1, -2, -3, -4]
    old = records(proj, "old.json")
    assert [t["params"] for t in priors] == [t["params"] for t in old]
    tsv = hpo(proj, "trials", "s.json", "--state", "prior", "--format", "tsv").stdout.splitlines()
    assert len(tsv) == 5 and all("\tprior\t" in line for line in tsv[1:])
    # --state complete / --top: the trials asked for, no priors
    assert len(hpo(proj, "trials", "s.json", "--state", "complete").stdout.splitlines()) == 3
    assert len(hpo(proj, "trials", "s.json", "--top", "1").stdout.splitlines()) == 2
