"""The live view and the plain log of a running sweep (hposweep.cli.display).

The rich view is rendered at a fixed width with ``Console(width=..., record=True)``; one test also drives
a real terminal of 80 columns through tmux and reads the screen back with ``capture-pane``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from hposweep.cli.display import PlainDisplay, RichDisplay, make_display
from hposweep.core.space import SearchSpace
from hposweep.study.api import Study

LONG_SPACE = {
    "learning_rate_for_the_optimizer": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "architecture": {"type": "categorical", "choices": ["resnet18", "resnet50", "vit_small_patch16"]},
    "batch_size": {"type": "int", "low": 16, "high": 256, "log": True},
}


def _study(directions: list[str] | None = None, space: dict[str, Any] | None = None) -> Study:
    return Study(SearchSpace.from_dict(space or LONG_SPACE), directions=directions or ["minimize"],
                 sampler="random", seed=0)


def _rich(study: Study, metric: str, target: int | None, width: int) -> RichDisplay:
    from rich.console import Console

    display = RichDisplay(study, metric=metric, target=target)
    display.console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    return display


def _screen(display: RichDisplay) -> list[str]:
    display.console.print(display._render())
    return display.console.export_text().splitlines()


def _finish(study: Study, display: Any, values: list[float] | None, state: str = "complete") -> Any:
    trial = study.ask()
    display.trial_started(trial, 0)
    if state == "complete":
        study.tell(trial, values)
    elif state == "pruned":
        study.report(trial, 1, 0.9)
        study.tell(trial, [0.9], state="pruned", info={"pruned_at_step": 1})
    else:
        study.tell(trial, state="failed", info={"reason": "command failed (exit code 3)"})
    display.trial_finished(trial)
    return trial


@pytest.mark.parametrize("width", [80, 120])
def test_live_view_keeps_number_state_value_and_duration_and_elides_params(width: int) -> None:
    study = _study()
    display = _rich(study, "val_loss", 30, width)
    display.start("30 trials (0 done), sampler random, no pruning, checkpoint hposweep-study.json")
    try:
        done = _finish(study, display, [0.0208])
        running = study.ask()
        display.trial_started(running, 1)
        display.trial_reported(running, 12, 0.6393)
        lines = _screen(display)
    finally:
        display.stop()
    assert all(len(line) <= width for line in lines), lines
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#"))
    assert lines[header].split()[:4] == ["#", "state", "val_loss", "duration"]
    row_running = lines[header + 1]
    assert re.match(r"^\s*1  running @12\s+0\.6393\s+\d+\.\ds  learning_rate_for_the_optimizer=", row_running)
    row_done = lines[header + 2]
    assert re.match(rf"^\s*{done.number}  complete\s+0\.0208\s+-?[\d.s-]*\s+learning_rate", row_done), row_done
    if width == 80:  # the params give way, with an ellipsis, and only they do
        assert row_running.endswith("…") and len(row_running) == 80


def test_header_counts_failed_and_pruned_and_updates() -> None:
    study = _study()
    display = _rich(study, "val_loss", 30, 80)
    display.start("30 trials (0 done), sampler random, no pruning, checkpoint s.json")
    try:
        first = _screen(display)
        assert any("0/30 done (0 failed, 0 pruned)" in line for line in first)
        for k in range(20):
            _finish(study, display, [1.0 / (k + 1)])
        _finish(study, display, None, "failed")
        _finish(study, display, None, "failed")
        _finish(study, display, None, "pruned")
        lines = _screen(display)
    finally:
        display.stop()
    progress = [line for line in lines if "done" in line][-1]
    assert "23/30 done (2 failed, 1 pruned)" in progress and "0 running" in progress
    assert len(progress) <= 80
    # the header printed once no longer claims a count that the live line contradicts
    assert first[0] == "hposweep 30 trials, sampler random, no pruning, checkpoint s.json"


def test_eta_after_resume_counts_only_this_session() -> None:
    study = _study()
    for _ in range(20):  # an earlier session finished these
        t = study.ask()
        study.tell(t, [0.5])
    display = _rich(study, "val_loss", 30, 120)
    display.start("30 trials (20 done), sampler random, no pruning, checkpoint s.json")
    try:
        _finish(study, display, [0.4])
        _finish(study, display, [0.3])
        display.started = time.monotonic() - 10.0  # this session ran 10 s for its 2 trials
        progress = [line for line in _screen(display) if "done" in line][-1]
    finally:
        display.stop()
    # 8 trials left at 5 s each: 40 s, not 10 s / 22 trials * 8
    assert "22/30 done" in progress and re.search(r"ETA (39|40)\.\ds", progress), progress
    assert display.eta(study.n_finished) == pytest.approx(40.0, abs=0.5)


def test_multi_objective_view_names_each_metric_and_keeps_the_front_off_the_refresh_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import hposweep.analysis.pareto as pareto

    calls = {"n": 0}
    real = pareto.pareto_front_trials

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(pareto, "pareto_front_trials", counting)
    study = _study(["maximize", "minimize"], {"x": {"type": "float", "low": 0, "high": 1}})
    display = _rich(study, "val_acc,latency_ms", 10, 120)
    display.start("10 trials (0 done), sampler random, no pruning, checkpoint s.json")
    try:
        _finish(study, display, [0.6367, 38.63])
        _finish(study, display, [0.7, 45.0])
        before = calls["n"]
        for _ in range(40):  # ten seconds of refreshes
            display._render()
        assert calls["n"] == before  # rendering reads the front computed when the trial finished
        lines = _screen(display)
    finally:
        display.stop()
    assert "pareto front: 2 trials: #0 val_acc=0.6367 latency_ms=38.63 · #1 val_acc=0.7 latency_ms=45" in "\n".join(
        lines)
    header = next(line for line in lines if line.lstrip().startswith("#"))
    assert header.split()[:5] == ["#", "state", "val_acc", "latency_ms", "duration"]
    assert any(re.match(r"^\s*0  complete\s+0\.6367\s+38\.63\s", line) for line in lines), lines


@pytest.mark.parametrize("directions", [["minimize"], ["maximize"], ["minimize", "maximize", "minimize"]])
def test_front_kept_per_finished_trial_is_the_study_front(directions: list[str]) -> None:
    import random

    study = _study(directions, {"x": {"type": "float", "low": 0, "high": 1}})
    display = PlainDisplay(study, metric=",".join(f"m{i}" for i in range(len(directions))), target=None,
                           stream=io.StringIO(), log_every=0)
    display.start("")
    rng = random.Random(1)
    for k in range(300):
        state = rng.choice(["complete"] * 8 + ["failed", "pruned"]) if len(directions) == 1 else "complete"
        values = [float(rng.randint(0, 20)) for _ in directions]  # many ties
        _finish(study, display, values if state == "complete" else None, state)
        summary = display._summary
        assert [t.number for t in summary.front] == sorted(t.number for t in study.best_trials), k
    display.stop()
    if len(directions) == 1:
        assert summary.best is study.best_trial


def test_plain_lines_name_each_objective_and_count_failed_and_pruned() -> None:
    study = _study(["maximize", "minimize"], {"x": {"type": "float", "low": 0, "high": 1}})
    stream = io.StringIO()
    display = PlainDisplay(study, metric="val_acc,latency_ms", target=3, stream=stream)
    display.start("3 trials (0 done)")
    _finish(study, display, [0.6367, 38.63])
    _finish(study, display, None, "failed")
    display.stop()
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\[hposweep\] trial 0 complete val_acc=0\.6367 latency_ms=38\.63 in \S+ "
                        r"\[1/3 finished; pareto front: 1 trial\]", lines[2]), lines
    assert lines[4].endswith("[2/3 finished, 1 failed; pareto front: 1 trial]"), lines


def test_singular_and_plural() -> None:
    from hposweep.cli.display import fmt_metrics, plural

    assert plural(1, "trial") == "1 trial" and plural(0, "trial") == "0 trials" and plural(2, "trial") == "2 trials"
    assert fmt_metrics(["val_acc", "latency_ms"], [0.6367, 38.63]) == "val_acc=0.6367 latency_ms=38.63"
    assert fmt_metrics(["loss"], [0.5]) == "loss=0.5"
    assert fmt_metrics(["loss"], None) == "loss=-"


def test_heartbeat_names_each_running_trial_with_its_latest_value_and_step() -> None:
    study = _study()
    stream = io.StringIO()
    display = PlainDisplay(study, metric="val_loss", target=5, stream=stream, log_every=60.0)
    a, b = study.ask(), study.ask()
    display.trial_started(a, 0)
    display.trial_started(b, 1)
    display.trial_reported(a, 7, 0.4321)
    now = time.monotonic()
    assert display.heartbeat_lines(now + 30) == []  # not yet due
    lines = display.heartbeat_lines(now + 61)
    assert len(lines) == 2
    assert re.fullmatch(r"trial 0 running for \S+: val_loss=0\.4321 at step 7", lines[0]), lines
    assert re.fullmatch(r"trial 1 running for \S+: no val_loss reported yet", lines[1]), lines
    assert display.heartbeat_lines(now + 62) == []  # each trial once per period


def test_heartbeat_timer_thread_writes_and_stops() -> None:
    study = _study()
    stream = io.StringIO()
    display = make_display(study, metric="val_loss", target=5, mode="plain", log_every=0.2)
    assert isinstance(display, PlainDisplay)
    display.stream = stream
    display.start("5 trials (0 done)")
    trial = study.ask()
    display.trial_started(trial, None)
    display.trial_reported(trial, 3, 1.5)
    deadline = time.monotonic() + 10
    while "running for" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    display.stop()
    assert re.search(r"^\[hposweep\] trial 0 running for \S+: val_loss=1\.5 at step 3$", stream.getvalue(), re.M)
    assert not any(t.name == "hposweep-log-every" for t in threading.enumerate())


TRAIN = textwrap.dedent(
    """
    import os, sys, time
    args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:])
    n = int(os.environ['HPOSWEEP_TRIAL'])
    for step in range(1, 4):
        time.sleep(float(os.environ.get('TRAIN_SLEEP', '0.4')))
        print(f"step={step} val_loss={float(args['x']) / step:.4f}", flush=True)
    if n == 2:
        sys.exit(3)
    """
)

SPACE = textwrap.dedent(
    """
    metric: val_loss
    parameters:
      x: {type: float, low: 0.1, high: 1.0}
      learning_rate_for_the_optimizer: {type: float, low: 0.0001, high: 0.1, log: true}
      architecture: {type: categorical, choices: [resnet18, resnet50, vit_small_patch16]}
    """
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_ci_log_has_a_heartbeat_during_a_long_trial(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "1",
                        "--log-every", "0.3", "--", sys.executable, "train.py"], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\[hposweep\] trial 0 running for \d+\.\ds: (val_loss=\S+ at step \d|no val_loss reported yet)$",
                     r.stderr, re.M), r.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to drive")
def test_real_terminal_of_80_columns(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    socket = f"hposweep-test-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", socket]
    env = _env()
    env["TERM"] = "xterm-256color"
    inner = (f"{sys.executable} -m hposweep run --space space.yaml --trials 4 -j 2 --seed 1 "
             f"-- {sys.executable} train.py; echo HPOSWEEP-EXIT=$?; sleep 600")
    subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "30", "-c", str(tmp_path),
                           inner], env=env, check=True, timeout=30)
    try:
        screen = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True, timeout=30).stdout
            if "HPOSWEEP-EXIT=" in screen:
                break
            time.sleep(0.5)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=30)
    assert "HPOSWEEP-EXIT=0" in screen, screen
    lines = screen.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert any("4/4 done (1 failed, 0 pruned)" in line for line in lines), screen
    rows = {int(m.group(1)): m.group(2) for line in lines
            if (m := re.match(r"^\s*(\d)  (complete|failed)\s+(\S+)\s+\d+\.\ds  x=", line))}
    assert rows == {0: "complete", 1: "complete", 2: "failed", 3: "complete"}, screen


MO_TRAIN = ("import sys\nx = float(sys.argv[1].split('=')[1])\n"
            "print(f'val_acc={0.5 + 0.4 * x:.4f} latency_ms={5 + 40 * x * x:.2f}')\n")
MO_SPACE = ("metrics:\n  - {name: val_acc, direction: maximize}\n  - {name: latency_ms, direction: minimize}\n"
            "parameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")


def test_multi_objective_summary_names_each_metric(tmp_path: Path) -> None:
    (tmp_path / "mo.py").write_text(MO_TRAIN)
    (tmp_path / "mo.yaml").write_text(MO_SPACE)
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "mo.yaml", "--trials", "2", "--seed", "0",
                        "--sampler", "random", "--", sys.executable, "mo.py"], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\[hposweep\] trial 0 complete val_acc=\S+ latency_ms=\S+ in ", r.stderr, re.M), r.stderr
    front = [line for line in r.stdout.splitlines() if line.startswith("  pareto trial ")]
    assert front and all(re.fullmatch(r"  pareto trial \d: val_acc=\S+ latency_ms=\S+  x=\S+", line)
                         for line in front), r.stdout


def test_live_best_is_the_best_feasible_trial_and_retried_failures_do_not_count() -> None:
    # the live line named an infeasible trial "best" (the study never would), and counted failed trials
    # that `resume --retry-failed` had already queued again
    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), sampler="random", seed=0,
                  constraints=["mem <= 1"])
    stream = io.StringIO()
    display = PlainDisplay(study, metric="loss", target=None, stream=stream, log_every=0)
    display.start("")
    for value, mem in ((0.5, 0.5), (0.1, 9.0)):  # the lower loss breaks the constraint
        trial = study.ask()
        display.trial_started(trial, 0)
        study.tell(trial, value, user_attrs={"mem": mem})
        display.trial_finished(trial)
    assert display._summary.best is not None and display._summary.best.number == 0
    _finish(study, display, None, "failed")
    study.retry_failed()
    display._session_start()
    assert "0 failed" in display._counts_text(display._summary)
    display.stop()
