"""Run trials as Ray actors: the process runs on a cluster node, the driver keeps everything else.

Split of work:

* **Remote** (:class:`TrialActor`, one Ray actor per trial, holding ``--cpus-per-trial`` /
  ``--gpus-per-trial``): spawns the command with :class:`hposweep.launcher.TrialProcess` (own
  process group, timeout, SIGTERM/grace/SIGKILL, leftover members), but does *not* parse anything:
  it hands the raw output chunks and the new bytes of the trial's metrics file to the driver.
* **Driver** (:class:`RayTrialProcess`, the ``TrialProcess`` interface the runner uses): writes
  the log file locally and parses the output with the same :class:`~hposweep.metrics.MetricParser`
  and :class:`~hposweep.metrics.MetricsFileTailer` as a local trial, so a sweep reads the same
  numbers whichever executor ran it. The study and the checkpoint never leave the driver.

The driver keeps one ``poll`` call in flight per trial; the actor answers it as soon as there is
output (or after ``poll_wait`` seconds), so metrics stream back while the trial runs. Calls from one
driver to one actor run in order, which is what makes ``begin_terminate``/``kill`` safe to send
at any time.

When the actor's process dies (``ray.kill``, the driver exits, the worker crashes), a small
watchdog process the actor started next to the trial sees its pipe close and stops the trial's
group (SIGTERM, grace, SIGKILL): a lost actor never leaves a training job running unobserved. Ray
itself only SIGKILLs a dead worker's direct children, which misses the trial's own children (data
loader workers, ``cmd &``); the watchdog is detached from the worker so that it survives that. The
driver then ends the trial with ``stop_reason == "node lost"`` and ``lost_node = True``, so the
runner re-queues it.

Ray is imported only inside functions: importing this module costs nothing without Ray, and the
remote class is plain Python until :func:`_actor_class` wraps it with ``ray.remote``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from hposweep.errors import ConfigError
from hposweep.execution.executors.local import LaunchError, TrialHandle, TrialProcess
from hposweep.execution.metrics import MetricParser, MetricReport, MetricsFileTailer

INSTALL_HINT = 'pip install "hposweep[ray]"'

#: Variables that describe the machine or the Ray worker rather than the sweep: the worker's own
#: values win over the driver's. Accelerator visibility is Ray's to set (``num_gpus``).
NODE_ENV_KEYS = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_", "TMPDIR",
    "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONHOME", "VIRTUAL_ENV", "XDG_RUNTIME_DIR", "DISPLAY",
    "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "NEURON_RT_VISIBLE_CORES",
    "TPU_VISIBLE_CHIPS", "ONEAPI_DEVICE_SELECTOR", "HABANA_VISIBLE_MODULES",
})
NODE_ENV_PREFIXES = ("RAY_", "SSH_", "CONDA_")

_MAX_REPLY_BYTES = 4 * 1024 * 1024


def import_ray() -> Any:
    """``import ray``, or a :class:`ConfigError` that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"--executor ray needs Ray, which cannot be imported ({exc})", hint=INSTALL_HINT
        ) from exc
    return ray


def merge_env(driver_env: Mapping[str, str], worker_env: Mapping[str, str]) -> dict[str, str]:
    """The trial's environment on the worker: the worker's, overlaid with the driver's sweep settings.

    The driver computed the environment the trial should see (``HPOSWEEP_*``, the user's exports),
    but paths to programs and libraries, the home directory and GPU visibility belong to the node
    the trial lands on, so those (:data:`NODE_ENV_KEYS`, :data:`NODE_ENV_PREFIXES`) stay as the
    worker has them.
    """
    env = dict(worker_env)
    for key, value in driver_env.items():
        if key in NODE_ENV_KEYS or key.startswith(NODE_ENV_PREFIXES):
            continue
        env[key] = value
    return env


# --- the remote side ---------------------------------------------------------------------------
class _Capture:
    """Stands in for a stream's MetricParser on the worker: keeps the raw bytes for the driver."""

    def __init__(self, stream: str, sink: list[tuple[str, bytes]]) -> None:
        self.stream = stream
        self.sink = sink

    def feed(self, chunk: bytes | str) -> list[MetricReport]:
        self.sink.append((self.stream, chunk if isinstance(chunk, bytes) else chunk.encode()))
        return []

    def flush(self) -> list[MetricReport]:
        return []


class _ForwardingTrialProcess(TrialProcess):
    """A TrialProcess whose output goes to a list instead of parsers (parsing happens on the driver).

    The parsers are TrialProcess's seam between reading pipes and interpreting them; replacing them
    reuses all of its process-group, timeout and draining logic unchanged.
    """

    def __init__(self, *, grace: float, sink: list[tuple[str, bytes]]) -> None:
        super().__init__(grace=grace)
        self._parsers = {"stdout": _Capture("stdout", sink), "stderr": _Capture("stderr", sink)}  # type: ignore[dict-item]


_WATCHDOG = r"""
import os, signal, sys, time
pgid, grace = int(sys.argv[1]), float(sys.argv[2])
if os.fork():  # detach from the worker: Ray SIGKILLs a dead worker's direct children, this one included
    os._exit(0)
sys.stdin.buffer.read()  # EOF: the actor closed the pipe (trial over) or died (lost, killed)
def alive():
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
if alive():
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        pass
    end = time.monotonic() + grace
    while alive() and time.monotonic() < end:
        time.sleep(0.05)
    if alive():
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
"""


class TrialActor:
    """One trial on a Ray worker. Plain Python; :func:`_actor_class` makes it a Ray actor.

    Methods are called by the driver in order: :meth:`start` once, then :meth:`poll` repeatedly
    (one in flight at a time), with :meth:`begin_terminate`/:meth:`kill` in between when needed.
    """

    def __init__(self) -> None:
        self.chunks: list[tuple[str, bytes]] = []
        self.proc: _ForwardingTrialProcess | None = None
        self.workdir: str | None = None
        self.metrics_path: str | None = None
        self._metrics_offset = 0
        self._watchdog: subprocess.Popen[bytes] | None = None

    def start(
        self,
        command: Sequence[str] | str,
        env: Mapping[str, str],
        cwd: str | None,
        shell: bool,
        timeout: float | None,
        grace: float,
        params: bytes | None,
        want_metrics: bool,
    ) -> dict[str, Any]:
        """Spawn the trial; return its pid and where it runs, or ``{"error": ...}`` if it cannot start."""
        node = _node_name()
        self.workdir = tempfile.mkdtemp(prefix="hposweep-trial-")
        run_env = merge_env(env, os.environ)
        if params is not None:
            params_path = os.path.join(self.workdir, "params.json")
            with open(params_path, "wb") as fh:
                fh.write(params)
            run_env["HPOSWEEP_PARAMS_FILE"] = params_path
        if want_metrics:
            self.metrics_path = os.path.join(self.workdir, "metrics.jsonl")
            run_env["HPOSWEEP_METRICS_FILE"] = self.metrics_path
        run_cwd = cwd if cwd is not None and os.path.isdir(cwd) else os.getcwd()
        self.proc = _ForwardingTrialProcess(grace=grace, sink=self.chunks)
        try:
            self.proc.start(command, env=run_env, cwd=run_cwd, log_path=os.devnull, shell=shell, timeout=timeout)
        except LaunchError as exc:
            self._cleanup()
            return {"error": exc.message, "hint": exc.hint, "node": node}
        assert self.proc.pid is not None and self.proc.started_at is not None
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.proc.pid), str(grace)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self._watchdog.wait()  # the launcher exits once it has forked the watchdog proper
        return {"pid": self.proc.pid, "node": node, "cwd": run_cwd, "age": time.monotonic() - self.proc.started_at}

    def poll(self, wait: float) -> dict[str, Any]:
        """New output since the last call, waiting up to ``wait`` s for some; ``done`` once it is all."""
        proc = self.proc
        assert proc is not None, "poll before start"
        deadline = time.monotonic() + wait
        metrics, reset = self._read_metrics()
        while not self.chunks and not metrics and not proc.done:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            proc.poll(min(left, 0.1))
            metrics, reset = self._read_metrics(metrics, reset)
        out = self._take_chunks()
        done = proc.done and not self.chunks
        if done:
            metrics, reset = self._read_metrics(metrics, reset)
            self._cleanup()
        return {"out": out, "metrics": metrics, "reset": reset, "done": done, "returncode": proc.returncode,
                "stop_reason": proc.stop_reason}

    def begin_terminate(self, grace: float | None, reason: str) -> None:
        if self.proc is not None:
            self.proc.begin_terminate(grace, reason=reason)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def _take_chunks(self) -> list[tuple[str, bytes]]:
        """Up to ``_MAX_REPLY_BYTES`` of output, consecutive chunks of one stream joined; the rest stays."""
        out: list[tuple[str, list[bytes]]] = []
        size = taken = 0
        for stream, data in self.chunks:
            if size and size + len(data) > _MAX_REPLY_BYTES:
                break
            size += len(data)
            taken += 1
            if out and out[-1][0] == stream:
                out[-1][1].append(data)
            else:
                out.append((stream, [data]))
        del self.chunks[:taken]  # in place: the captures append to this very list
        return [(stream, b"".join(parts)) for stream, parts in out]

    def _read_metrics(self, have: bytes = b"", reset: bool = False) -> tuple[bytes, bool]:
        """New bytes of the metrics file; ``reset`` when it shrank (rewritten from the start)."""
        if self.metrics_path is None:
            return have, reset
        try:
            size = os.path.getsize(self.metrics_path)
        except OSError:
            return have, reset
        if size < self._metrics_offset:
            self._metrics_offset, have, reset = 0, b"", True
        if size == self._metrics_offset:
            return have, reset
        try:
            with open(self.metrics_path, "rb") as fh:
                fh.seek(self._metrics_offset)
                data = fh.read(size - self._metrics_offset)
        except OSError:
            return have, reset
        self._metrics_offset += len(data)
        return have + data, reset

    def _cleanup(self) -> None:
        """The trial is over: let the watchdog go (group already gone) and remove the temp files."""
        if self._watchdog is not None:
            assert self._watchdog.stdin is not None
            self._watchdog.stdin.close()  # the group is gone: the watchdog finds nothing to stop and exits
            self._watchdog = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self.metrics_path = None


def _node_name() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001 - a name for messages only
        return socket.gethostname()


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    """TrialActor as a Ray actor class (created once; needs Ray)."""
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        ray = import_ray()
        _ACTOR_CLASS = ray.remote(max_restarts=0, max_task_retries=0)(TrialActor)
    return _ACTOR_CLASS


# --- the driver side ---------------------------------------------------------------------------
@dataclass
class _Pending:
    """The one actor call the driver waits on: ``start`` first, then ``poll`` after ``poll``."""

    kind: str
    ref: Any


@dataclass
class _RemoteState:
    pid: int | None = None
    node: str | None = None
    cwd: str | None = None
    returncode: int | None = None
    launch_error: LaunchError | None = None
    error: str | None = None


class RayTrialProcess(TrialHandle):
    """A trial running in a Ray actor, with :class:`~hposweep.launcher.TrialProcess`'s interface.

    ``num_cpus``/``num_gpus`` are the actor's resource requests (Ray sets ``CUDA_VISIBLE_DEVICES``
    on the worker). ``poll_wait`` is how long the actor holds a poll open waiting for output.
    ``kill_wait`` bounds :meth:`kill`: an actor that does not confirm by then is killed by Ray
    (its watchdog then stops the trial's group).

    Differences from a local trial: :meth:`fds` is empty (the runner polls it every round);
    :attr:`pid` is the pid *on the node* and stays None until the actor has started the command
    (the actor may wait for resources first); :attr:`node` and :attr:`remote_cwd` say where it ran.
    """

    _wait_step = 0.25

    def __init__(
        self,
        *,
        metric_regex: str | None = None,
        default_metric: str | None = None,
        metrics_file: str | os.PathLike[str] | None = None,
        grace: float = 10.0,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        poll_wait: float = 0.2,
        kill_wait: float = 30.0,
    ) -> None:
        self._parsers = {
            "stdout": MetricParser(metric_regex, default_name=default_metric),
            "stderr": MetricParser(metric_regex, default_name=default_metric),
        }
        self.metrics_file = os.fspath(metrics_file) if metrics_file is not None else None
        self.tailer = MetricsFileTailer(self.metrics_file) if self.metrics_file is not None else None
        self.grace = grace
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.poll_wait = poll_wait
        self.kill_wait = kill_wait
        self.log_path: str | None = None
        self.shell = False
        self.started_at: float | None = None
        self.ended_at: float | None = None
        #: seconds from :meth:`start` to the command running on the node (resources, worker start-up)
        self.queued_s: float | None = None
        #: "timeout", "terminated", "killed", "pruned", ..., or "node lost"
        self.stop_reason: str | None = None
        #: the actor or its node died: the trial did not finish and should be run again
        self.lost_node = False
        self._remote = _RemoteState()
        self._actor: Any = None
        self._pending: _Pending | None = None
        self._log: IO[bytes] | None = None
        self._metrics_out: IO[bytes] | None = None
        self._submitted_at: float | None = None
        self._done = False

    # --- starting ---------------------------------------------------------------------------
    def start(
        self,
        command: Sequence[str] | str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str],
        shell: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Create the trial's actor and ask it to spawn the command; returns without waiting.

        The log file is created (truncated) here. A command the node cannot start is reported by
        :meth:`launch_error` once the trial is done (the actor may first wait for resources).
        ``timeout`` is counted on the node from the moment the command starts.
        """
        if self._actor is not None:
            raise RuntimeError("RayTrialProcess.start called twice")
        if shell != isinstance(command, str):
            raise TypeError("a shell command is one string; an argv is a list of strings")
        if not shell and not command:
            raise LaunchError("empty command", hint="put the training command after `--`")
        driver_env = dict(os.environ if env is None else env)
        params = _read_params(driver_env.get("HPOSWEEP_PARAMS_FILE"))
        want_metrics = self.metrics_file is not None or "HPOSWEEP_METRICS_FILE" in driver_env
        actor_cls = _actor_class()
        self.log_path = os.fspath(log_path)
        self._log = open(self.log_path, "wb")
        self.shell = shell
        self._actor = actor_cls.options(num_cpus=self.num_cpus, num_gpus=self.num_gpus).remote()
        ref = self._actor.start.remote(
            command if shell else list(command), driver_env, os.fspath(cwd) if cwd is not None else None,
            shell, timeout, self.grace, params, want_metrics,
        )
        self._pending = _Pending("start", ref)
        self._submitted_at = self.started_at = time.monotonic()

    # --- state ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The trial's pid on its node (None until the actor has started it)."""
        return self._remote.pid

    @property
    def node(self) -> str | None:
        """The IP address of the node the trial runs on (None until started)."""
        return self._remote.node

    @property
    def remote_cwd(self) -> str | None:
        """The directory the command runs in: ``cwd`` when the node has it, else the worker's own."""
        return self._remote.cwd

    @property
    def returncode(self) -> int | None:
        return self._remote.returncode

    @property
    def timed_out(self) -> bool:
        return self.stop_reason == "timeout"

    def fds(self) -> list[int]:
        """No pipes on this machine: the runner calls :meth:`read_ready` with none every round."""
        return []

    def launch_error(self) -> LaunchError | None:
        """The node could not start the command (or the actor), or a shell said 126/127."""
        if self._remote.launch_error is not None:
            return self._remote.launch_error
        return self._shell_exit_error()

    # --- the loop ---------------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> list[MetricReport]:
        """Take the actor's answer if there is one (waiting at most ``timeout`` s); return new reports."""
        if self._done or self._pending is None:
            return []
        if timeout > 0:
            import_ray().wait([self._pending.ref], timeout=timeout)
        return self._pump()

    def read_ready(self, fds: Sequence[int] = ()) -> list[MetricReport]:
        """What :func:`~hposweep.launcher.poll_many` calls each round (``fds`` is always empty)."""
        return self._pump()

    def pending_ref(self) -> Any:
        """The Ray ObjectRef this trial waits on (None when done), for waiting on many trials at once."""
        return None if self._done or self._pending is None else self._pending.ref

    def _pump(self) -> list[MetricReport]:
        reports: list[MetricReport] = []
        while not self._done and self._pending is not None:
            reply = self._take_reply()
            if reply is None:
                break
            reports += reply
        return reports

    def _take_reply(self) -> list[MetricReport] | None:
        """Consume the pending call's result if it is ready; None if not yet."""
        ray = import_ray()
        pending = self._pending
        assert pending is not None
        ready, _ = ray.wait([pending.ref], timeout=0)
        if not ready:
            return None
        self._pending = None
        try:
            result = ray.get(pending.ref)
        except ray.exceptions.RayError as exc:
            return self._remote_failed(exc, started=pending.kind != "start")
        if pending.kind == "start":
            return self._on_started(result)
        return self._on_output(result)

    def _on_started(self, result: dict[str, Any]) -> list[MetricReport]:
        self._remote.node = result.get("node")
        if "error" in result:
            self._remote.launch_error = LaunchError(f"{result['error']} (on Ray node {result['node']})",
                                                    hint=result.get("hint"))
            self._write_note(f"cannot start the command: {result['error']}")
            return self._finish()
        now = time.monotonic()
        self._remote.pid = result["pid"]
        self._remote.cwd = result["cwd"]
        self.started_at = now - float(result.get("age", 0.0))
        assert self._submitted_at is not None
        self.queued_s = max(0.0, self.started_at - self._submitted_at)
        self._next_poll()
        return []

    def _on_output(self, result: dict[str, Any]) -> list[MetricReport]:
        reports: list[MetricReport] = []
        for stream, data in result["out"]:
            if self._log is not None:
                self._log.write(data)
            reports += self._parsers[stream].feed(data)
        if self._log is not None and result["out"]:
            self._log.flush()
        reports += self._take_metrics(result["metrics"], result["reset"])
        self._remote.returncode = result["returncode"]
        if self.stop_reason is None and result["stop_reason"] is not None:
            self.stop_reason = result["stop_reason"]
        if result["done"]:
            for parser in self._parsers.values():
                reports += parser.flush()
            return reports + self._finish()
        self._next_poll()
        return reports

    def _take_metrics(self, data: bytes, reset: bool) -> list[MetricReport]:
        """Append the node's new metrics-file bytes to the local copy and read it like a local trial."""
        if self.metrics_file is None or self.tailer is None or not (data or reset):
            return []
        if self._metrics_out is None or reset:
            if self._metrics_out is not None:
                self._metrics_out.close()
            self._metrics_out = open(self.metrics_file, "wb" if reset else "ab")
        self._metrics_out.write(data)
        self._metrics_out.flush()
        return self.tailer.poll()

    def _next_poll(self) -> None:
        self._pending = _Pending("poll", self._actor.poll.remote(self.poll_wait))

    def _remote_failed(self, exc: Exception, *, started: bool) -> list[MetricReport]:
        """Sort a failed actor call into: our bug, an actor that could not start, or a lost node."""
        ray = import_ray()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, ray.exceptions.RayTaskError):
            self._remote.error = str(exc)
            self.stop_reason = self.stop_reason or "remote error"
            self._write_note(f"the trial's Ray actor failed:\n{exc}")
        elif not started and _is_setup_error(ray, exc):
            self._remote.launch_error = LaunchError(
                f"cannot start the trial's Ray actor: {text}",
                hint="every node needs hposweep installed (pip install hposweep) and the resources asked "
                     "for (--cpus-per-trial/--gpus-per-trial)",
            )
            self._write_note(f"cannot start the trial's Ray actor: {exc}")
        else:
            self.lost_node = True
            self.stop_reason = "node lost"
            self._remote.error = str(exc)
            where = f" (node {self._remote.node})" if self._remote.node else ""
            self._write_note(f"lost the trial's Ray actor{where}: {text}")
        return self._finish()

    def _write_note(self, text: str) -> None:
        """A line for the human reading the log (after the trial's output; never parsed for metrics)."""
        if self._log is not None:
            self._log.write(f"\n[hposweep] {text}\n".encode())
            self._log.flush()

    def _finish(self) -> list[MetricReport]:
        reports = self.tailer.flush() if self.tailer is not None and self._metrics_out is not None else []
        for fh in (self._log, self._metrics_out):
            if fh is not None:
                fh.close()
        self._log = self._metrics_out = None
        self._pending = None
        self.ended_at = time.monotonic()
        self._done = True
        self._release_actor()
        return reports

    def _release_actor(self) -> None:
        """Free the actor's resources now rather than when the handle is garbage-collected."""
        if self._actor is None:
            return
        try:
            import_ray().kill(self._actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead or Ray shut down: nothing left to free
            pass

    # --- stopping ---------------------------------------------------------------------------
    def begin_terminate(self, grace: float | None = None, *, reason: str = "terminated") -> None:
        """Ask the node to SIGTERM the group now and SIGKILL it ``grace`` s later.

        A trial whose command has not started yet (its actor waits for resources) is cancelled at once.
        """
        if self._actor is None or self._done:
            return
        if self.stop_reason is None:
            self.stop_reason = reason
        if self._not_started():
            self._cancel()
            return
        self._actor.begin_terminate.remote(self.grace if grace is None else grace, reason)

    def kill(self) -> list[MetricReport]:
        """SIGKILL the group on the node; return when done (at most ``kill_wait`` s, then Ray kills the actor)."""
        if self._actor is None or self._done:
            return []
        if self.stop_reason is None:
            self.stop_reason = "killed"
        if self._not_started():
            self._cancel()
            return []
        self._actor.kill.remote()
        reports = self.wait(self.kill_wait)
        if not self._done:
            self._write_note(f"the trial's Ray actor did not answer for {self.kill_wait:g}s: killed it")
            reports += self._finish()
        return reports

    def _not_started(self) -> bool:
        """The start call has not been answered: the command may not run yet (waiting for resources)."""
        if self._pending is not None and self._pending.kind == "start":
            self._take_reply()  # a start reply yields no reports, so none are lost here
        return self._pending is not None and self._pending.kind == "start"

    def _cancel(self) -> None:
        """Kill the actor without waiting (a command it started meanwhile is stopped by its watchdog)."""
        self._write_note(f"stopped before the command started ({self.stop_reason})")
        self._finish()

    def close(self) -> None:
        if self._actor is not None and not self._done:
            self.kill()




def _is_setup_error(ray: Any, exc: Exception) -> bool:
    """The actor never came up (cannot be created anywhere): every trial would fail the same way."""
    errors = ray.exceptions
    setup = tuple(getattr(errors, name) for name in ("RuntimeEnvSetupError", "ActorUnschedulableError")
                  if hasattr(errors, name))
    if setup and isinstance(exc, setup):
        return True
    return bool(getattr(exc, "actor_init_failed", False))


def _read_params(path: str | None) -> bytes | None:
    """The params file the driver wrote, to recreate on the node (which may not see the driver's disk)."""
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def wait_any(procs: Sequence[RayTrialProcess], timeout: float) -> None:
    """Block until one of ``procs`` has an answer from its actor, or ``timeout`` s passed.

    What :func:`~hposweep.launcher.poll_many` can call instead of sleeping when trials have no
    pipes, so a trial's output is picked up as soon as it arrives.
    """
    refs = [r for r in (p.pending_ref() for p in procs) if r is not None]
    if refs and timeout > 0:
        import_ray().wait(refs, num_returns=1, timeout=timeout)
    elif timeout > 0:
        time.sleep(min(timeout, 0.05))
