"""Building a trial's argv, shell command and environment; checked against a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hposweep.errors import ConfigError
from hposweep.execution.argv import (
    build_argv,
    build_shell_command,
    format_value,
    trial_env,
    write_params_file,
)

PARAMS = {"lr": 0.001, "layers": 3, "act": "relu", "bn": True, "wd": 1e-05, "opt": None, "name": "a b'c"}
ECHO = [sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))"]


def received(argv: list[str]) -> list[str]:
    """What a real program gets in sys.argv[1:] when run with ``argv``."""
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def received_shell(command: str) -> list[str]:
    out = subprocess.run(command, shell=True, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize(
    "value, text",
    [
        (0.001, "0.001"), (1e-05, "1e-05"), (0.1, "0.1"), (2.0, "2.0"), (1 / 3, "0.3333333333333333"),
        (3, "3"), (True, "true"), (False, "false"), (None, "null"), ("relu", "relu"),
        (float("inf"), "inf"), ([1, "a"], '[1,"a"]'), ({"k": 1}, '{"k":1}'),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


def test_floats_round_trip() -> None:
    for v in (0.001, 1e-05, 3e-310, 0.1 + 0.2, 123456789.123, 1e22):
        assert float(format_value(v)) == v


def test_args_mode_appends_in_order() -> None:
    argv = build_argv(ECHO, PARAMS, 4)
    assert received(argv) == [
        "--lr=0.001", "--layers=3", "--act=relu", "--bn=true", "--wd=1e-05", "--opt=null", "--name=a b'c",
    ]


def test_hydra_and_none_modes() -> None:
    params = {"optimizer.lr": 0.01, "model": "resnet", "tag": "a b,c"}
    assert received(build_argv(ECHO, params, 0, "hydra")) == [
        "optimizer.lr=0.01", "model=resnet", "tag='a b,c'",
    ]
    assert build_argv(["train"], params, 0, "none") == ["train"]


def test_placeholders_substitute_and_append_nothing() -> None:
    cmd = ECHO + ["--learning-rate", "{lr}", "--out=runs/{trial}/{act}", "{{lr}}", "{}", '{"k": 1}']
    assert received(build_argv(cmd, PARAMS, 7)) == [
        "--learning-rate", "0.001", "--out=runs/7/relu", "{lr}", "{}", '{"k": 1}',
    ]


def test_whole_token_placeholders() -> None:
    p = {"lr": 0.5, "act": "gelu"}
    assert received(build_argv(ECHO + ["{args}", "x"], p, 1)) == ["--lr=0.5", "--act=gelu", "x"]
    assert received(build_argv(ECHO + ["{args_no_hyphens}"], p, 1)) == ["lr=0.5", "act=gelu"]
    got = received(build_argv(ECHO + ["--params={args_json}"], p, 1))
    assert got[0].startswith("--params=") and json.loads(got[0][len("--params="):]) == p
    with pytest.raises(ConfigError, match="token of its own"):
        build_argv(["train", "--x={args}"], p, 1)


def test_unknown_placeholder_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as err:
        build_argv(["train", "--lr={learning_rate}"], {"lr": 0.1}, 0, known=["lr", "momentum"])
    text = str(err.value)
    assert "{learning_rate}" in text and "{lr}" in text and "{momentum}" in text and "{trial}" in text


def test_inactive_conditional_param_drops_its_token() -> None:
    cmd = ["train", "--opt={optimizer}", "--momentum={momentum}", "--seed={trial}"]
    argv = build_argv(cmd, {"optimizer": "adam"}, 2, known=["optimizer", "momentum"])
    assert argv == ["train", "--opt=adam", "--seed=2"]
    shell = build_shell_command("train --momentum={momentum}", {}, 2, known=["momentum"])
    assert shell == "train --momentum="


def test_bad_mode_and_empty_command() -> None:
    with pytest.raises(ConfigError, match="valid modes"):
        build_argv(["x"], {}, 0, "yaml")
    with pytest.raises(ConfigError):
        build_argv([], {}, 0)


def test_shell_mode_quotes_values() -> None:
    base = sys.executable + " -c 'import sys, json; print(json.dumps(sys.argv[1:]))'"
    params = {"name": "a b'c; rm -rf x", "lr": 0.1}
    assert received_shell(build_shell_command(base, params, 0)) == ["--name=a b'c; rm -rf x", "--lr=0.1"]
    templ = base + " --n={name} {args} ${HOME:+home} t{trial}"
    assert received_shell(build_shell_command(templ, params, 3)) == [
        "--n=a b'c; rm -rf x", "--name=a b'c; rm -rf x", "--lr=0.1", "home", "t3",
    ]
    assert build_shell_command("train", params, 0, "none") == "train"


def test_trial_env(tmp_path) -> None:
    base = {"PATH": "/bin", "HPOSWEEP_SLOT": "9", "HPOSWEEP_OLD": "x", "CUDA_VISIBLE_DEVICES": "5"}
    env = trial_env(base, trial_number=3, params={"lr": 0.1}, params_file=tmp_path / "p.json",
                    metrics_file="m.jsonl", study_path="s.json")
    assert env["HPOSWEEP_TRIAL"] == "3" and json.loads(env["HPOSWEEP_PARAMS"]) == {"lr": 0.1}
    assert env["HPOSWEEP_PARAMS_FILE"] == str(tmp_path / "p.json")
    assert env["HPOSWEEP_METRICS_FILE"] == "m.jsonl" and env["HPOSWEEP_STUDY"] == "s.json"
    assert "HPOSWEEP_SLOT" not in env and "HPOSWEEP_OLD" not in env
    assert env["CUDA_VISIBLE_DEVICES"] == "5" and env["PYTHONUNBUFFERED"] == "1" and env["PATH"] == "/bin"
    env = trial_env(base, trial_number=0, params={}, slot=1, gpus=[2, 3])
    assert env["HPOSWEEP_SLOT"] == "1" and env["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert base["HPOSWEEP_SLOT"] == "9"  # not modified


def test_env_reaches_the_process_and_params_file(tmp_path) -> None:
    pfile = tmp_path / "params.json"
    write_params_file(pfile, {"lr": 0.1, "act": "relu"})
    env = trial_env({"PATH": "/usr/bin:/bin"}, trial_number=5, params={"lr": 0.1}, params_file=pfile)
    code = ("import os, json; "
            "print(json.dumps([os.environ['HPOSWEEP_TRIAL'], open(os.environ['HPOSWEEP_PARAMS_FILE']).read()]))")
    trial, text = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                            check=True).stdout)
    assert trial == "5" and json.loads(text) == {"lr": 0.1, "act": "relu"}


@given(st.floats(allow_nan=False))
def test_every_float_round_trips(v: float) -> None:
    assert float(format_value(v)) == v
