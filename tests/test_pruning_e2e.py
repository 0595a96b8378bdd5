"""End-to-end pruning: real `hposweep run/resume` processes, real trial subprocesses, real signals.

The training script below has deterministic learning curves, ``loss(e) = base + 1/(e+1)`` printed
with 6 decimals, where ``base`` is 0 for good trials and 10 for bad ones. Good curves are all equal
(ties keep a trial), so the median rule can be replayed exactly from the params (:func:`replay_median`)
and compared with what the sweep recorded, also across a SIGKILL and a resume.

Trials of kind ``bad``/``stubborn`` can hang after their second epoch (``hang``), so only pruning can
end them; ``stubborn`` ignores SIGTERM (and so does the child it starts), so only the SIGKILL after
``--prune-grace`` can.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hposweep import Study
from hposweep.core.trial import Trial, TrialState

HPOSWEEP = [sys.executable, "-m", "hposweep"]
#: x above this is a bad trial (random sampler: about 30% of the trials)
BAD_ABOVE = 0.7
BAD_BASE = 10.0
N_STARTUP = 3
WARMUP = 1
#: a sweep that hangs is a failure, not a stuck test run
RUN_TIMEOUT = 90

TRAIN = textwrap.dedent(
    f"""
    import os, signal, subprocess, sys, time
    args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:] if '=' in a)
    # role: leader (good; stays running until the others finished), follower (bad; starts once another
    # running trial reported three steps)
    role = args.get('role')
    if role:
        args['kind'], args['sync'] = ('good', 'until-others-finish') if role == 'leader' else \
            ('bad', 'after-other-reports')
    kind = args.get('kind') or ('bad' if float(args['x']) > {BAD_ABOVE} else 'good')
    epochs = int(args.get('epochs', 6))
    pause = float(args.get('pause', 0.04))
    hang = float(args.get('hang', 0))
    if kind == 'stubborn':
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # inherited by the child below
    child_dir = os.environ.get('TRAIN_CHILD_DIR')
    if child_dir and kind != 'good':
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)'])
        tmp = os.path.join(child_dir, 'tmp-' + os.environ['HPOSWEEP_TRIAL'])
        with open(tmp, 'w') as fh:
            fh.write(str(child.pid))
        os.replace(tmp, os.path.join(child_dir, 'child-' + os.environ['HPOSWEEP_TRIAL'] + '.pid'))

    def study_trials():
        from hposweep import Study
        try:
            return Study.load(os.environ['HPOSWEEP_STUDY'], readonly=True).trials
        except Exception:
            return []

    def wait_for(cond, limit=30.0):
        end = time.monotonic() + limit
        while time.monotonic() < end and not cond(study_trials()):
            time.sleep(0.05)

    me = int(os.environ['HPOSWEEP_TRIAL'])
    if args.get('sync') == 'after-other-reports':
        # judged at a rung only once another running trial reported past it
        wait_for(lambda ts: any(t.number != me and t.state.value == 'running' and len(t.intermediate) >= 3
                                for t in ts))
    base = 0.0 if kind == 'good' else {BAD_BASE}
    for e in range(epochs):
        print(f"epoch={{e}} loss={{base + 1.0 / (e + 1):.6f}}", flush=True)
        if args.get('sync') == 'until-others-finish' and e == 2:
            # stay running until every other trial finished
            wait_for(lambda ts: len(ts) > 1 and all(t.state.value != 'running' for t in ts if t.number != me))
        time.sleep(hang if kind != 'good' and hang and e >= 1 else pause)
    """
)


def space_yaml(pruner: str, parameters: str, sampler: str | None = None) -> str:
    sampler_line = f"sampler: {sampler}\n" if sampler else ""
    return f"metric: loss\ndirection: minimize\npruner: {pruner}\n{sampler_line}parameters:\n{parameters}"


MEDIAN = f"{{name: median, n_startup_trials: {N_STARTUP}, n_warmup_steps: {WARMUP}}}"
RANDOM_X = "  x: {type: float, low: 0.0, high: 1.0}\n  epochs: 6\n"
#: grid in written order: trial 0 is good, trial 1 is the kind under test
GRID_UNSHUFFLED = "{name: grid, shuffle: false}"


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "children").mkdir()
    return tmp_path


def env_for(proj: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    env.pop("CI", None)
    env["TRAIN_CHILD_DIR"] = str(proj / "children")
    return env


def hp(proj: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(HPOSWEEP + list(args), cwd=proj, env=env_for(proj), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def run_args(trials: int, *extra: str) -> list[str]:
    return ["run", "--space", "space.yaml", "--trials", str(trials), "--seed", "0", "--prune-grace", "1",
            "--no-progress", *extra, "--", sys.executable, "train.py"]


def load(proj: Path) -> Study:
    return Study.load(proj / "hposweep-study.json", readonly=True)


def is_bad(t: Trial) -> bool:
    if "role" in t.params:
        return t.params["role"] == "follower"
    kind = t.params.get("kind")
    return kind != "good" if kind is not None else t.params["x"] > BAD_ABOVE


def curve(t: Trial) -> dict[int, float]:
    """The full curve the script prints for these params (as the parser reads it back)."""
    base = BAD_BASE if is_bad(t) else 0.0
    return {e: float(f"{base + 1.0 / (e + 1):.6f}") for e in range(int(t.params.get("epochs", 6)))}


def finished_in_order(study: Study) -> list[Trial]:
    done = [t for t in study.trials if t.state.is_finished]
    return sorted(done, key=lambda t: t.finish_seq if t.finish_seq is not None else t.number)


def replay_median(study: Study) -> dict[int, int | None]:
    """For a sequential sweep: trial number -> the step the median rule prunes it at (None: complete).

    Optuna's rule, as documented: from step ``WARMUP`` on, once ``N_STARTUP`` trials completed, prune
    when the trial's best value so far is worse than the median of the completed trials' values at
    that step. Trials are replayed in the order they finished, each judged against the ones before.
    """
    completed: list[dict[int, float]] = []
    expected: dict[int, int | None] = {}
    for t in finished_in_order(study):
        c = curve(t)
        at = None
        if len(completed) >= N_STARTUP:
            for step in sorted(c):
                if step < WARMUP:
                    continue
                bar = statistics.median(o[step] for o in completed)
                if min(c[s] for s in c if s <= step) > bar:
                    at = step
                    break
        expected[t.number] = at
        if at is None:
            completed.append(c)
    return expected


def assert_pruned_records(study: Study) -> None:
    """Pruned trials keep their curve up to the pruning step, and take the value reported there."""
    for t in study.trials_in(TrialState.PRUNED):
        at = t.info["pruned_at_step"]
        assert max(t.intermediate) == at, (t.number, t.intermediate)
        full = curve(t)
        assert t.intermediate == {s: full[s] for s in range(at + 1)}
        assert t.value == full[at]


def child_pids(proj: Path) -> dict[int, int]:
    out = {}
    for f in (proj / "children").glob("child-*.pid"):
        out[int(f.stem.split("-")[1])] = int(f.read_text())
    return out


def process_alive(pid: int) -> bool:
    """Alive and still our sleeper (a zombie waiting for a reaper, or a reused pid, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it just went away, or there is no /proc (then trust kill(pid, 0))
        return not os.path.isdir("/proc/self")
    state = stat[stat.rfind(b")") + 2:].split()[0]
    return state not in (b"Z", b"X") and b"sleep(1000)" in cmdline


def wait_gone(pid: int, limit: float = 5.0) -> bool:
    """The sweep has returned, so the group was already signalled; allow the kernel a moment to reap."""
    end = time.monotonic() + limit
    while process_alive(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(autouse=True)
def no_leftover_children(proj: Path) -> Iterator[None]:
    """Whatever a test asserts, never leave sleepers behind on the machine."""
    yield
    for pid in child_pids(proj).values():
        if process_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------------------------------------


def test_median_prunes_bad_trials_and_records_them(proj: Path) -> None:
    (proj / "space.yaml").write_text(space_yaml(MEDIAN, RANDOM_X))
    r = hp(proj, *run_args(12, "--sampler", "random"))
    assert r.returncode == 0, r.stderr
    study = load(proj)
    pruned = study.trials_in(TrialState.PRUNED)
    assert pruned, "no trial was pruned"
    assert all(is_bad(t) for t in pruned)
    assert all(t.state is TrialState.COMPLETE for t in study.trials if not is_bad(t))
    got = {t.number: t.info.get("pruned_at_step") if t.state is TrialState.PRUNED else None
           for t in finished_in_order(study)}
    assert got == replay_median(study)
    assert_pruned_records(study)
    assert "pruning stopped" in r.stdout


def test_pruned_trial_group_is_killed_with_its_children(proj: Path) -> None:
    (proj / "space.yaml").write_text(space_yaml(
        "{name: median, n_startup_trials: 1, n_warmup_steps: 1}",
        "  kind: {type: categorical, choices: [good, bad]}\n  hang: 600\n", GRID_UNSHUFFLED))
    r = hp(proj, *run_args(2))
    assert r.returncode == 0, r.stderr
    study = load(proj)
    good, bad = study.trials
    assert (good.params["kind"], good.state) == ("good", TrialState.COMPLETE)
    assert (bad.params["kind"], bad.state) == ("bad", TrialState.PRUNED)
    assert bad.info["pruned_at_step"] == 1
    assert bad.info["exit_code"] == -signal.SIGTERM  # it was hanging: the SIGTERM ended it
    assert_pruned_records(study)
    pid = child_pids(proj)[bad.number]
    assert wait_gone(pid), f"the pruned trial's child {pid} survived"


def test_trial_ignoring_sigterm_is_killed_after_the_grace(proj: Path) -> None:
    (proj / "space.yaml").write_text(space_yaml(
        "{name: median, n_startup_trials: 1, n_warmup_steps: 1}",
        "  kind: {type: categorical, choices: [good, stubborn]}\n  hang: 600\n", GRID_UNSHUFFLED))
    r = hp(proj, *run_args(2))
    assert r.returncode == 0, r.stderr
    study = load(proj)
    stubborn = study.trials[1]
    assert (stubborn.params["kind"], stubborn.state) == ("stubborn", TrialState.PRUNED)
    assert stubborn.info["exit_code"] == -signal.SIGKILL
    assert stubborn.info["pruned_at_step"] == 1
    pid = child_pids(proj)[stubborn.number]
    assert wait_gone(pid), f"the stubborn trial's child {pid} survived"


def test_resume_after_sigkill_keeps_pruning(proj: Path) -> None:
    (proj / "space.yaml").write_text(space_yaml(MEDIAN, RANDOM_X))
    target = 16
    env = env_for(proj)
    env.pop("TRAIN_CHILD_DIR")  # trials orphaned by the kill must not leave sleepers
    with open(proj / "first.log", "w") as log:
        proc = subprocess.Popen(HPOSWEEP + run_args(target, "--sampler", "random"), cwd=proj, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            killed_at = wait_mid_sweep(proj, proc)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(RUN_TIMEOUT)
    assert killed_at is not None, "the sweep ended before it could be killed: " + (proj / "first.log").read_text()
    before = load(proj)
    n_before = before.n_finished
    assert n_before < target
    r = subprocess.run(HPOSWEEP + ["resume", "hposweep-study.json", "--no-progress"], cwd=proj, env=env,
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert r.returncode == 0, r.stderr
    study = load(proj)
    states = [t.state for t in study.trials]
    assert study.n_finished == target, states
    # the trial running at the kill (if it had not just ended) is interrupted, and its params re-run first
    assert states.count(TrialState.INTERRUPTED) <= 1
    for lost in study.trials_in(TrialState.INTERRUPTED):
        assert study.trials[len(before.trials)].params == lost.params
    after = [t for t in study.trials_in(TrialState.PRUNED) if t.number >= len(before.trials)]
    assert after, "nothing was pruned after the resume"
    got = {t.number: t.info.get("pruned_at_step") if t.state is TrialState.PRUNED else None
           for t in finished_in_order(study)}
    assert got == replay_median(study)
    assert_pruned_records(study)


def wait_mid_sweep(proj: Path, proc: subprocess.Popen) -> int | None:
    """Wait until a trial was pruned, a few finished, and one is running; return the finished count."""
    path = proj / "hposweep-study.json"
    end = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < end and proc.poll() is None:
        time.sleep(0.05)
        if not path.exists():
            continue
        try:
            study = Study.load(path, readonly=True)
        except Exception:  # caught between two writes: look again
            continue
        running = study.trials_in(TrialState.RUNNING)
        if study.trials_in(TrialState.PRUNED) and study.n_finished >= 6 and running and running[0].intermediate:
            return study.n_finished
    return None


def test_parallel_jobs_prune_bad_trials(proj: Path) -> None:
    (proj / "space.yaml").write_text(space_yaml(MEDIAN, RANDOM_X))
    target = 12
    r = hp(proj, *run_args(target, "--sampler", "random", "--jobs", "2"))
    assert r.returncode == 0, r.stderr
    study = load(proj)
    assert study.n_finished == target
    pruned = study.trials_in(TrialState.PRUNED)
    assert pruned and all(is_bad(t) for t in pruned)
    assert all(t.state is TrialState.COMPLETE for t in study.trials if not is_bad(t))
    assert_pruned_records(study)
    # A bad trial that started when most completed trials were good must have been pruned: at most one
    # other trial can complete while it runs, and one more bad curve cannot lift the median to its level.
    for t in study.trials:
        if not is_bad(t):
            continue
        before = [o for o in study.trials_in(TrialState.COMPLETE)
                  if o.finished_at is not None and t.started_at is not None and o.finished_at < t.started_at]
        n_good = sum(not is_bad(o) for o in before)
        if len(before) >= N_STARTUP and n_good > len(before) - n_good:
            assert t.state is TrialState.PRUNED, (t.number, t.state)


def test_asha_judges_against_running_trials(proj: Path) -> None:
    """With no trial finished yet, a bad trial is pruned at a rung where a running good one is ahead."""
    (proj / "space.yaml").write_text(space_yaml(
        "{name: asha, min_resource: 1, reduction_factor: 2}",
        "  role: {type: categorical, choices: [leader, follower]}\n  epochs: 5\n", GRID_UNSHUFFLED))
    r = hp(proj, *run_args(2, "--jobs", "2"))
    assert r.returncode == 0, r.stderr
    study = load(proj)
    by_role = {t.params["role"]: t for t in study.trials}
    assert set(by_role) == {"leader", "follower"}, [t.params for t in study.trials]
    good, bad = by_role["leader"], by_role["follower"]
    assert good.state is TrialState.COMPLETE
    assert bad.state is TrialState.PRUNED
    assert bad.info["pruned_at_step"] == 1  # ASHA's first rung
    assert good.finish_seq is not None and bad.finish_seq is not None and bad.finish_seq < good.finish_seq


def test_pruning_with_several_objectives_is_a_usage_error(proj: Path) -> None:
    (proj / "space.yaml").write_text("parameters:\n" + RANDOM_X)
    r = hp(proj, "run", "--space", "space.yaml", "--trials", "2", "--metric", "a", "--metric", "b",
           "--pruner", "median", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "pruning is not supported with several objectives" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (proj / "hposweep-study.json").exists()


def test_two_workers_prune_consistently(proj: Path) -> None:
    """Two `hposweep worker` processes share a study with a median pruner: every decision either worker
    took follows the same rule (only bad trials pruned, good ones complete), the count is exact."""
    (proj / "space.yaml").write_text(space_yaml(MEDIAN, RANDOM_X))
    create = run_args(14, "--sampler", "random")
    create[0] = "create"
    create = [a for a in create if a != "--no-progress"]
    r = hp(proj, *create)
    assert r.returncode == 0, r.stderr
    workers = [subprocess.Popen(HPOSWEEP + ["worker", "hposweep-study.json", "--quiet"], cwd=proj,
                                env=env_for(proj), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=RUN_TIMEOUT)
        assert w.returncode == 0, err
    study = load(proj)
    assert study.n_finished == 14
    assert [t.number for t in study.trials] == list(range(len(study.trials)))
    # Which worker ran how many depends on the scheduler (under load one may take all 14): what must hold
    # is that every trial was run by one of the two, each trial once.
    workers_seen = {t.info.get("worker") for t in study.trials}
    assert workers_seen <= {f"{os.uname().nodename}:{w.pid}" for w in workers}, workers_seen
    pruned = study.trials_in(TrialState.PRUNED)
    assert pruned and all(is_bad(t) for t in pruned)
    assert all(t.state is TrialState.COMPLETE for t in study.trials if not is_bad(t))
    assert_pruned_records(study)
