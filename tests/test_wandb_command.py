"""A W&B sweep file's ``program:`` / ``command:`` runs as it is: real ``hposweep run`` processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

TRAIN = """\
import json, sys
with open("argv.jsonl", "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
print("val_loss=0.5")
"""


@pytest.fixture()
def proj(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def run(proj: Path, space: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (proj / "sweep.yaml").write_text(space)
    return subprocess.run([*HPOSWEEP, "run", "--space", "sweep.yaml", "--trials", "2", "--seed", "0",
                           "--no-progress", *extra], cwd=proj, capture_output=True, text=True, timeout=120)


def argvs(proj: Path) -> list[list[str]]:
    return [json.loads(line) for line in (proj / "argv.jsonl").read_text().splitlines()]


def test_program_alone_runs_like_the_wandb_agent(proj: Path) -> None:
    r = run(proj, "program: train.py\nmetric: {name: val_loss, goal: minimize}\n"
                  "parameters:\n  lr: {min: 0.001, max: 0.1}\n  layers: {values: [1, 2]}\n")
    assert r.returncode == 0, r.stderr
    got = argvs(proj)
    assert len(got) == 2
    for a in got:  # ${env} ${interpreter} ${program} ${args}: --name=value for every parameter
        assert [x.split("=")[0] for x in a] == ["--lr", "--layers"]


def test_command_macros_and_literal_words(proj: Path) -> None:
    space = ("program: train.py\nmetric: {name: val_loss, goal: minimize}\ncommand:\n  - ${env}\n"
             "  - ${interpreter}\n  - ${program}\n  - --data={x}\n  - ${args_no_hyphens}\n  - ${args_json}\n"
             "parameters:\n  lr: {values: [0.01]}\n")
    r = run(proj, space)
    assert r.returncode == 0, r.stderr
    assert argvs(proj)[0] == ["--data={x}", "lr=0.01", '{"lr":0.01}']  # braces outside macros stay literal


def test_a_command_after_double_dash_overrides_the_file(proj: Path) -> None:
    r = run(proj, "program: nothing_here.py\nmetric: {name: val_loss, goal: minimize}\n"
                  "parameters:\n  lr: {values: [0.01]}\n", "--", sys.executable, "train.py", "--given")
    assert r.returncode == 0, r.stderr
    assert argvs(proj)[0] == ["--given", "--lr=0.01"]


@pytest.mark.parametrize(("space", "message"), [
    ("command:\n  - ${interpreter}\n  - ${program}\nparameters:\n  lr: {values: [1]}\n",
     "sweep.yaml:1:1: `command`: W&B command uses ${program}, but the file has no `program:`"),
    ("program: train.py\ncommand:\n  - ${interpreter}\n  - ${nope}\nparameters:\n  lr: {values: [1]}\n",
     "sweep.yaml:2:1: `command`: W&B command has the W&B macro ${nope}, which hposweep does not know"),
])
def test_macro_errors_name_the_file_and_write_nothing(proj: Path, space: str, message: str) -> None:
    r = run(proj, space, "-m", "val_loss")
    assert r.returncode == 2
    assert r.stderr.startswith("error: " + message), r.stderr
    assert "Traceback" not in r.stderr
    assert not (proj / "hposweep-study.json").exists()


def test_args_json_file_and_no_boolean_flags(proj: Path) -> None:
    (proj / "train.py").write_text(TRAIN + "import json as j\nargs = sys.argv[1:]\n"
                                   "open('params_seen.json', 'w').write(open(args[0]).read())\n")
    space = ("program: train.py\nmetric: {name: val_loss, goal: minimize}\ncommand:\n  - ${interpreter}\n"
             "  - ${program}\n  - ${args_json_file}\n  - ${args_no_boolean_flags}\n"
             "parameters:\n  aug: {values: [true]}\n  plain: {values: [false]}\n  lr: {values: [0.01]}\n")
    r = run(proj, space)
    assert r.returncode == 0, r.stderr
    argv = argvs(proj)[0]
    assert argv[0].endswith("hposweep.params.json") and Path(argv[0]).is_absolute()
    assert argv[1:] == ["--aug", "--lr=0.01"]  # true: a bare flag, false: nothing (W&B's rule)
    assert json.loads((proj / "params_seen.json").read_text()) == {"aug": True, "plain": False, "lr": 0.01}
