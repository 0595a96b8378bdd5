"""Issue 14 item 6 (the parsing part): W&B's `metric.target` and `early_terminate` in a sweep file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hposweep.errors import ConfigError
from hposweep.spacefile import load_config

BASE = "method: random\nparameters:\n  lr: {min: 0.001, max: 0.1}\n"


def settings(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return load_config(str(path)).settings


@pytest.mark.parametrize("metric", [
    "metric: {name: val_loss, goal: minimize, target: 0.1}\n",  # W&B
    "metric: {name: val_loss, direction: minimize, target: 0.1}\n",  # native spelling
])
def test_metric_target_is_read(tmp_path: Path, metric: str) -> None:
    s = settings(tmp_path, metric + BASE)
    assert s["metric"] == "val_loss" and s["direction"] == "minimize" and s["metric_target"] == 0.1


def test_metric_target_must_be_a_number(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, "metric: {name: val_loss, target: low}\n" + BASE)
    assert exc.value.line == 1 and "`target` must be a number" in str(exc.value)


@pytest.mark.parametrize("et, pruner", [
    ("{type: hyperband, min_iter: 3}", {"name": "hyperband", "reduction_factor": 3, "min_resource": 3}),
    ("{type: hyperband, min_iter: 2, eta: 2}", {"name": "hyperband", "reduction_factor": 2, "min_resource": 2}),
    # W&B's bands for max_iter 27, s 2, eta 3 are 9 and 3: the eagerest bracket's rungs are at 3 and 9
    ("{type: hyperband, max_iter: 27, s: 2, eta: 3}",
     {"name": "hyperband", "reduction_factor": 3, "min_resource": 3, "max_resource": 27}),
    ("{type: hyperband, max_iter: 81, s: 3, eta: 3.0, strict: false}",
     {"name": "hyperband", "reduction_factor": 3, "min_resource": 3, "max_resource": 81}),
])
def test_early_terminate_maps_to_hyperband(tmp_path: Path, et: str, pruner: dict) -> None:
    s = settings(tmp_path, "metric: {name: loss}\n" + BASE + f"early_terminate: {et}\n")
    assert s["pruner"] == pruner


@pytest.mark.parametrize("et, needle", [
    ("{type: envelope}", "only `type: hyperband`"),
    ("{type: hyperband}", "needs `min_iter`, or `max_iter` with `s`"),
    ("{type: hyperband, max_iter: 27}", "`max_iter` needs `s`"),
    ("{type: hyperband, min_iter: 3, s: 2}", "`s` is used only with `max_iter`"),
    ("{type: hyperband, min_iter: 3, max_iter: 27, s: 2}", "both `min_iter` and `max_iter`"),
    ("{type: hyperband, min_iter: 3, eta: 2.5}", "`eta` must be a whole number >= 2"),
    ("{type: hyperband, max_iter: 8, s: 3, eta: 3}", "below 1"),
    ("{type: hyperband, min_iter: 3, strict: true}", "`strict: true` has no equivalent"),
    ("{type: hyperband, min_iter: 3, bands: 4}", "unknown key 'bands'"),
])
def test_early_terminate_that_cannot_be_mapped_is_an_error_at_its_line(tmp_path: Path, et: str, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        settings(tmp_path, "metric: {name: loss}\n" + BASE + f"early_terminate: {et}\n")
    assert needle in str(exc.value)
    assert exc.value.line == 5 and str(exc.value.source).endswith("sweep.yaml")


def test_early_terminate_and_pruner_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be combined with `pruner:`"):
        settings(tmp_path, BASE + "pruner: asha\nearly_terminate: {type: hyperband, min_iter: 3}\n")


def test_a_wandb_file_with_early_terminate_runs_with_the_hyperband_pruner(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text(textwrap.dedent("""
        method: random
        metric: {name: loss, goal: minimize}
        early_terminate: {type: hyperband, min_iter: 1, eta: 2}
        parameters:
          lr: {min: 0.001, max: 0.1}
        """))
    (tmp_path / "train.py").write_text("for e in range(3):\n    print(f'epoch={e} loss={1.0 / (e + 1)}')\n")
    env = dict(os.environ)
    env.pop("CI", None)
    res = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "sweep.yaml", "--trials", "1",
                          "--no-progress", "--", sys.executable, "train.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "pruner hyperband" in res.stderr and "min_resource" in res.stderr and "reduction_factor" in res.stderr
