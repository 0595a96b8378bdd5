"""``hposweep validate``: plain rows in pipes and CI logs, a rich table on a terminal, settings as YAML."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

SPACE = textwrap.dedent(
    """
    metric: val_loss
    direction: minimize
    trials: 30
    sampler: {name: tpe, n_startup_trials: 5}
    command: python train.py --epochs 3
    parameters:
      lr: {type: float, low: 0.0001, high: 0.1, log: true}
      optimizer: {type: categorical, choices: [adam, sgd, adamw_with_a_long_name, lion, adafactor, rmsprop]}
      momentum: {type: float, low: 0.5, high: 0.99, when: {optimizer: sgd}}
      layers: {type: int, low: 1, high: 8}
    """
)


@pytest.fixture
def space(tmp_path: Path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)
    return path


def test_validate_in_a_pipe_prints_one_parameter_per_line_and_settings_as_yaml(space: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "hposweep", "validate", str(space)], capture_output=True, text=True,
                       env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{space}: 4 parameters"
    assert lines[1].split() == ["name", "type", "range", "/", "choices", "scale", "condition"]
    assert lines[2].split(None, 2)[:2] == ["lr", "float"] and "0.0001 .. 0.1" in lines[2]
    assert lines[3].startswith("optimizer")
    assert "adam, sgd, adamw_with_a_long_name, lion, adafactor, rmsprop" in lines[3]
    assert lines[4].startswith("momentum") and lines[4].endswith("optimizer = sgd")
    assert lines[5].startswith("layers")
    assert "┃" not in r.stdout and "│" not in r.stdout  # no table drawing in a log
    assert lines[6] == "continuous space (infinitely many configurations)"
    assert lines[7] == "settings:"
    settings = yaml.safe_load("\n".join(lines[8:]))
    assert settings == {"metric": "val_loss", "direction": "minimize", "trials": 30,
                        "sampler": {"name": "tpe", "n_startup_trials": 5}, "command": "python train.py --epochs 3"}
    assert "{'" not in r.stdout and "sampler={" not in r.stdout  # not a Python repr, not a flow dict


def test_validate_on_a_terminal_keeps_the_table(space: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from hposweep.cli.validate import validate

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    validate(str(space))
    text = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "┃ name" in text and "│ lr" in text
    assert "settings:\n  metric: val_loss\n" in text


def test_validate_one_parameter_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hposweep.cli.validate import validate

    path = tmp_path / "one.yaml"
    path.write_text("parameters:\n  arch: {type: categorical, choices: [a]}\n")
    validate(str(path))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path}: 1 parameter"
    assert "1 distinct configuration" in lines
