"""Issue 14 items 1, 14 and 6 where the user meets them: `python -m hposweep run` with real trials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

TRAIN = textwrap.dedent(
    """
    import os, sys
    args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:] if '=' in a)
    x = float(args.get('x', 0.5))
    style = os.environ.get('STYLE', 'plain')
    print(f"config: x={x}, lr=0.01", flush=True)  # scripts echo their config
    for epoch in range(1, 4):
        loss = (x - 0.3) ** 2 + 1.0 / epoch
        if style == 'lightgbm':
            print(f"[{epoch}]\\tvalid_0's binary_logloss: {loss:.6f}", flush=True)
        else:
            print(f"epoch={epoch} val_loss={loss:.6f} val_acc={1 - loss:.4f} train_loss={loss * 0.9:.6f}", flush=True)
    """
)

# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = textwrap.dedent(
    """
    sampler: random
    parameters:
      x: {type: float, low: 0.0, high: 1.0}
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def run(proj: Path, *args: str, style: str = "plain", space: str = "space.yaml") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STYLE=style)
    env.pop("CI", None)
    return subprocess.run(
        [*HPOSWEEP, "run", "--space", space, "--no-progress", "--seed", "1", *args, "--", sys.executable,
         "train.py"], cwd=proj, env=env, capture_output=True, text=True, timeout=120,
    )


def load(proj: Path) -> dict:
    return json.loads((proj / "hposweep-study.json").read_text())


def test_misspelt_metric_stops_after_the_first_trial_with_exit_2(proj: Path) -> None:
    res = run(proj, "--trials", "6", "-m", "val_los", "--max-failures", "5")
    assert res.returncode == 2, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "did you mean 'val_loss'?" in out
    assert "the output has: lr, val_loss, val_acc, train_loss" in out  # x is a param echo: not listed
    assert "configuration error: trial 0 ran to the end" in out
    assert "fix --metric" in out
    assert out.count("trial 0 failed") == 1 and "trial 1 " not in out  # one trial, not --max-failures of them
    # no trial ever completed: the sweep leaves no files, so the corrected command runs as it is
    assert not (proj / "hposweep-study.json").exists() and not (proj / "hposweep-study.logs").exists()


def test_a_misspelt_metric_after_a_good_trial_is_an_ordinary_failure(proj: Path) -> None:
    """The objective was reported before (here: by the same study under the right name), so a trial
    that misses it is that trial's failure, not the configuration's."""
    from hposweep.execution.metrics import MetricTracker
    from hposweep.execution.outcome import objective_ever_reported

    res = run(proj, "--trials", "1", "-m", "val_loss")
    assert res.returncode == 0, res.stdout + res.stderr
    from hposweep.study.api import Study

    study = Study.load(str(proj / "hposweep-study.json"))
    assert objective_ever_reported(study, "val_loss", ["val_loss"], exclude=99, running=[MetricTracker(["val_loss"])])
    study.close()


def test_lightgbm_prefixed_name_is_used_and_said_once(proj: Path) -> None:
    res = run(proj, "--trials", "2", "-m", "binary_logloss", style="lightgbm")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    note = "'binary_logloss' is not printed under that name: using 'valid_0-binary_logloss'"
    assert out.count(note) == 1, out
    trials = load(proj)["trials"]
    assert [t["state"] for t in trials] == ["complete", "complete"]


def test_config_echo_is_not_stored_as_a_metric(proj: Path) -> None:
    res = run(proj, "--trials", "2", "-m", "val_loss")
    assert res.returncode == 0, res.stdout + res.stderr
    csv = subprocess.run([*HPOSWEEP, "trials", "--format", "csv"], cwd=proj, capture_output=True, text=True)
    header = csv.stdout.splitlines()[0].split(",")
    assert len(header) == len(set(header)), header
    assert not [h for h in header if h.endswith("_x") and not h.startswith("param_")], header
    for t in load(proj)["trials"]:
        attrs = t.get("user_attrs") or {}
        assert "x" not in attrs and "lr" in attrs  # lr is not a parameter of the space: a metric it stays


TARGET_SPACE = textwrap.dedent(
    """
    method: grid
    metric: {name: val_loss, goal: minimize, target: 0.34}
    parameters:
      x: {values: [0.9, 0.8, 0.7, 0.3, 0.1]}
    """
)


def test_metric_target_stops_the_sweep(proj: Path) -> None:
    (proj / "wandb.yaml").write_text(TARGET_SPACE)
    res = run(proj, space="wandb.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    trials = load(proj)["trials"]
    last = trials[-1]  # x=0.3 is the only value with val_loss (0.3333) <= 0.34: nothing starts after it
    assert last["params"]["x"] == 0.3 and len(trials) <= 5
    assert f"target 0.34 reached by trial {last['number']}" in res.stdout + res.stderr
