"""The Ray executor on a real two-node cluster on this machine (``ray start --head`` + ``ray start --address``).

Each node is its own raylet with its own resources (``head`` / ``node2``), so killing one raylet loses a
node exactly as a crashed machine would, while the other keeps running. The cluster tests are marked
slow and skip (with ``ray start``'s own words) only where a Ray cluster cannot start here. The cap on
re-runs of trials lost with a node is tested without Ray, with a trial handle that always loses its node.

Every process the cluster starts is found by the cluster's own temp folder (in its command line) and
its descendants, and killed in the fixture's teardown: never ``ray stop``, which would also stop other
people's Ray instances on this machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NO_RAY = None if importlib.util.find_spec("ray") else 'Ray is not installed (pip install "hposweep[ray]")'
PY = sys.executable
LIMIT = 60.0  # safety net of every wait; never the assertion itself


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ppids() -> dict[int, int]:
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        out[int(name)] = int(stat[stat.rfind(b")") + 2:].split()[1])
    return out


def gone(pid: int) -> bool:
    """True when the process is gone or a zombie (nobody may reap an orphan in a container)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X")


def wait_for(cond: Any, what: str, limit: float = LIMIT) -> None:
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.1)


class Cluster:
    """A head and worker nodes on 127.0.0.1, all under one short temp folder (unix socket paths are short)."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="hpc", dir="/tmp")
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = dict(os.environ, RAY_DISABLE_IMPORT_WARNING="1", RAY_USAGE_STATS_ENABLED="0",
                        RAY_AUTH_MODE="disabled",  # ~/.ray/auth_token would otherwise turn token auth on
                        # notice a dead raylet in ~2 s instead of ~30 s
                        RAY_health_check_initial_delay_ms="1000", RAY_health_check_period_ms="500",
                        RAY_health_check_timeout_ms="500", RAY_health_check_failure_threshold="3")
        self.env.pop("RAY_ADDRESS", None)

    def _start(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        common = ["--num-cpus", "1", "--object-store-memory", "100000000", "--disable-usage-stats",
                  "--node-ip-address", "127.0.0.1", "--dashboard-agent-listen-port", str(_free_port()),
                  "--metrics-export-port", str(_free_port()), "--runtime-env-agent-port", str(_free_port())]
        return subprocess.run([PY, "-m", "ray.scripts.scripts", "start", *args, *common], env=self.env,
                              capture_output=True, text=True, timeout=60)

    def start_head(self) -> str | None:
        """Start the head (1 CPU, resource ``head``); None, or why it cannot start here."""
        r = self._start(["--head", "--port", str(self.port), "--resources", '{"head": 1}', "--temp-dir", self.root,
                         "--include-dashboard=false", "--dashboard-port", str(_free_port())])
        if r.returncode != 0:
            return f"`ray start --head` failed here: {(r.stderr or r.stdout).strip()[-500:]}"
        return None

    def add_node(self, name: str) -> None:
        """A worker node with 1 CPU and the resource ``name``."""
        r = self._start(["--address", self.address, "--resources", json.dumps({name: 1})])
        assert r.returncode == 0, r.stderr
        wait_for(lambda: self.raylet(name) is not None, f"the raylet of {name}")

    def raylet(self, name: str) -> int | None:
        """The pid of the raylet that holds resource ``name`` (its static resource list says so)."""
        for pid in _ppids():
            cmd = _cmdline(pid)
            if "raylet/raylet" in cmd and self.root in cmd and f"--static_resource_list={name},1" in cmd:
                return pid
        return None

    def node_of(self, pid: int) -> str | None:
        """Which node a process runs under: the custom resource of the raylet among its ancestors."""
        ppids = _ppids()
        while pid > 1:
            cmd = _cmdline(pid)
            if "raylet/raylet" in cmd:
                return cmd.split("--static_resource_list=")[1].split(",")[0]
            pid = ppids.get(pid, 1)
        return None

    def kill_node(self, name: str) -> int:
        pid = self.raylet(name)
        assert pid is not None, f"no raylet for {name}"
        os.kill(pid, signal.SIGKILL)
        return pid

    def processes(self) -> set[int]:
        """Every process of this cluster: command line under our temp folder, and their descendants."""
        ppids = _ppids()
        mine = {pid for pid in ppids if self.root in _cmdline(pid) and pid != os.getpid()}
        grew = True
        while grew:
            kids = {pid for pid, parent in ppids.items() if parent in mine} - mine
            grew = bool(kids)
            mine |= kids
        return mine

    def stop(self) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if NO_RAY is not None:
        pytest.skip(NO_RAY)
    c = Cluster()
    try:
        why = c.start_head()
        if why is not None:
            pytest.skip(why)
        c.add_node("node2")
        yield c
    finally:
        c.stop()


@pytest.fixture
def two_nodes(cluster: Cluster) -> Cluster:
    """The cluster with its worker node up (a test before may have killed it)."""
    if cluster.raylet("node2") is None:
        cluster.add_node("node2")
    return cluster


TRAIN = """
import json, os, sys, time
pids = sys.argv[1]
x = float(sys.argv[2].split('=')[1])
# which node: the custom resource of the raylet among this process's ancestors
node, pid = None, os.getpid()
while pid > 1 and node is None:
    cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()
    if 'raylet/raylet' in cmd:
        node = cmd.split('--static_resource_list=')[1].split(',')[0]
    stat = open(f'/proc/{pid}/stat', 'rb').read()
    pid = int(stat[stat.rfind(b')') + 2:].split()[1])
fast = os.path.exists(os.path.join(pids, 'fast'))  # a trial nothing is done to while it runs
steps, pause = (3, 0.1) if fast else (int(os.environ.get('STEPS', '8')), 0.5)
trial = os.environ['HPOSWEEP_TRIAL']
with open(os.path.join(pids, f'{trial}.json'), 'w') as fh:
    json.dump({'pid': os.getpid(), 'pgid': os.getpgid(0), 'node': node, 'trial': int(trial), 'steps': steps}, fh)
for e in range(steps):
    time.sleep(pause)
    print(f'step={e} loss={x * x + 1 / (e + 1)}', flush=True)
"""


def _sweep(tmp_path: Path, cluster: Cluster, *args: str) -> list[str]:
    (tmp_path / "space.yaml").write_text("metric: loss\nparameters:\n  x: {type: float, low: 0, high: 1}\n")
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    (tmp_path / "pids").mkdir(exist_ok=True)
    return [PY, "-m", "hposweep", *args, "--executor", "ray", "--ray-address", cluster.address]


def _started(tmp_path: Path) -> dict[int, dict[str, Any]]:
    out = {}
    for f in (tmp_path / "pids").glob("*.json"):
        try:
            rec = json.loads(f.read_text())
        except ValueError:  # being written
            continue
        out[rec["trial"]] = rec
    return out


def _trials(tmp_path: Path) -> list[dict[str, Any]]:
    r = subprocess.run([PY, "-m", "hposweep", "trials", "--format", "json"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout))


def _checkpoint_trials(tmp_path: Path) -> list[Any]:
    from hposweep.study.api import Study

    study = Study.load(str(tmp_path / "hposweep-study.json"), recover=False, readonly=True)
    return list(study.trials)


def _recorded_running(tmp_path: Path) -> set[int]:
    """The numbers of the trials the checkpoint holds as running (none while it cannot be read yet)."""
    try:
        return {t.number for t in _checkpoint_trials(tmp_path) if t.state.value == "running"}
    except Exception:  # noqa: BLE001 - not written yet: nothing recorded
        return set()


def _run_args(tmp_path: Path, cluster: Cluster, trials: int) -> list[str]:
    argv = _sweep(tmp_path, cluster, "run", "--space", "space.yaml", "--trials", str(trials), "--jobs", "2",
                  "--sampler", "random", "--seed", "0", "--json")
    return [*argv, "--", PY, str(tmp_path / "train.py"), str(tmp_path / "pids")]


@pytest.mark.slow
def test_resume_after_the_driver_is_killed_leaves_no_trial_running_on_the_nodes(
    tmp_path: Path, two_nodes: Cluster
) -> None:
    """SIGKILL hposweep while both nodes run a trial: the trials stop, and resume finishes the sweep.

    First of the two cluster tests: it leaves both nodes up, so the next one need not start node2 again.

    Ray ends a dead driver's actors (they belong to its job) and each actor's watchdog then stops its
    trial's process group, so nothing keeps running unobserved, on either node.
    """
    cluster = two_nodes
    proc = subprocess.Popen(_run_args(tmp_path, cluster, 3), cwd=tmp_path, env=dict(cluster.env, STEPS="120"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: {r["node"] for r in _started(tmp_path).values()} == {"head", "node2"}, "a trial on each node")
        wait_for(lambda: _recorded_running(tmp_path) >= set(_started(tmp_path)), "both trials in the checkpoint")
    finally:
        proc.kill()
        proc.wait()
    orphans = list(_started(tmp_path).values())
    wait_for(lambda: all(gone(r["pid"]) for r in orphans), "the killed driver's trials to stop", limit=30)

    (tmp_path / "pids" / "fast").touch()
    r = subprocess.run([PY, "-m", "hposweep", "resume", "hposweep-study.json", "--json"], cwd=tmp_path, env=cluster.env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["states"] == {"complete": 3, "interrupted": 2}
    assert all(gone(rec["pid"]) for rec in orphans)
    trials = {t.number: t for t in _checkpoint_trials(tmp_path)}
    for rec in orphans:
        assert trials[rec["trial"]].state.value == "interrupted"
        rerun = next(t for t in trials.values() if t.info.get("rerun_of") == rec["trial"])
        assert rerun.state.value == "complete"


@pytest.mark.slow
def test_losing_a_node_mid_trial_reruns_it_on_the_other_node(tmp_path: Path, two_nodes: Cluster) -> None:
    """Kill node2's raylet while a trial runs there: interrupted, its processes gone, re-run on the head."""
    cluster = two_nodes
    proc = subprocess.Popen(_run_args(tmp_path, cluster, 3), cwd=tmp_path, env=dict(cluster.env, STEPS="8"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # one trial per node (1 CPU each); wait until the one on node2 is a second into its work
        wait_for(lambda: any(r["node"] == "node2" for r in _started(tmp_path).values()), "a trial on node2")
        victim = next(r for r in _started(tmp_path).values() if r["node"] == "node2")
        time.sleep(1.0)
        cluster.kill_node("node2")
        wait_for(lambda: gone(victim["pid"]), f"trial {victim['trial']}'s process (pid {victim['pid']}) to stop",
                 limit=20)
        (tmp_path / "pids" / "fast").touch()  # trials that start from now on need not be long
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert f"trial {victim['trial']} lost its Ray node: re-running it" in err
    assert json.loads(out)["states"] == {"complete": 3, "interrupted": 1}

    trials = {t.number: t for t in _checkpoint_trials(tmp_path)}
    lost = trials[victim["trial"]]
    assert lost.state.value == "interrupted" and lost.info["reason"] == "its Ray node was lost"
    rerun = next(t for t in trials.values() if t.info.get("rerun_of") == lost.number)
    assert rerun.state.value == "complete" and rerun.params == lost.params
    assert _started(tmp_path)[rerun.number]["node"] == "head"  # the node that was left
    # nothing lost: every trial that started is recorded, each finished one with all its steps
    started = _started(tmp_path)
    assert set(started) == set(trials)
    assert started[lost.number]["steps"] == 8  # the lost trial was killed mid-run, not a short one
    assert all(t.last_step == started[t.number]["steps"] - 1 for t in trials.values() if t.state.value == "complete")


# --- everywhere: re-runs of trials lost with their node are capped (no Ray needed) ---------------
def test_a_trial_lost_with_its_node_too_often_fails_with_the_reason(tmp_path: Path, monkeypatch: Any) -> None:
    """Params whose trial loses its node every time are re-run ``max_reruns`` times, then failed; the sweep goes on."""
    from hposweep.core.space import SearchSpace
    from hposweep.execution import runner as runner_module
    from hposweep.execution.executors.local import TrialProcess
    from hposweep.execution.options import RunOptions
    from hposweep.execution.progress import Progress
    from hposweep.study.api import Study

    starts = []

    class LosesItsNode(TrialProcess):
        """A local trial that, the first three times, ends as a Ray trial whose node died."""

        def start(self, command: Any, **kw: Any) -> None:
            starts.append(1)
            self.lost_node = len(starts) <= 3
            super().start(command, **kw)

    monkeypatch.setattr(runner_module, "make_trial_process", lambda executor, **kw: LosesItsNode(
        **{k: v for k, v in kw.items() if k not in ("cpus_per_trial", "gpus_per_trial")}))
    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), direction="minimize",
                  sampler="random", seed=0)
    opts = RunOptions(command=[PY, "-c", "print('loss=0.5')"], metrics=["loss"], logs_dir=str(tmp_path),
                      max_reruns=2)
    result = runner_module.Runner(study, opts, Progress(), target=2).run()  # failed trials count
    assert result.exit_code == 0
    states = [t.state.value for t in study.trials]
    assert states == ["interrupted", "interrupted", "failed", "complete"]
    assert study.trials[0].params == study.trials[1].params == study.trials[2].params
    assert study.trials[2].info["reason"] == ("its Ray node was lost 3 times; a trial is re-run at most 2 times "
                                              "after losing its node (--max-reruns)")
    assert not study.queue


def test_max_reruns_defaults_to_three_and_is_kept_for_resume() -> None:
    from hposweep.execution.options import RunOptions

    opts = RunOptions(command=["true"], metrics=["loss"])
    assert opts.max_reruns == 3 and opts.to_settings()["max_reruns"] == 3
