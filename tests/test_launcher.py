"""Real trial processes: output streaming, metrics, stopping process groups, launch errors."""

from __future__ import annotations

import os
import re
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from hposweep.errors import ConfigError, HposweepError
from hposweep.execution.argv import trial_env
from hposweep.execution.executors.local import LaunchError, TrialProcess, parse_duration, poll_many, tail_file
from hposweep.execution.metrics import MetricReport

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def run(tmp_path: Path, command: list[str] | str, *, limit: float = 20.0, **kw) -> tuple[TrialProcess, list]:
    """Start a trial, poll it to completion (``limit`` is only a safety net), return it and its reports."""
    opts = {k: kw.pop(k) for k in ("metric_regex", "default_metric", "metrics_file", "grace") if k in kw}
    proc = TrialProcess(**opts)
    proc.start(command, log_path=tmp_path / "trial.log", env=kw.pop("env", None), **kw)
    reports = proc.wait(limit)
    assert proc.done, "trial did not finish"
    return proc, reports


def pairs(reports: list[MetricReport]) -> list[tuple[str, float, int | None]]:
    return [(r.name, r.value, r.step) for r in reports]


def gone(pid: int) -> bool:
    """True once ``pid`` is dead. An orphan killed while its reaper (PID 1 here) does not reap it
    stays a zombie: dead all the same, so state Z counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def logged_pid(log: Path, key: str = "child") -> int:
    m = re.search(rf"{key}=(\d+)", log.read_text())
    assert m, log.read_text()
    return int(m.group(1))


def test_stdout_and_stderr_metrics_and_log(tmp_path: Path) -> None:
    code = """
        import sys, logging
        logging.basicConfig(level=logging.INFO)
        print("epoch=1 val_loss=0.5")
        logging.info("epoch=2 val_loss=0.25")
        print('{"val_loss": 0.125, "epoch": 3}')
    """
    proc, reports = run(tmp_path, py(code))
    assert proc.returncode == 0 and proc.stop_reason is None
    assert sorted(pairs(reports), key=lambda p: p[2]) == [("val_loss", 0.5, 1), ("val_loss", 0.25, 2),
                                                          ("val_loss", 0.125, 3)]
    log = (tmp_path / "trial.log").read_text()
    assert "epoch=1 val_loss=0.5" in log and "INFO:root:epoch=2 val_loss=0.25" in log
    assert proc.tail(2)[-1] in ('{"val_loss": 0.125, "epoch": 3}', "INFO:root:epoch=2 val_loss=0.25")


def test_tqdm_redraws_ansi_and_lines_split_across_writes(tmp_path: Path) -> None:
    code = r"""
        import sys, time
        for i in range(3):
            sys.stderr.write(f"\rEpoch 0: {i * 50}%|###| loss={1 - i / 10}")
            sys.stderr.flush()
        sys.stderr.write("\n")
        sys.stdout.write("\x1b[32mval_lo"); sys.stdout.flush(); time.sleep(0.05)
        sys.stdout.write("ss\x1b[0m=0.2"); sys.stdout.flush(); time.sleep(0.05)
        sys.stdout.write("5 step=4\n")
    """
    proc, reports = run(tmp_path, py(code))
    got = pairs(reports)
    assert [p for p in got if p[0] == "loss"] == [("loss", 1.0, 0), ("loss", 0.9, 0), ("loss", 0.8, 0)]
    assert [p for p in got if p[0] == "val_loss"] == [("val_loss", 0.25, 4)]
    assert "Epoch 0: 100%|###| loss=0.8" in proc.tail(5)  # the redraws collapse to what a terminal shows


def test_metrics_file_and_user_regex(tmp_path: Path) -> None:
    metrics = tmp_path / "m.jsonl"
    env = trial_env(os.environ, trial_number=0, params={}, metrics_file=metrics)
    code = """
        import json, os
        with open(os.environ["HPOSWEEP_METRICS_FILE"], "a") as fh:
            for step in range(3):
                fh.write(json.dumps({"score": step / 10, "step": step}) + "\\n")
        print("final score is 0.75")
    """
    proc, reports = run(tmp_path, py(code), env=env, metrics_file=metrics,
                        metric_regex=r"score is (?P<value>\S+)", default_metric="score")
    # the file and stdout are read side by side: their relative order is not defined
    assert sorted(pairs(reports), key=str) == sorted(
        [("score", 0.0, 0), ("score", 0.1, 1), ("score", 0.2, 2), ("score", 0.75, None)], key=str
    )


def test_exit_code_is_reported(tmp_path: Path) -> None:
    proc, _ = run(tmp_path, py("import sys; print('loss=1'); sys.exit(3)"))
    assert proc.returncode == 3 and proc.launch_error() is None


def test_timeout_kills_the_whole_group_including_a_grandchild(tmp_path: Path) -> None:
    proc, _ = run(tmp_path, ["bash", "-c", "sleep 1000 & echo child=$!; sleep 1000"], timeout=0.5, grace=0.2)
    child = logged_pid(tmp_path / "trial.log")
    assert proc.timed_out and proc.returncode == -15
    assert gone(child) and gone(proc.pid)


def test_background_grandchild_left_behind_is_killed(tmp_path: Path) -> None:
    proc, _ = run(tmp_path, ["bash", "-c", "sleep 1000 & echo child=$!; echo loss=0.5"], grace=0.2)
    assert proc.returncode == 0 and proc.stop_reason is None
    assert gone(logged_pid(tmp_path / "trial.log"))


def test_sigterm_ignoring_trial_is_killed_after_grace(tmp_path: Path) -> None:
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready=1", flush=True)
        time.sleep(1000)
    """
    proc = TrialProcess()
    proc.start(py(code), log_path=tmp_path / "t.log")
    while not any(r.name == "ready" for r in proc.poll(0.1)):
        assert not proc.done
    proc.terminate(grace=0.2)
    assert proc.done and proc.returncode == -9 and proc.stop_reason == "terminated" and gone(proc.pid)


def test_many_trials_stopped_at_once_with_poll_many(tmp_path: Path) -> None:
    procs = []
    for i in range(4):
        p = TrialProcess(grace=0.2)
        p.start(py(f"import time; print('slot={i}', flush=True); time.sleep(1000)"), log_path=tmp_path / f"{i}.log")
        procs.append(p)
    seen: set[int] = set()
    while len(seen) < 4:
        for reports in poll_many(procs, 0.2).values():
            seen.update(int(r.value) for r in reports if r.name == "slot")
    for p in procs:
        p.begin_terminate(0.2)
    while not all(p.done for p in procs):
        poll_many(procs, 0.1)
    assert all(p.returncode == -15 for p in procs) and all(gone(p.pid) for p in procs)


def test_kill_now(tmp_path: Path) -> None:
    proc = TrialProcess()
    proc.start(["sleep", "1000"], log_path=tmp_path / "t.log")
    proc.kill()
    assert proc.done and proc.returncode == -9 and proc.stop_reason == "killed"


def test_member_escaping_the_group_is_stopped_with_the_trial(tmp_path: Path) -> None:
    code = """
        import subprocess, time
        p = subprocess.Popen(["sleep", "1000"], start_new_session=True)
        print("esc=%d" % p.pid, flush=True)
        time.sleep(0.6)  # a scan sees it while the leader runs
    """
    proc, _ = run(tmp_path, py(code), grace=0.2)
    escaped = logged_pid(tmp_path / "trial.log", "esc")
    try:
        assert proc.returncode == 0
        assert gone(escaped)  # a descendant in its own session is a leftover like any group member
    finally:
        if not gone(escaped):
            os.kill(escaped, 9)


def test_command_not_found(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="command not found: 'no-such-command-xyz'") as err:
        TrialProcess().start(["no-such-command-xyz", "--lr=1"], log_path=tmp_path / "t.log")
    assert isinstance(err.value, HposweepError) and err.value.hint


def test_not_executable_and_bad_format_and_bad_cwd(tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("echo hi\n")
    with pytest.raises(LaunchError, match="permission denied"):
        TrialProcess().start([str(script)], log_path=tmp_path / "t.log")
    binary = tmp_path / "train.bin"
    binary.write_bytes(b"\x7fELF\x00garbage")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(LaunchError, match="exec format"):
        TrialProcess().start([str(binary)], log_path=tmp_path / "t.log")
    with pytest.raises(LaunchError, match="working directory"):
        TrialProcess().start(["true"], log_path=tmp_path / "t.log", cwd=tmp_path / "missing")


def test_shell_command_not_found_is_a_launch_error(tmp_path: Path) -> None:
    proc, _ = run(tmp_path, "no-such-command-xyz --lr=1", shell=True)
    err = proc.launch_error()
    assert proc.returncode == 127 and isinstance(err, LaunchError) and "not found" in str(err)
    proc, reports = run(tmp_path, "echo val_loss=$((1+1))", shell=True)
    assert pairs(reports) == [("val_loss", 2.0, None)] and proc.launch_error() is None


def test_tail_file(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"a\n\x1b[31mb\x1b[0m\n10%\r50%\r100%\n\n")
    assert tail_file(log, 2) == ["b", "100%"]
    assert tail_file(tmp_path / "none.log") == []


@pytest.mark.parametrize(
    "text, seconds",
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("45", 45), ("1.5h", 5400), ("2d", 172800),
     ("500ms", 0.5), ("1h 30m 5s", 5405), (" 10M ", 600), (7, 7.0)],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "30m1h", "1h1h", "-5", "0", "1e999", "m", "5 m s"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)
