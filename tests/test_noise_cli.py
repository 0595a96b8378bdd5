"""``hposweep best --robust`` and the "recommended under noise" line, through the real CLI on a real noisy sweep."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hposweep.study.api import Study
from hposweep.study.summary import recommended_trial

HPOSWEEP = [sys.executable, "-m", "hposweep"]

#: a bowl in two parameters plus noise seeded by the trial's configuration (the same config, the same value)
TRAIN = textwrap.dedent("""
    import math, random, sys
    args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:])
    lr, wd = float(args['lr']), float(args['wd'])
    random.seed(f"{lr:.12g} {wd:.12g}")
    true = 0.3 + 0.05 * (math.log10(lr) + 2.5) ** 2 + 0.2 * (wd - 0.1) ** 2
    print(f"loss={true + random.gauss(0, NOISE):.6f}")
""")
SPACE = textwrap.dedent("""
    metric: loss
    parameters:
      lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
      wd: {type: float, low: 0.0, high: 0.3}
""")


def hp(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(HPOSWEEP + list(args), cwd=cwd, capture_output=True, text=True, timeout=300)


def make_sweep(cwd: Path, noise: float, trials: int = 40, seed: int = 3) -> subprocess.CompletedProcess:
    """A real TPE sweep through the CLI; with noise 0.05 and seed 3 its best observed trial (#30) is not the
    recommended one (#11), which is what the test of ``--robust`` needs."""
    (cwd / "train.py").write_text(TRAIN.replace("NOISE", repr(noise)))
    (cwd / "space.yaml").write_text(SPACE)
    r = hp(cwd, "run", "--space", "space.yaml", "--trials", str(trials), "--sampler", "tpe", "--seed", str(seed),
           "--no-progress", "-c", "s.json", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("noisy")
    return cwd, make_sweep(cwd, 0.05)


def test_robust_returns_the_recommended_trial_in_every_format(noisy: tuple[Path, subprocess.CompletedProcess]) -> None:
    cwd, run = noisy
    study = Study.load(str(cwd / "s.json"), readonly=True)
    found = recommended_trial(study)
    assert found is not None
    rec_trial, rec = found
    assert rec.method == "model" and rec.differs, rec  # this sweep's best observed trial was lucky
    best = study.best_trial
    # the end-of-sweep summary names it
    out = run.stdout + run.stderr
    assert f"recommended under noise: #{rec_trial.number} (estimated" in out and "best --robust" in out

    from hposweep.report import render_report

    assert f"Recommended under noise: #{rec_trial.number}" in render_report(study)
    # plain best is unchanged: the best observed trial
    plain = json.loads(hp(cwd, "best", "s.json", "--format", "json").stdout)
    assert plain["number"] == best.number and "estimate" not in plain
    r = hp(cwd, "best", "s.json", "--format", "json", "--robust")
    assert r.returncode == 0, r.stderr
    record = json.loads(r.stdout)
    assert record["number"] == rec_trial.number and record["picked_by"] == "lowest model estimate under noise"
    assert abs(record["estimate"] - rec.estimate) < 1e-9
    r = hp(cwd, "best", "s.json", "--format", "yaml", "--robust")
    assert r.returncode == 0 and f"number: {rec_trial.number}" in r.stdout
    # args/env/csv: the recommended params on stdout, the why on stderr (scripts read stdout)
    r = hp(cwd, "best", "s.json", "--format", "args", "--robust")
    assert r.returncode == 0 and f"--lr={rec_trial.params['lr']!r}"[:12] in r.stdout and "--robust:" in r.stderr
    r = hp(cwd, "best", "s.json", "--format", "env", "--robust")
    assert r.returncode == 0 and r.stdout.startswith("export LR=") and "--robust:" in r.stderr
    rows = list(csv.DictReader(io.StringIO(hp(cwd, "best", "s.json", "--format", "csv", "--robust").stdout)))
    assert [int(row["number"]) for row in rows] == [rec_trial.number]
    # the table (no terminal here: plain lines) shows the recommended trial and says why
    r = hp(cwd, "best", "s.json", "--robust")
    assert r.returncode == 0 and r.stdout.startswith(f"trial\t{rec_trial.number}\n")
    assert "lowest estimate under noise" in r.stdout
    # the plain table names the recommendation under the best trial
    r = hp(cwd, "best", "s.json")
    assert r.stdout.startswith(f"trial\t{best.number}\n")
    assert f"recommended under noise: #{rec_trial.number}" in r.stdout


def test_a_clean_sweep_recommends_its_best(tmp_path: Path) -> None:
    make_sweep(tmp_path, 0.0, trials=30)
    study = Study.load(str(tmp_path / "s.json"), readonly=True)
    r = hp(tmp_path, "best", "s.json", "--format", "json", "--robust")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["number"] == study.best_trial.number
    assert "recommended under noise" not in hp(tmp_path, "best", "s.json").stdout


def test_robust_errors(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import sys\nx = float(sys.argv[1].split('=')[1])\n"
                                       "print(f'a={x} b={1 - x}')\n")
    (tmp_path / "space.yaml").write_text("metrics: [{name: a, direction: minimize}, {name: b, direction: minimize}]\n"
                                         "parameters:\n  x: {type: float, low: 0, high: 1}\n")
    r = hp(tmp_path, "run", "--space", "space.yaml", "--trials", "3", "--sampler", "random", "--seed", "0",
           "--no-progress", "-c", "mo.json", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    for fmt in ("table", "json", "args"):
        r = hp(tmp_path, "best", "mo.json", "--robust", "--format", fmt)
        assert r.returncode == 2 and "--robust is for single-objective studies" in r.stderr, r.stderr
        assert r.stdout == ""
    # an empty study: nothing completed yet, exit 1 as plain best
    (tmp_path / "one.yaml").write_text("metric: a\nparameters:\n  x: {type: float, low: 0, high: 1}\n")
    r = hp(tmp_path, "create", "--space", "one.yaml", "-c", "empty.json", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    assert hp(tmp_path, "best", "empty.json", "--robust").returncode == 1
