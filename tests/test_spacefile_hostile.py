"""Crafted and extreme space files (issue 15, items 12 and 13): each ends in exit 2 with the file, the
line, the parameter and a hint, quickly, and never in a traceback or a hang."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import hposweep
from hposweep.core.space import GRID_LIMIT
from hposweep.errors import ConfigError
from hposweep.spacefile import load_config, normalize_parameters
from hposweep.spacefile.source import MAX_BYTES


def validate(path: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hposweep", "validate", str(path)],
                          capture_output=True, text=True, timeout=timeout)


def refused(tmp_path: Path, text: str, *needles: str, line: int | None = None, param: str | None = None) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    r = validate(path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert str(path) in r.stderr and "hint:" in r.stderr
    if line is not None:
        assert f"{path}:{line}:" in r.stderr, r.stderr
    if param is not None:
        assert f"parameter '{param}'" in r.stderr, r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr
    return r.stderr


def nested_wandb(levels: int) -> str:
    text, indent = "parameters:\n", "  "
    for i in range(levels):
        text += f"{indent}p{i}:\n{indent}  parameters:\n"
        indent += "    "
    return text + f"{indent}x: 1\n"


def test_a_10000_deep_list_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "parameters:\n  a: {type: categorical, choices: " + "[" * 10_000 + "]" * 10_000 + "}\n",
            "nesting deeper than 64 levels", line=2)


def test_300_nested_wandb_blocks_are_refused(tmp_path: Path) -> None:
    refused(tmp_path, nested_wandb(300), "nesting deeper than 64 levels")


def test_nested_wandb_blocks_from_python_are_bounded() -> None:
    spec: dict = {"x": 1}
    for i in range(300):
        spec = {f"p{i}": {"parameters": spec}}
    with pytest.raises(ConfigError, match="deeper than 16 levels"):
        normalize_parameters(spec)
    assert normalize_parameters(
        {"a": {"parameters": {"b": {"parameters": {"c": 1}}}}}) == {"a.b.c": {"type": "fixed", "value": 1}}


@pytest.mark.parametrize(("name", "problem"), [
    ("x=y", "contains '='"), ("--z", "starts with '-'"),
    ("a b", "contains whitespace"), ("a\tb", "contains whitespace"),
])
def test_names_that_break_argv_are_refused(tmp_path: Path, name: str, problem: str) -> None:
    quoted = name.replace("\t", "\\t")
    refused(tmp_path, f'parameters:\n  b: 1\n  "{quoted}": {{type: int, low: 1, high: 3}}\n', problem,
            line=3, param=name)


def test_an_empty_name_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "parameters:\n  '': 1\n", "non-empty", line=2)
    with pytest.raises(ConfigError, match="is empty"):
        hposweep.SearchSpace.from_json({" ": {"type": "fixed", "value": 1}})


def test_dotted_and_dashed_names_still_work() -> None:
    space = hposweep.SearchSpace.from_dict({"model.depth": 3, "batch-size": {"values": [16, 32]}})
    assert list(space.params) == ["model.depth", "batch-size"]


@pytest.mark.parametrize("value", ["1e400", "-1e400", ".inf", ".nan", "{value: [1, .nan]}"])
def test_non_finite_fixed_values_are_refused(tmp_path: Path, value: str) -> None:
    refused(tmp_path, f"parameters:\n  b: 1\n  a: {value}\n", "not a finite number" if "[" not in value else "holds",
            line=3, param="a")


def test_non_finite_choice_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "parameters:\n  a: {values: [1, .inf]}\n", "choice inf", param="a")


def test_an_int_range_to_1e30_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "parameters:\n  a:\n    type: int\n    low: 0\n    high: 1e30\n", "beyond ±2**53",
            line=5, param="a")


def test_a_float_range_whose_width_overflows_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "parameters:\n  a: {type: float, low: -1e308, high: 1e308}\n", "overflows", param="a")


def test_the_widest_accepted_float_range_samples_with_every_sampler() -> None:
    pytest.importorskip("scipy")
    space = hposweep.SearchSpace.from_dict({"x": {"type": "float", "low": -8e307, "high": 8e307},
                                            "y": {"type": "float", "low": 0.0, "high": 1.0}})
    for sampler in ("random", "tpe", "gp", "nsga2"):
        study = hposweep.Study(space, direction="minimize", sampler=sampler, seed=0)
        for _ in range(12):
            trial = study.ask()
            assert -8e307 <= trial.params["x"] <= 8e307
            study.tell(trial, abs(trial.params["x"] / 8e307) + trial.params["y"])


def test_a_grid_step_of_1e_300_is_refused_quickly(tmp_path: Path) -> None:
    start = time.perf_counter()
    refused(tmp_path, "parameters:\n  a:\n    type: float\n    low: 0\n    high: 1\n    step: 1.0e-300\n",
            "more than 2**53", line=6, param="a")
    assert time.perf_counter() - start < 10


def test_a_grid_too_large_to_enumerate_is_refused() -> None:
    space = hposweep.SearchSpace.from_dict({"a": {"type": "int", "low": 0, "high": 10**6},
                                            "b": {"type": "int", "low": 0, "high": 9}})
    with pytest.raises(ConfigError, match=f"more than {GRID_LIMIT:,} points"):
        next(space.grid())
    small = hposweep.SearchSpace.from_dict({"a": {"values": [1, 2]}, "b": {"type": "int", "low": 0, "high": 2}})
    assert list(small.grid()) == [{"a": a, "b": b} for a in (1, 2) for b in (0, 1, 2)]


def test_empty_parameters_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "parameters: {}\n", "non-empty mapping", line=1)


def _bomb(indent: str) -> str:
    """Nine levels of nine aliases each: 387 million "lol"s once expanded, in under 500 bytes."""
    names = "abcdefghi"
    lines = [f'{indent}- &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    for i in range(1, 9):
        lines.append(f"{indent}- &{names[i]} [" + ",".join(["*" + names[i - 1]] * 9) + "]\n")
    return "".join(lines)


@pytest.mark.parametrize(("text", "needle"), [
    ("parameters:\n  z:\n    value:\n" + _bomb("      "), "too large"),
    ("parameters:\n  z:\n    values:\n" + _bomb("      "), "too large"),
    ("parameters:\n  x: 1\nsampler:\n  name: tpe\n  junk:\n" + _bomb("    "), "too large"),
    ("parameters:\n  x: 1\nz:\n" + _bomb("  "), "unknown top-level key 'z'"),
], ids=["fixed-value", "choices", "sampler", "unknown-key"])
def test_an_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path, text: str, needle: str) -> None:
    assert len(text) < 500
    start = time.perf_counter()
    refused(tmp_path, text, needle)
    assert time.perf_counter() - start < 5  # a subprocess start included; the check itself takes milliseconds


def test_duplicate_walk_visits_shared_nodes_once(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("parameters:\n  x: 1\nz:\n" + _bomb("  "))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="unknown top-level key"):
        load_config(str(path))
    assert time.perf_counter() - start < 0.5


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_without_reading_it_all() -> None:
    r = validate(Path("/dev/zero"), timeout=30)
    assert r.returncode == 2 and "larger than 4 MiB" in r.stderr and "Traceback" not in r.stderr


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "w") as fh:
        fh.write("parameters:\n  a: 1\n")
        fh.write("# " + "x" * (MAX_BYTES + 10) + "\n")
    r = validate(path)
    assert r.returncode == 2 and f"{path}: is larger than 4 MiB" in r.stderr and "reading stopped" in r.stderr


def test_10000_parameters_validate_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("parameters:\n" + "".join(f"  p{i}: {{type: int, low: 0, high: 3}}\n" for i in range(10_000)))
    start = time.perf_counter()
    cfg = load_config(str(path))
    assert len(cfg.space) == 10_000 and time.perf_counter() - start < 10
    assert cfg.space.n_configs() is None  # 4**10000 is beyond the limit, counted without recursion


def test_a_chain_of_3000_conditions_loads() -> None:
    # 3x Python's default recursion limit: enough to prove the walk does not recurse. (Counting a chain is
    # quadratic, n assignments times n parameters: 10,000 took 30 s of CI time for the same proof.)
    spec: dict = {"p0": {"values": [0, 1]}}
    for i in range(1, 3_000):
        spec[f"p{i}"] = {"values": [0, 1], "when": {f"p{i - 1}": 1}}
    space = hposweep.SearchSpace.from_dict(dict(reversed(list(spec.items()))))
    assert list(space.params)[:3] == ["p0", "p1", "p2"]
    assert space.n_configs() == 3_001


def test_wandb_q_that_does_not_divide_rounds_to_multiples_inside_the_range(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "parameters:\n"
        "  a: {distribution: q_uniform, min: 0, max: 1, q: 0.3}\n"
        "  b: {distribution: q_uniform, min: 0.1, max: 1.0, q: 0.25}\n"
        "  c: {min: 1, max: 10, q: 3}\n"
        "  d: {distribution: q_log_uniform_values, min: 1.5, max: 100.5, q: 1}\n"
        "  e: {distribution: q_uniform, min: 0, max: 1, q: 0.25}\n")
    cfg = load_config(str(path))
    s = cfg.space
    assert s["a"].values() == [0.0, 0.3, 0.6, 0.9]
    assert s["b"].values() == [0.25, 0.5, 0.75, 1.0]
    assert s["c"].values() == [3, 6, 9]
    assert (s["d"].low, s["d"].high, s["d"].log) == (2, 100, True)
    assert s["e"].values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(cfg.warnings) == 4
    assert cfg.warnings[0] == (f"{path}:2:48: parameter 'a': q=0.3 does not divide 0..1: "
                               "searching the multiples of 0.3 from 0 to 0.9 (W&B rounds to multiples of q)")
    assert "parameter 'd'" in cfg.warnings[3] and "whole numbers 2..100" in cfg.warnings[3]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        space = hposweep.SearchSpace.from_dict({"a": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.3}})
    assert space["a"].values() == [0.0, 0.3, 0.6, 0.9] and "does not divide" in str(caught[0].message)
    assert math.isclose(space["a"].high, 0.9)
