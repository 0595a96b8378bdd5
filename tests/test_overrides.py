"""Issue 14 item 4: a parameter the user's command already sets is refused before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]
TRAIN = "import json, sys\nopen('argv.json', 'w').write(json.dumps(sys.argv[1:]))\nprint('loss=0.5')\n"
# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = ("metric: loss\nsampler: random\nparameters:\n  epochs: {type: int, low: 1, high: 5}\n"
         "  lr: {type: float, low: 0.1, high: 1.0}\n")


@pytest.fixture()
def proj(tmp_path: Path) -> Path:
    (tmp_path / "t.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def run(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HPOSWEEP, "run", "-s", "space.yaml", "-n", "1", "--seed", "0", "--no-progress", *args],
                          cwd=proj, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("extra", "command", "token"), [
    ([], ["--epochs", "3"], "--epochs"),
    ([], ["--epochs=3"], "--epochs=3"),
    ([], ["--lr"], "--lr"),
    (["--dry-run"], ["--epochs=3"], "--epochs=3"),
    (["--pass", "hydra"], ["epochs=2"], "epochs=2"),
    (["--pass", "hydra"], ["+epochs=2"], "+epochs=2"),
    ([], ["{args}", "--epochs=3"], "--epochs=3"),
])
def test_a_parameter_the_command_sets_is_refused_and_nothing_is_written(proj: Path, extra: list[str],
                                                                        command: list[str], token: str) -> None:
    name = "lr" if "lr" in token else "epochs"
    r = run(proj, *extra, "--", sys.executable, "t.py", *command)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"error: the command already sets a parameter of the space: '{name}' "
                               f"(the command has '{token}')"), r.stderr
    assert "--allow-override" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in proj.iterdir()) == ["space.yaml", "t.py"]  # nothing written, nothing run


def test_allow_override_runs_with_both_values_and_says_so(proj: Path) -> None:
    r = run(proj, "--allow-override", "--", sys.executable, "t.py", "--epochs", "3")
    assert r.returncode == 0, r.stderr
    assert "[hposweep] --allow-override: the command's own value of 'epochs' (--epochs) is passed before" in r.stderr
    argv = json.loads((proj / "argv.json").read_text())
    assert argv[:2] == ["--epochs", "3"] and any(a.startswith("--epochs=") for a in argv[2:])


@pytest.mark.parametrize("command", [
    ["--data", "epochs"],          # the name as a value, not an option
    ["--epochs_total=9"],          # another option that starts like it
    ["--epochs={epochs}"],          # a template without {args}: the user wrote what runs
])
def test_look_alikes_and_templates_run(proj: Path, command: list[str]) -> None:
    r = run(proj, "--", sys.executable, "t.py", *command)
    assert r.returncode == 0, r.stderr
