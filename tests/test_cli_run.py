"""End-to-end tests of `hposweep run/resume/best/trials/show` with real subprocess trials."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

TRAIN = textwrap.dedent(
    """
    import json, os, sys, time
    args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:] if '=' in a)
    x = float(args.get('x', 0.5)); n = int(args.get('n', 3))
    sleep = float(os.environ.get('TRAIN_SLEEP', '0'))
    with open(os.environ['TRAIN_SEEN'], 'a') as fh:
        fh.write(json.dumps({"trial": os.environ['HPOSWEEP_TRIAL'], "argv": sys.argv[1:],
                             "params": json.loads(os.environ['HPOSWEEP_PARAMS'])}) + "\\n")
    for epoch in range(n):
        time.sleep(sleep)
        print(f"epoch={epoch} loss={(x - 0.3) ** 2 + 1.0 / (epoch + 1):.6f}", flush=True)
    if os.environ.get('TRAIN_FAIL') and x > 0.5:
        sys.exit(3)
    """
)

SPACE = textwrap.dedent(
    """
    metric: loss
    direction: minimize
    parameters:
      x: {type: float, low: 0.0, high: 1.0}
      n: 3
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def env_for(proj: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CI", None)
    env["TRAIN_SEEN"] = str(proj / "seen.jsonl")
    env.update(extra)
    return env


def hp(proj: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(HPOSWEEP + list(args), cwd=proj, env=env or env_for(proj), capture_output=True, text=True,
                          timeout=timeout)


def run_args(*extra: str) -> list[str]:
    return ["run", "--space", "space.yaml", "--seed", "0", "--sampler", "random", *extra]


def load(proj: Path, name: str = "hposweep-study.json") -> dict:
    out = hp(proj, "trials", name, "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_run_best_args_round_trip(proj: Path) -> None:
    r = hp(proj, *run_args("--trials", "4", "--", sys.executable, "train.py"))
    assert r.returncode == 0, r.stderr
    assert "best trial" in r.stdout
    trials = load(proj)
    assert [t["state"] for t in trials] == ["complete"] * 4
    best = json.loads(hp(proj, "best", "--format", "json").stdout)
    assert best["value"] == min(t["value"] for t in trials)
    args = hp(proj, "best", "--format", "args").stdout.split()
    assert args[0].startswith("--x=")
    # Re-running the command with those args reproduces the value exactly.
    seen = Path(proj / "seen.jsonl")
    rerun = subprocess.run([sys.executable, "train.py", *args], cwd=proj, env=env_for(proj, HPOSWEEP_TRIAL="x",
                           HPOSWEEP_PARAMS="{}"), capture_output=True, text=True)
    last = rerun.stdout.strip().splitlines()[-1]
    assert float(last.split("loss=")[1]) == pytest.approx(best["value"])
    env_out = hp(proj, "best", "--format", "env").stdout
    assert re.search(r"^export X=", env_out, re.M)
    assert seen.exists()


def test_ci_output_plain_no_ansi(proj: Path) -> None:
    env = env_for(proj, CI="true")
    r = hp(proj, *run_args("--trials", "2", "--", sys.executable, "train.py"), env=env)
    assert r.returncode == 0
    assert "\x1b[" not in r.stderr + r.stdout
    assert re.search(r"^\[hposweep\] trial 0 started", r.stderr, re.M)
    assert re.search(r"^\[hposweep\] trial 1 complete loss=", r.stderr, re.M)


def test_json_summary_is_clean_stdout(proj: Path) -> None:
    r = hp(proj, *run_args("--trials", "2", "--json", "--", sys.executable, "train.py"))
    assert r.returncode == 0
    summary = json.loads(r.stdout)
    assert summary["states"] == {"complete": 2}
    assert summary["best"]["params"]["n"] == 3


@pytest.mark.parametrize(
    "command, check",
    [
        (["train.py", "--x={x}", "--out=runs/{trial}"], lambda s: s["argv"] == [f"--x={s['params']['x']!r}",
                                                                                  f"--out=runs/{s['trial']}"]),
        (["train.py", "{args}"], lambda s: s["argv"][0].startswith("--x=") and s["argv"][1] == "--n=3"),
        (["train.py", "{args_no_hyphens}"], lambda s: s["argv"][0].startswith("x=")),
        (["train.py", "{args_json}"], lambda s: json.loads(s["argv"][0])["n"] == 3),
    ],
)
def test_parameter_templates(proj: Path, command: list[str], check) -> None:
    r = hp(proj, *run_args("--trials", "2", "--metric", "loss", "--", sys.executable, *command))
    # train.py prints a loss whatever it parsed ({args_json} gives it no `name=value`: x keeps its default)
    assert r.returncode == 0, r.stderr
    assert [t["state"] for t in load(proj)] == ["complete", "complete"]
    seen = [json.loads(line) for line in (proj / "seen.jsonl").read_text().splitlines()]
    assert len(seen) == 2
    for s in seen:
        assert check(s), s


@pytest.mark.parametrize("mode, prefix", [("hydra", "x="), ("none", None)])
def test_pass_modes(proj: Path, mode: str, prefix: str | None) -> None:
    r = hp(proj, *run_args("--trials", "1", "--pass", mode, "--", sys.executable, "train.py"))
    assert r.returncode == 0, r.stderr
    [seen] = [json.loads(line) for line in (proj / "seen.jsonl").read_text().splitlines()]
    x = seen["params"]["x"]
    if prefix is None:
        assert seen["argv"] == []
    else:
        assert seen["argv"] == [f"{prefix}{x!r}", "n=3"]
    assert set(seen["params"]) == {"x", "n"}


def test_failures_are_recorded_with_reasons(proj: Path) -> None:
    (proj / "bad.py").write_text("import sys\nprint('boom: something broke', file=sys.stderr)\nsys.exit(3)\n")
    r = hp(proj, *run_args("--trials", "3", "--max-failures", "2", "--", sys.executable, "bad.py"))
    assert r.returncode == 1
    assert r.stdout.startswith("stopped after 2 failed trials in a row (--max-failures): 2 trials (2 failed)\n")
    assert "[hposweep] 2 trials failed in a row: stopping the sweep\n" in r.stderr
    trials = load(proj)
    assert len(trials) == 2
    assert all(t["state"] == "failed" and "exit code 3" in t["reason"] for t in trials)
    assert "boom: something broke" in r.stderr  # the log tail is shown


def test_no_metric_and_nan_fail(proj: Path) -> None:
    (proj / "quiet.py").write_text("print('hello')\n")
    r = hp(proj, *run_args("--trials", "1", "--", sys.executable, "quiet.py"))
    assert r.returncode == 1, r.stderr
    [t] = load(proj)
    assert t["state"] == "failed" and "no value of 'loss'" in t["reason"]
    (proj / "nan.py").write_text("print('loss=nan')\n")
    r = hp(proj, *run_args("--trials", "1", "--force", "--", sys.executable, "nan.py"))
    assert r.returncode == 1, r.stderr
    [t] = load(proj)
    assert t["state"] == "failed" and t["reason"] == "objective value is nan"


def test_command_not_found_refused_before_anything_is_written(proj: Path) -> None:
    r = hp(proj, *run_args("--trials", "5", "--", "definitely-not-a-command-xyz"))
    assert r.returncode == 2
    assert "command not found: 'definitely-not-a-command-xyz' (searched PATH)" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in proj.iterdir()) == ["space.yaml", "train.py"]


def test_timeout_marks_failed(proj: Path) -> None:
    r = hp(proj, *run_args("--trials", "1", "--timeout", "1s", "--grace", "0.5", "--", sys.executable, "train.py"),
           env=env_for(proj, TRAIN_SLEEP="5"))
    assert r.returncode == 1
    t = load(proj)[0]
    assert t["state"] == "failed" and "timed out" in t["reason"]


def test_existing_checkpoint_refused_then_force_keeps_backup(proj: Path) -> None:
    assert hp(proj, *run_args("--trials", "1", "--", sys.executable, "train.py")).returncode == 0
    r = hp(proj, *run_args("--trials", "1", "--", sys.executable, "train.py"))
    assert r.returncode == 2 and "hposweep resume" in r.stderr
    r = hp(proj, *run_args("--trials", "1", "--force", "--", sys.executable, "train.py"))
    assert r.returncode == 0
    assert list(proj.glob("hposweep-study.json.bak-*"))


def test_dry_run_prints_commands_and_writes_nothing(proj: Path) -> None:
    r = hp(proj, *run_args("--trials", "5", "--dry-run", "--", sys.executable, "train.py"))
    assert r.returncode == 0
    assert r.stdout.count("HPOSWEEP_TRIAL=") == 3
    assert "--x=" in r.stdout
    assert not (proj / "hposweep-study.json").exists()
    assert not (proj / "seen.jsonl").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--space", "space.yaml", "--trials", "abc", "--", "true"],
         "Invalid value for '--trials' / '-n': 'abc' is not a valid int"),
        (["run", "--space", "space.yaml", "--direction", "sideways", "--", "true"],
         "error: --direction must be minimize or maximize, got 'sideways'"),
        (["run", "--space", "space.yaml", "--timeout", "soon", "--", "true"],
         "error: --timeout: cannot read duration 'soon'"),
        (["run", "--space", "space.yaml", "--sampler", "nope", "--", "true"], "error: unknown sampler 'nope'"),
        (["run", "--space", "missing.yaml", "--", "true"], "error: missing.yaml: file not found"),
        (["run", "--space", "space.yaml"], "error: no command to run"),
        (["best", "missing.json"], "error: missing.json: no such checkpoint"),
        (["nonsense-command"], "No such command 'nonsense-command'"),
    ],
)
def test_bad_usage_exits_2(proj: Path, args: list[str], message: str) -> None:
    r = hp(proj, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert message in r.stderr
    assert r.stdout == ""
    assert not (proj / "hposweep-study.json").exists()


def test_best_without_completed_trial_exits_1(proj: Path) -> None:
    (proj / "bad.py").write_text("raise SystemExit(1)\n")
    hp(proj, *run_args("--trials", "1", "--", sys.executable, "bad.py"))
    r = hp(proj, "best")
    assert r.returncode == 1 and "no trial" in r.stderr


def _wait_for(predicate, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _n_started(proj: Path) -> int:
    p = proj / "seen.jsonl"
    return len(p.read_text().splitlines()) if p.exists() else 0


def test_sigint_exits_130_and_resume_finishes(proj: Path) -> None:
    env = env_for(proj, TRAIN_SLEEP="0.3")
    proc = subprocess.Popen(HPOSWEEP + run_args("--trials", "4", "--grace", "2", "--", sys.executable, "train.py"),
                            cwd=proj, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _n_started(proj) >= 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "hposweep resume" in err
    trials = load(proj)
    assert trials[-1]["state"] == "interrupted"
    r = hp(proj, "resume", "hposweep-study.json", env=env)
    assert r.returncode == 0, r.stderr
    trials = load(proj)
    states = [t["state"] for t in trials]
    assert states.count("complete") == 4
    # the interrupted trial's params were re-run first
    interrupted = next(t for t in trials if t["state"] == "interrupted")
    rerun = trials[interrupted["number"] + 1]
    assert rerun["params"] == interrupted["params"]


def test_sigkill_then_resume_reaches_exact_target(proj: Path) -> None:
    env = env_for(proj, TRAIN_SLEEP="0.1")
    proc = subprocess.Popen(HPOSWEEP + run_args("--trials", "6", "--", sys.executable, "train.py"),
                            cwd=proj, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _wait_for(lambda: _n_started(proj) >= 3)
    os.killpg(proc.pid, signal.SIGKILL)  # hposweep and its running trial die together
    proc.wait()
    before = [t for t in load(proj) if t["state"] == "complete"]
    r = hp(proj, "resume", "hposweep-study.json", env=env)
    assert r.returncode == 0, r.stderr
    trials = load(proj)
    numbers = [t["number"] for t in trials]
    assert numbers == list(range(len(trials)))
    assert sum(t["state"] in ("complete", "failed", "pruned") for t in trials) == 6
    after = {t["number"]: t for t in trials}
    for t in before:  # nothing finished before the kill was lost or changed
        assert after[t["number"]]["value"] == t["value"]


def test_resume_raises_target(proj: Path) -> None:
    assert hp(proj, *run_args("--trials", "2", "--", sys.executable, "train.py")).returncode == 0
    r = hp(proj, "resume", "hposweep-study.json", "--trials", "4")
    assert r.returncode == 0
    assert len(load(proj)) == 4


def test_metrics_file_and_stderr(proj: Path) -> None:
    (proj / "mf.py").write_text(textwrap.dedent(
        """
        import json, os, sys
        print("INFO:root:loss=5.0", file=sys.stderr)
        with open(os.environ['HPOSWEEP_METRICS_FILE'], 'a') as fh:
            fh.write(json.dumps({"acc": 0.9, "step": 0}) + "\\n")
        """))
    hp(proj, *run_args("--trials", "1", "--", sys.executable, "mf.py"))
    t = load(proj)[0]
    assert t["state"] == "complete" and t["value"] == 5.0
    assert t["metrics"]["acc"] == 0.9


def test_show_prints_trial_and_log_tail(proj: Path) -> None:
    hp(proj, *run_args("--trials", "1", "--", sys.executable, "train.py"))
    r = hp(proj, "show", "hposweep-study.json", "0", "--format", "json")
    assert r.returncode == 0
    rec = json.loads(r.stdout)
    assert rec["intermediate"] == {"0": 1.113543, "1": 0.613543, "2": rec["value"]}
    assert rec["info"]["argv"][:2] == [sys.executable, "train.py"]
    r = hp(proj, "show", "0")  # the default checkpoint, the table for reading, then the log's tail
    assert r.returncode == 0, r.stderr
    assert r.stderr == "[hposweep] reading hposweep-study.json (the default study name in this folder)\n"
    head = [line.split(None, 1) for line in r.stdout.split("\n\n")[0].splitlines()]
    assert head[:3] == [["trial", "0"], ["state", "complete"], ["loss", f"{rec['value']:g}"]]
    started = dict((k, v) for k, v in (row for row in head if len(row) == 2))["started"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", started), started
    assert "\n--- last lines of hposweep-study.trials/000000/hposweep.log ---\n" in r.stdout
    assert r.stdout.endswith(f"epoch=2 loss={rec['value']:.6f}\n")


def test_validate_prints_table(proj: Path) -> None:
    r = hp(proj, "validate", "space.yaml")  # not a terminal: plain rows, one parameter per line
    assert r.returncode == 0, r.stderr
    rows = [re.split(r"\s{2,}", line) for line in r.stdout.splitlines()[1:4]]
    assert rows == [["name", "type", "range / choices", "scale", "condition"], ["x", "float", "0 .. 1", "linear", "-"],
                    ["n", "fixed", "3", "-", "-"]]
    assert "continuous space (infinitely many configurations)" in r.stdout


def test_parse_metrics(proj: Path) -> None:
    (proj / "log.txt").write_text("epoch 1/3\r 50%|#####  | loss=0.9\repoch=1 loss=0.5\nepoch=2 loss=0.4\n")
    r = hp(proj, "parse-metrics", "log.txt", "--metric", "loss")
    assert r.returncode == 0, r.stderr
    assert "trial value (last): 0.4" in r.stdout


def test_time_budget_ends_sweep_normally(proj: Path) -> None:
    env = env_for(proj, TRAIN_SLEEP="0.4")
    r = hp(proj, *run_args("--trials", "50", "--time-budget", "4s", "--grace", "1", "--no-progress", "--",
                           sys.executable, "train.py"), env=env)
    assert r.returncode == 0, r.stderr
    assert "time budget" in r.stdout + r.stderr
    trials = load(proj)
    assert 1 <= sum(t["state"] == "complete" for t in trials) < 50
    assert all(t["state"] in ("complete", "interrupted") for t in trials)
    state = json.loads((proj / "hposweep-study.json").read_text())
    assert state["meta"]["time_used"] >= 4.0


def test_best_fast_path_matches_full_cli(proj: Path) -> None:
    assert hp(proj, *run_args("--trials", "2", "--", sys.executable, "train.py")).returncode == 0
    fast = hp(proj, "best", "--format=json")
    full = hp(proj, "best", "hposweep-study.json", "-f", "json")
    assert fast.returncode == full.returncode == 0
    assert json.loads(fast.stdout) == json.loads(full.stdout)
    bad = hp(proj, "best", "--frmat", "json")  # a typo falls through to the full CLI's usage error
    assert bad.returncode == 2 and "No such option" in bad.stderr


def test_best_fast_path_never_imports_typer(proj: Path) -> None:
    """`hposweep best` is called in loops by scripts: entry.py answers it without typer (or click)."""
    assert hp(proj, *run_args("--trials", "1", "--", sys.executable, "train.py")).returncode == 0
    probe = ("import sys; sys.argv = ['hposweep', 'best', '--format', 'args']\n"
             "from hposweep import entry\n"
             "try:\n    entry.main()\nexcept SystemExit as exc:\n"
             "    print('typer' in sys.modules, 'click' in sys.modules, exc.code, file=sys.stderr)\n")
    r = subprocess.run([sys.executable, "-c", probe], cwd=proj, env=env_for(proj), capture_output=True, text=True)
    assert r.stderr.strip().splitlines()[-1] == "False False 0", r.stderr
    assert r.stdout.startswith("--x=")


def test_trials_inherit_the_environment_untouched(proj: Path) -> None:
    """hposweep limits BLAS threads for its own samplers; the trial must not inherit that."""
    (proj / "envdump.py").write_text(
        "import json, os\nprint('loss=1')\n"
        "open('env.json', 'w').write(json.dumps({k: os.environ.get(k) for k in "
        "('OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'OMP_NUM_THREADS', 'MY_VAR', 'HPOSWEEP_SLOT')}))\n")
    env = env_for(proj, MY_VAR="kept", OMP_NUM_THREADS="7")
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.pop("MKL_NUM_THREADS", None)
    r = hp(proj, "run", "--space", "space.yaml", "--trials", "1", "--", sys.executable, "envdump.py", env=env)
    assert r.returncode == 0, r.stderr
    seen = json.loads((proj / "env.json").read_text())
    assert seen == {"OPENBLAS_NUM_THREADS": None, "MKL_NUM_THREADS": None, "OMP_NUM_THREADS": "7",
                    "MY_VAR": "kept", "HPOSWEEP_SLOT": "0"}
    assert "sampler auto -> " in r.stderr  # the default sampler says what it chose


def test_second_sigint_kills_trials_that_ignore_sigterm(proj: Path) -> None:
    (proj / "stubborn.py").write_text(textwrap.dedent(
        """
        import os, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(os.environ['TRAIN_SEEN'], 'a').write('started\\n')
        print('loss=1', flush=True)
        time.sleep(600)
        """))
    proc = subprocess.Popen(HPOSWEEP + run_args("--trials", "3", "--grace", "300", "--", sys.executable,
                                                "stubborn.py"),
                            cwd=proj, env=env_for(proj), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _n_started(proj) >= 1)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    watchdog = threading.Timer(60, proc.kill)  # reading stderr must not hang the suite if the message never comes
    watchdog.start()
    seen_lines = []
    for line in proc.stderr:  # the first Ctrl-C was taken in: the runner says it is stopping
        seen_lines.append(line)
        if line.startswith("[hposweep] stopping: no new trials"):
            break
    else:
        raise AssertionError("no 'stopping' message: " + "".join(seen_lines))
    proc.send_signal(signal.SIGINT)  # the grace (300 s) is not waited for: the trial is killed now
    out, err = proc.communicate(timeout=60)
    watchdog.cancel()
    assert proc.returncode == 130, "".join(seen_lines) + err
    trials = load(proj)
    assert [t["state"] for t in trials] == ["interrupted"]


def test_unknown_placeholder_fails_before_anything_is_written(proj: Path) -> None:
    r = hp(proj, *run_args("--trials", "2", "--", sys.executable, "train.py", "--x={xx}"))
    assert r.returncode == 2 and "{xx}" in r.stderr and "{x}" in r.stderr
    assert not (proj / "hposweep-study.json").exists()
