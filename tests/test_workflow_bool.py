"""Boolean parameters end to end: ``{type: bool}`` and bare flags (``pass: flag`` / ``flag_no``) reach a real
argparse script through every passing mode, ``validate`` shows them, the checkpoint keeps them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hposweep.core.params import BoolParam, CategoricalParam
from hposweep.core.space import SearchSpace
from hposweep.errors import ConfigError
from hposweep.execution.argv import build_argv, build_shell_command, flag_styles

HPOSWEEP = [sys.executable, "-m", "hposweep"]

SPACE = textwrap.dedent(
    """
    metric: loss
    parameters:
      lr: {type: float, low: 0.001, high: 0.1, log: true}
      use_bn: {type: bool}
      aug: {type: bool, pass: flag}
      ema: {type: bool, pass: flag_no}
    """
)

#: a script whose flags are what argparse users write: store_true, BooleanOptionalAction, a converter
TRAIN = textwrap.dedent(
    """
    import argparse, json, os, sys
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--use_bn", type=lambda s: {"true": True, "false": False}[s], required=True)
    ap.add_argument("--aug", action="store_true")
    ap.add_argument("--ema", action=argparse.BooleanOptionalAction, required=True)
    a = ap.parse_args()
    with open(os.environ["SEEN"], "a") as fh:
        fh.write(json.dumps({"trial": int(os.environ["HPOSWEEP_TRIAL"]), "argv": sys.argv[1:],
                             "parsed": {"use_bn": a.use_bn, "aug": a.aug, "ema": a.ema},
                             "env": json.loads(os.environ["HPOSWEEP_PARAMS"])}) + "\\n")
    print(f"loss={a.lr}")
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def hpo(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SEEN=str(proj / "seen.jsonl"))
    return subprocess.run(HPOSWEEP + list(args), cwd=proj, capture_output=True, text=True, env=env, timeout=120)


def seen(proj: Path) -> list[dict]:
    return [json.loads(line) for line in (proj / "seen.jsonl").read_text().splitlines()]


def test_flags_reach_an_argparse_script_and_round_trip(proj: Path) -> None:
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "8", "--seed", "3", "--no-progress", "--", "python",
            "train.py")
    assert r.returncode == 0, r.stderr
    rows = seen(proj)
    assert len(rows) == 8
    for row in rows:
        params = row["env"]
        assert row["parsed"] == {k: params[k] for k in ("use_bn", "aug", "ema")}  # argparse read what was sampled
        assert ("--aug" in row["argv"]) is params["aug"]
        assert not any(tok.startswith("--aug=") for tok in row["argv"])
        assert ("--ema" if params["ema"] else "--no-ema") in row["argv"]
        assert f"--use_bn={'true' if params['use_bn'] else 'false'}" in row["argv"]
        assert all(isinstance(params[k], bool) for k in ("use_bn", "aug", "ema"))  # JSON booleans
    # both values of every bool were tried in 8 trials (a 2-choice categorical to the sampler)
    for name in ("use_bn", "aug", "ema"):
        assert {row["env"][name] for row in rows} == {True, False}
    # the checkpoint keeps the kind and the passing style
    data = json.loads((proj / "hposweep-study.json").read_text())
    assert data["space"]["aug"] == {"type": "bool", "pass": "flag"}
    assert data["space"]["use_bn"] == {"type": "bool"}
    # best --format args writes the same flags the trial got
    best = hpo(proj, "best", "--format", "args")
    assert best.returncode == 0, best.stderr
    number = json.loads(hpo(proj, "best", "--format", "json").stdout)["number"]
    argv = next(row["argv"] for row in rows if row["trial"] == number)
    assert best.stdout.split() == argv


def test_hydra_templates_and_dry_run(proj: Path) -> None:
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "2", "--pass", "hydra", "--dry-run", "--", "python",
            "app.py")
    assert r.returncode == 0, r.stderr
    assert "aug=true" in r.stdout or "aug=false" in r.stdout  # Hydra overrides keep the value
    r = hpo(proj, "run", "--space", "space.yaml", "--trials", "2", "--dry-run", "--", "python", "app.py",
            "--aug={aug}", "{args}", "seed={seed}")
    assert r.returncode == 0, r.stderr
    assert "--aug=true" in r.stdout or "--aug=false" in r.stdout  # a placeholder is the value
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("python app.py")]
    assert all(" --no-ema" in ln or " --ema" in ln for ln in lines)  # {args} writes flags
    assert all("HPOSWEEP_SEED=" in r.stdout for _ in lines)


def test_validate_shows_bool_kinds(proj: Path) -> None:
    r = hpo(proj, "validate", "space.yaml")
    assert r.returncode == 0, r.stderr
    assert "bool (flag)" in r.stdout and "bool (flag_no)" in r.stdout
    assert "false, true" in r.stdout
    (proj / "bad.yaml").write_text("parameters:\n  a: {type: bool, pass: flags}\n")
    r = hpo(proj, "validate", "bad.yaml")
    assert r.returncode == 2
    assert "bad.yaml:2" in r.stderr and "did you mean 'flag'" in r.stderr
    (proj / "bad.yaml").write_text("parameters:\n  a: {type: bool, choices: [1, 2]}\n")
    r = hpo(proj, "validate", "bad.yaml")
    assert r.returncode == 2 and "unknown key 'choices'" in r.stderr


def test_bool_is_a_categorical_with_a_passing_style() -> None:
    space = SearchSpace.from_dict({"a": {"type": "bool", "pass": "flag"}, "b": {"type": "bool"},
                                   "c": {"type": "float", "low": 0, "high": 1, "when": {"a": True}}})
    assert isinstance(space["a"], CategoricalParam) and isinstance(space["a"], BoolParam)
    assert space["a"].choices == (False, True)
    assert SearchSpace.from_json(space.to_json()) == space
    assert not space["a"].contains(1) and space["a"].contains(True)
    flags = flag_styles(space)
    assert flags == {"a": "flag"}
    assert build_argv(["p"], {"a": False, "b": False}, 0, flags=flags) == ["p", "--b=false"]
    assert build_argv(["p"], {"a": True, "b": True}, 0, flags=flags) == ["p", "--a", "--b=true"]
    assert build_shell_command("p", {"a": True}, 0, flags={"a": "flag_no"}) == "p --a"
    assert build_shell_command("p", {"a": False}, 0, flags={"a": "flag_no"}) == "p --no-a"
    assert build_argv(["p", "{seed}"], {}, 4, seed=17) == ["p", "17"]
    assert build_argv(["p", "{seed}"], {"seed": 3}, 4, seed=17) == ["p", "3"]  # a parameter named seed wins
    with pytest.raises(ConfigError, match="unknown pass"):
        SearchSpace.from_dict({"a": {"type": "bool", "pass": "switch"}})
