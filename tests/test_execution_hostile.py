"""One trial's output, signal or parameter value must never crash the sweep, run code, or write through a link.

Real ``hposweep run`` processes, real trial subprocesses, real signals (issue 15 items 5-8, issue 14 item 18).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hposweep import Study
from hposweep.core.trial import TrialState

HPOSWEEP = [sys.executable, "-m", "hposweep"]
LIMIT = 90
HOSTILE = ["$(touch pwned)", "`touch pwned`", "a; touch pwned", "a\ntouch pwned", "it's \"q\" $HOME", "-x --y=1"]


def hp(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    env.pop("CI", None)
    return subprocess.run(HPOSWEEP + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=LIMIT)


def script(tmp_path: Path, code: str) -> str:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(code))
    return str(path)


# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"


def sweep(tmp_path: Path, code: str, *extra: str, trials: int = 1, space: str = SPACE) -> subprocess.CompletedProcess:
    (tmp_path / "space.yaml").write_text(space)
    return hp(tmp_path, "run", "--space", "space.yaml", "--trials", str(trials), "--no-progress", "--seed", "0",
              *extra, "--", sys.executable, script(tmp_path, code))


def load(tmp_path: Path) -> Study:
    return Study.load(tmp_path / "hposweep-study.json", readonly=True)


# --- output the parser must survive (issue 15 item 5) -------------------------------------------
def test_deeply_nested_json_line_is_ignored_and_said_once(tmp_path: Path) -> None:
    r = sweep(tmp_path, """
        print("[" * 3000 + "]" * 3000)
        print('{"a": ' * 3000 + "1" + "}" * 3000)
        print("loss=0.5")
    """)
    assert r.returncode == 0, r.stderr
    (t,) = load(tmp_path).trials
    assert t.state is TrialState.COMPLETE and t.value == 0.5
    assert t.info["parse_notes"] == ["1 output line ignored: JSON nested deeper than 64 levels"]
    assert "RecursionError" not in r.stderr and "Traceback" not in r.stderr
    again = hp(tmp_path, "resume", "hposweep-study.json", "--trials", "2", "--no-progress")
    assert again.returncode == 0, again.stderr


def test_step_beyond_64_bits_is_ignored_and_the_trial_finishes(tmp_path: Path) -> None:
    r = sweep(tmp_path, """
        print("step=99999999999999999999999 loss=0.1")
        print('{"step": 99999999999999999999999, "loss": 0.2}')
        print("loss=1e999")
        print("loss=0.5")
    """)
    assert r.returncode == 0, r.stderr
    (t,) = load(tmp_path).trials
    assert t.state is TrialState.COMPLETE and t.value == 0.5
    assert t.info["parse_notes"] == [
        "3 output lines ignored: a number out of range (a step above 2**53, or digits that overflow a float)"]


def test_overlong_line_is_ignored(tmp_path: Path) -> None:
    r = sweep(tmp_path, """
        import sys
        sys.stdout.write("loss=0.9 " + "x" * 200000 + "\\n")
        print("loss=0.5")
    """)
    assert r.returncode == 0, r.stderr
    (t,) = load(tmp_path).trials
    assert t.value == 0.5 and t.info["parse_notes"] == ["1 output line ignored: longer than 65536 characters"]


def test_fractional_steps_are_kept_by_the_parser() -> None:
    from hposweep.execution.metrics import MetricParser

    reports = MetricParser().feed("{'loss': 0.4, 'epoch': 1.5}\nepoch=2.0 loss=0.3\n")
    assert [(r.name, r.value, r.step) for r in reports] == [("loss", 0.4, 1.5), ("loss", 0.3, 2)]
    assert isinstance(reports[1].step, int)


def test_catastrophic_metric_regex_does_not_block_the_timeout(tmp_path: Path) -> None:
    r = sweep(tmp_path, """
        import time
        print("a" * 40 + "!", flush=True)
        print("loss=0.5", flush=True)
        time.sleep(30)
    """, "--metric-regex", r"^(a+)+$(?P<value>\d)", "--timeout", "3", "--max-failures", "1")
    assert r.returncode == 1, r.stderr
    (t,) = load(tmp_path).trials
    assert t.state is TrialState.FAILED and t.info["reason"].startswith("timed out after 3s")
    assert t.info["duration"] < 8
    assert any("took longer than 0.5s" in n for n in t.info["parse_notes"])


# --- signals and finishing (issue 14 item 18) ---------------------------------------------------
def test_trial_killed_by_a_real_time_signal_fails_with_its_number(tmp_path: Path) -> None:
    r = sweep(tmp_path, """
        import os
        print("loss=0.5", flush=True)
        os.kill(os.getpid(), 40)
    """, "--max-failures", "1")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    (t,) = load(tmp_path).trials
    assert t.state is TrialState.FAILED
    assert t.info["reason"] == f"command failed (killed by signal 40 (SIGRTMIN+{40 - __import__('signal').SIGRTMIN}))"
    again = hp(tmp_path, "resume", "hposweep-study.json", "--no-progress")
    assert "Traceback" not in again.stderr


# --- parameter values never run (issue 15 item 7) -----------------------------------------------
ECHO = """
    import json, os, sys
    out = {"argv": sys.argv[1:], "env": json.loads(os.environ["HPOSWEEP_PARAMS"]),
           "file": json.load(open(os.environ["HPOSWEEP_PARAMS_FILE"]))}
    with open(os.environ["OUT"], "a") as fh:
        fh.write(json.dumps(out) + "\\n")
    print("loss=0.5")
"""


def choice_space(values: list[str]) -> str:
    return "metric: loss\nsampler: grid\nparameters:\n  c: {type: categorical, choices: " + json.dumps(values) + "}\n"


@pytest.mark.parametrize("how", ["args", "hydra", "none", "template", "shell-args", "shell-hydra", "shell-template",
                                 "shell-args_json"])
def test_hostile_values_never_run_and_arrive_whole(tmp_path: Path, how: str) -> None:
    prog = script(tmp_path, ECHO)
    (tmp_path / "space.yaml").write_text(choice_space(HOSTILE))
    out = tmp_path / "out.jsonl"
    base = ["run", "--space", "space.yaml", "--trials", str(len(HOSTILE)), "--no-progress"]
    py = f"{sys.executable} {prog}"
    if how in ("args", "hydra", "none"):
        cmd = base + ["--pass", how, "--", sys.executable, prog]
    elif how == "template":
        cmd = base + ["--", sys.executable, prog, "--c={c}", "{args_json}"]
    elif how == "shell-template":
        cmd = base + ["--shell", "--", f"OUT={out} {py} c={{c}} {{c}}"]
    elif how == "shell-args_json":
        cmd = base + ["--shell", "--", f"OUT={out} {py} {{args_json}}"]
    else:
        cmd = base + ["--shell", "--pass", how.split("-")[1], "--", f"OUT={out} {py}"]
    env_out = {"OUT": str(out)}
    r = subprocess.run(HPOSWEEP + cmd, cwd=tmp_path, capture_output=True, text=True, timeout=LIMIT,
                       env={**{k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}, **env_out})
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "pwned").exists()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["env"]["c"] for row in rows) == sorted(HOSTILE)
    assert all(row["file"] == row["env"] for row in rows)
    for row in rows:
        value = row["env"]["c"]
        if how in ("args", "shell-args"):
            assert row["argv"] == [f"--c={value}"]
        elif how == "template":
            assert row["argv"] == [f"--c={value}", json.dumps({"c": value}, separators=(",", ":"))]
        elif how == "shell-template":
            assert row["argv"] == [f"c={value}", value]
        elif how == "shell-args_json":
            assert json.loads(row["argv"][0]) == {"c": value}
        elif how == "none":
            assert row["argv"] == []


@pytest.mark.parametrize("template", ['c="{c}"', "'{c}'", "'{args_json}'", '"--c={c}"', "\\{c}"])
def test_quoted_placeholder_in_a_shell_template_is_refused_before_anything_is_written(
    tmp_path: Path, template: str,
) -> None:
    (tmp_path / "space.yaml").write_text(choice_space(HOSTILE))
    r = hp(tmp_path, "run", "--space", "space.yaml", "--trials", "1", "--no-progress", "--shell", "--",
           f"echo {template}")
    assert r.returncode == 2, r.stderr
    assert "placeholder" in r.stderr and "bare" in r.stderr
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "hposweep-study.json").exists()


# --- links in the logs folder (issue 15 item 8) -------------------------------------------------
@pytest.mark.parametrize("name", ["hposweep.log", "hposweep.params.json"])
def test_planted_symlink_is_not_written_through(tmp_path: Path, name: str) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    logs = tmp_path / "hposweep-study.trials" / "000000"
    logs.mkdir(parents=True)
    (logs / name).symlink_to(target)
    r = sweep(tmp_path, "print('loss=0.5')\n")
    assert target.read_text() == "keep me\n"
    assert r.returncode == 2, r.stderr
    assert "refusing to write " in r.stderr
    assert f"hposweep-study.trials/000000/{name}: it is a symbolic link" in r.stderr
    # a sweep stopped with exit 2 before any trial completed leaves no study behind (issue 14 item 2)
    assert not (tmp_path / "hposweep-study.json").exists()
