"""The Ray executor: trials run as Ray actors on a local Ray instance (``ray.init(num_cpus=2)``).

The Ray tests are skipped, with the import error as the reason, where Ray is not installed; the
factory and error tests at the top run everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hposweep.errors import ConfigError
from hposweep.execution.executors import check_ray_resources, make_trial_process, ray_init, ray_shutdown
from hposweep.execution.executors.local import LaunchError, TrialProcess, poll_many
from hposweep.execution.executors.ray import RayTrialProcess, TrialActor, merge_env, wait_any
from hposweep.execution.executors.ray.actor import MAX_REPLY_BYTES

#: found without importing it: `import ray` alone costs seconds, which the fast tests need not pay
NO_RAY = None if importlib.util.find_spec("ray") else 'Ray is not installed (pip install "hposweep[ray]")'


def needs_ray(test):
    """Skipped without Ray; marked slow (a local Ray instance takes 15-25 s to start on 2 cores)."""
    return pytest.mark.slow(pytest.mark.skipif(NO_RAY is not None, reason=NO_RAY or "")(test))


PY = sys.executable
#: safety net for loops that wait for something the test then asserts; never the assertion itself
LIMIT = 30.0


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def pairs(reports) -> list[tuple[str, float, int | None]]:
    return [(r.name, r.value, r.step) for r in reports]


def gone(pid: int) -> bool:
    """True when the process is gone or a zombie (its parent died; nobody may reap it in a container)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X")


def wait_for(cond, what: str) -> None:
    end = time.monotonic() + LIMIT
    while not cond():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.05)


def poll_until(proc, cond, what: str) -> list:
    """Poll ``proc`` until ``cond()`` holds; return the reports read meanwhile."""
    reports: list = []
    end = time.monotonic() + LIMIT
    while not cond():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        reports += proc.poll(0.1)
    return reports


# --- everywhere: the factory and its errors ----------------------------------------------------
def test_local_executor_is_the_launcher() -> None:
    proc = make_trial_process("local", grace=3.0, cpus_per_trial=4, gpus_per_trial=1)
    assert type(proc) is TrialProcess and proc.grace == 3.0


def test_ray_executor_takes_resources() -> None:
    proc = make_trial_process("ray", grace=2.0, cpus_per_trial=2, gpus_per_trial=0.5, default_metric="loss")
    assert isinstance(proc, RayTrialProcess)
    assert (proc.num_cpus, proc.num_gpus, proc.grace) == (2.0, 0.5, 2.0)
    assert (make_trial_process("ray").num_cpus, make_trial_process("ray").num_gpus) == (1.0, 0.0)


@pytest.mark.parametrize("value", [-1, "x", float("nan"), float("inf")])
def test_bad_resources_are_config_errors(value) -> None:
    with pytest.raises(ConfigError, match="--gpus-per-trial"):
        make_trial_process("ray", gpus_per_trial=value)


def test_unknown_executor() -> None:
    with pytest.raises(ConfigError, match="unknown executor 'slurm'") as err:
        make_trial_process("slurm")
    assert "local, ray" in str(err.value)


def test_missing_ray_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ConfigError) as err:
        ray_init("auto")
    assert 'pip install "hposweep[ray]"' in str(err.value)


@needs_ray
def test_unreachable_address_is_a_quick_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        ray_init("127.0.0.1:1")


def test_importing_the_package_does_not_import_ray() -> None:
    import subprocess

    code = (
        "import sys, hposweep.execution.executors, hposweep.execution.executors.ray.driver; "
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_merge_env_keeps_node_variables() -> None:
    driver = {"PATH": "/driver/bin", "CUDA_VISIBLE_DEVICES": "7", "RAY_ADDRESS": "x", "HPOSWEEP_TRIAL": "3",
              "LR": "0.1"}
    worker = {"PATH": "/node/bin", "CUDA_VISIBLE_DEVICES": "0", "HOME": "/home/w"}
    assert merge_env(driver, worker) == {"PATH": "/node/bin", "CUDA_VISIBLE_DEVICES": "0", "HOME": "/home/w",
                                         "HPOSWEEP_TRIAL": "3", "LR": "0.1"}


def drive(actor: TrialActor) -> dict:
    """Poll an in-process TrialActor to the end; return its replies merged."""
    merged: dict = {"stdout": b"", "stderr": b"", "metrics": b""}
    end = time.monotonic() + LIMIT
    while True:
        reply = actor.poll(0.1)
        for stream, data in reply["out"]:
            merged[stream] += data
        merged["metrics"] += reply["metrics"]
        if reply["done"]:
            return {**reply, **merged}
        assert time.monotonic() < end, "the actor's trial did not finish"


def test_actor_forwards_raw_output_metrics_and_params(tmp_path: Path) -> None:
    """The remote half is plain Python: run it in this process, without Ray."""
    params = tmp_path / "driver.params.json"
    params.write_text('{"lr": 0.5}')
    env = {**os.environ, "HPOSWEEP_PARAMS_FILE": "/driver/only/p.json", "HPOSWEEP_METRICS_FILE": "/driver/m.jsonl"}
    actor = TrialActor()
    started = actor.start(py("""
        import os, sys
        print("params " + open(os.environ["HPOSWEEP_PARAMS_FILE"]).read())
        print("\\x1b[31mloss=0.5\\x1b[0m", file=sys.stderr)
        with open(os.environ["HPOSWEEP_METRICS_FILE"], "w") as fh:
            fh.write('{"step": 1, "acc": 0.75}\\n{"acc": 0.8')
        sys.exit(4)
        """), env, str(tmp_path), False, None, 2.0, params.read_bytes(), True)
    workdir = actor.workdir
    assert started["pid"] > 0 and started["cwd"] == str(tmp_path) and workdir is not None
    reply = drive(actor)
    assert reply["returncode"] == 4 and reply["stop_reason"] is None, reply["stderr"]
    assert reply["stdout"] == b'params {"lr": 0.5}\n'
    assert reply["stderr"] == b"\x1b[31mloss=0.5\x1b[0m\n"  # raw: parsing is the driver's
    assert reply["metrics"] == b'{"step": 1, "acc": 0.75}\n{"acc": 0.8'
    assert not os.path.exists(workdir)


def test_actor_launch_error_and_missing_cwd(tmp_path: Path) -> None:
    reply = TrialActor().start(["/no/such/program"], {}, None, False, None, 1.0, None, False)
    assert "command not found" in reply["error"] and reply["hint"]
    actor = TrialActor()
    started = actor.start(py("import os; print(os.getcwd())"), dict(os.environ), "/no/such/dir", False, None, 1.0,
                          None, False)
    assert started["cwd"] == os.getcwd()  # not on this node: the worker's own directory
    assert drive(actor)["stdout"] == (os.getcwd() + "\n").encode()


def test_actor_replies_are_bounded() -> None:
    actor = TrialActor()
    big = b"x" * (MAX_REPLY_BYTES // 2 + 1)
    actor.chunks.extend([("stdout", b"a"), ("stdout", b"b"), ("stderr", big), ("stdout", big), ("stdout", b"c")])
    assert actor._take_chunks() == [("stdout", b"ab"), ("stderr", big)]
    assert actor._take_chunks() == [("stdout", big + b"c")]
    assert actor._take_chunks() == [] and actor.chunks == []


# --- with a local Ray instance -----------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    try:
        import ray  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - installed but broken: say how, and skip
        pytest.skip(f"Ray cannot be imported here: {type(exc).__name__}: {exc}")
    ray_init(None, num_cpus=2, include_dashboard=False)
    yield
    ray_shutdown()


def start(tmp_path: Path, command, *, name: str = "trial", env=None, **kw) -> RayTrialProcess:
    opts = {k: kw.pop(k) for k in ("metric_regex", "default_metric", "metrics_file", "grace") if k in kw}
    proc = RayTrialProcess(**opts)
    proc.start(command, log_path=tmp_path / f"{name}.log", env=env, **kw)
    return proc


@needs_ray
def test_resources_no_node_has_are_config_errors(cluster) -> None:
    check_ray_resources(2, 0)
    with pytest.raises(ConfigError, match=r"no node .* 1 GPU\(s\) .* largest has 2 CPU\(s\), 0 GPU"):
        check_ray_resources(1, 1)
    with pytest.raises(ConfigError, match="3 CPU"):
        check_ray_resources(3, 0)


@needs_ray
def test_metrics_stream_back_while_the_trial_runs(cluster, tmp_path: Path) -> None:
    go = tmp_path / "go"
    proc = start(tmp_path, py(f"""
        import os, time
        for i in range(3):
            print(f"epoch={{i}} loss={{1.0 / (i + 1)}}", flush=True)
            time.sleep(0.05)
        while not os.path.exists({str(go)!r}):  # hold the trial open until the test saw the reports
            time.sleep(0.02)
        print("done: acc=0.9")
        """), default_metric="loss")
    seen: list = []
    while len(seen) < 3 and not proc.done:
        seen += proc.poll(0.2)
    assert not proc.done
    assert pairs(seen) == [("loss", 1.0, 0), ("loss", 0.5, 1), ("loss", 1 / 3, 2)]
    assert proc.pid is not None and proc.node is not None
    go.touch()
    seen += proc.wait(LIMIT)
    assert proc.done and proc.returncode == 0 and proc.stop_reason is None and not proc.lost_node
    assert ("acc", 0.9, None) in pairs(seen)
    log = (tmp_path / "trial.log").read_text()
    assert log.startswith("epoch=0 loss=1.0\n") and log.endswith("done: acc=0.9\n")
    assert proc.ended_at is not None and proc.started_at is not None and proc.ended_at >= proc.started_at


@needs_ray
def test_env_params_and_metrics_file_reach_the_node(cluster, tmp_path: Path) -> None:
    params = tmp_path / "p.params.json"
    params.write_text('{"lr": 0.25}')
    metrics = tmp_path / "p.metrics.jsonl"
    env = {**os.environ, "MY_SETTING": "hello", "CUDA_VISIBLE_DEVICES": "7",
           "HPOSWEEP_PARAMS_FILE": str(params), "HPOSWEEP_METRICS_FILE": str(metrics)}
    proc = start(tmp_path, py("""
        import json, os, sys
        print("setting", os.environ["MY_SETTING"], "cuda", os.environ.get("CUDA_VISIBLE_DEVICES"))
        lr = json.load(open(os.environ["HPOSWEEP_PARAMS_FILE"]))["lr"]
        with open(os.environ["HPOSWEEP_METRICS_FILE"], "a") as fh:
            for step in range(2):
                fh.write(json.dumps({"step": step, "val_loss": lr * (step + 1)}) + "\\n")
            fh.write(json.dumps({"step": 2, "val_loss": 9.5}))  # last line without its newline
        print("stderr line", file=sys.stderr)
        """), env=env, metrics_file=metrics, default_metric="val_loss")
    reports = proc.wait(LIMIT)
    assert proc.done and proc.returncode == 0
    assert pairs(reports) == [("val_loss", 0.25, 0), ("val_loss", 0.5, 1), ("val_loss", 9.5, 2)]
    log = (tmp_path / "trial.log").read_text()
    assert "setting hello" in log and "cuda 7" not in log and "stderr line" in log
    assert metrics.read_text().count("val_loss") == 3  # the driver keeps a copy of the node's file


@needs_ray
def test_exit_codes_and_launch_errors(cluster, tmp_path: Path) -> None:
    failing = start(tmp_path, py("import sys; print('bye'); sys.exit(3)"), name="failing")
    missing = start(tmp_path, ["/no/such/program"], name="missing")
    shell = start(tmp_path, "no-such-command-xyz --flag", name="shell", shell=True)
    for proc in (failing, missing, shell):
        proc.wait(LIMIT)
        assert proc.done
    assert failing.returncode == 3 and failing.launch_error() is None and failing.tail(1) == ["bye"]
    err = missing.launch_error()
    assert isinstance(err, LaunchError) and "command not found" in str(err) and missing.returncode is None
    assert shell.returncode == 127 and "command not found" in str(shell.launch_error())


@needs_ray
def test_timeout_stops_the_remote_group(cluster, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    proc = start(tmp_path, py(f"""
        import os, subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        print("started", flush=True)
        time.sleep(60)
        """), timeout=1.0, grace=1.0)
    proc.wait(LIMIT)
    assert proc.done and proc.timed_out and proc.stop_reason == "timeout"
    assert proc.returncode is not None and proc.returncode < 0
    for pid in map(int, pids.read_text().split()):
        assert gone(pid)


@needs_ray
def test_begin_terminate_and_kill(cluster, tmp_path: Path) -> None:
    polite = start(tmp_path, py("""
        import signal, sys, time
        def stop(*_):
            print("got SIGTERM, saving", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("ready", flush=True)
        time.sleep(60)
        """), name="polite")
    stubborn = start(tmp_path, py("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
        """), name="stubborn")
    for proc in (polite, stubborn):
        poll_until(proc, lambda p=proc: "ready" in p.tail(), "the trial to start")
    polite.begin_terminate(10.0, reason="pruned")
    stubborn.begin_terminate(0.3)
    for proc in (polite, stubborn):
        proc.wait(LIMIT)
        assert proc.done and not proc.lost_node
    assert polite.stop_reason == "pruned" and polite.returncode == 0
    assert polite.tail(1) == ["got SIGTERM, saving"]
    assert stubborn.stop_reason == "terminated" and stubborn.returncode == -9


@needs_ray
def test_a_lost_actor_ends_the_trial_for_a_rerun(cluster, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    proc = start(tmp_path, py(f"""
        import os, subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        print("epoch=0 loss=0.5", flush=True)
        time.sleep(60)
        """), default_metric="loss", grace=5.0)
    reports: list = []
    while not reports and not proc.done:
        reports += proc.poll(0.1)
    assert proc.pid is not None
    import ray

    ray.kill(proc._actor, no_restart=True)  # what a dead node looks like to the driver
    proc.wait(LIMIT)
    assert proc.done and proc.lost_node and proc.stop_reason == "node lost" and proc.returncode is None
    assert "lost the trial's Ray actor" in proc.tail(1)[0]
    leader, child = map(int, pids.read_text().split())
    assert proc.pid == leader
    # Ray SIGKILLs the dead worker's children (the leader); the group's other members are the watchdog's
    wait_for(lambda: gone(leader) and gone(child), "the watchdog to stop the orphaned trial's group")


@needs_ray
def test_a_small_sweep_through_poll_many(cluster, tmp_path: Path) -> None:
    """Three trials, two CPUs: the third waits for a free slot; every one's metrics arrive."""
    procs = []
    for i in range(3):
        procs.append(start(tmp_path, py(f"""
            import time
            for step in range(3):
                print(f"step={{step}} score={{{i * 10} + step}}", flush=True)
                time.sleep(0.05)
            """), name=f"t{i}", default_metric="score"))
    got: dict[RayTrialProcess, list] = {p: [] for p in procs}
    end = time.monotonic() + LIMIT
    while not all(p.done for p in procs):
        assert time.monotonic() < end, "sweep did not finish"
        wait_any([p for p in procs if not p.done], 0.2)
        for proc, reports in poll_many(procs, 0.0).items():
            got[proc] += reports
    for i, proc in enumerate(procs):
        assert proc.returncode == 0
        assert pairs(got[proc]) == [("score", float(i * 10 + s), s) for s in range(3)]
        assert proc.queued_s is not None and proc.queued_s >= 0
