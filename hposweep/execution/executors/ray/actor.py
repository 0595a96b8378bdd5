"""The node side of a Ray trial: :class:`TrialActor` spawns the command and forwards its raw output.

See :mod:`hposweep.execution.executors.ray` for the split of work between this side and the driver.
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
from typing import Any

from hposweep.errors import ConfigError
from hposweep.execution.executors.base import LaunchError
from hposweep.execution.executors.local import TrialProcess
from hposweep.execution.metrics import MetricReport, MetricsFileTailer

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

#: output bytes one poll answer carries at most (the rest waits for the next poll)
MAX_REPLY_BYTES = 4 * 1024 * 1024


def import_ray() -> Any:
    """``import ray``, or a :class:`ConfigError` that says how to install it.

    Also sends the messages Ray's driver prints about the cluster to stderr (see
    :func:`cluster_messages_to_stderr`), before anything can connect.
    """
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"--executor ray needs Ray, which cannot be imported ({exc})", hint=INSTALL_HINT
        ) from exc
    cluster_messages_to_stderr()
    return ray


def cluster_messages_to_stderr() -> None:
    """Make Ray print its cluster error messages to stderr instead of stdout.

    A Ray driver has a thread that prints every error the cluster publishes (a raylet that died, with the
    tail of its log) to *stdout*, whatever ``log_to_driver`` says; losing a node then breaks ``--json``, whose
    stdout must be one JSON document. Ray has no setting for this, so the module-level printer the thread
    calls is wrapped to mark every message an error (stderr). Without that private function (another Ray
    version) nothing changes.
    """
    try:
        from ray._private import worker
    except ImportError:
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "hposweep_to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr.hposweep_to_stderr = True  # type: ignore[attr-defined]  # marks the wrapper: wrap once
    worker.print_to_stdstream = to_stderr


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

    #: a subreaper worker would adopt the watchdog, and Ray kills a dead worker's children with it
    subreaper = False

    def __init__(self, *, grace: float, sink: list[tuple[str, bytes]]) -> None:
        super().__init__(grace=grace)
        self.parsers = {"stdout": _Capture("stdout", sink), "stderr": _Capture("stderr", sink)}


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
    """One trial on a Ray worker. Plain Python; :func:`actor_class` makes it a Ray actor.

    Methods are called by the driver in order: :meth:`start` once, then :meth:`poll` repeatedly
    (one in flight at a time), with :meth:`begin_terminate`/:meth:`kill` in between when needed.
    """

    def __init__(self) -> None:
        self.chunks: list[tuple[str, bytes]] = []
        self.proc: _ForwardingTrialProcess | None = None
        self.workdir: str | None = None
        self.metrics_path: str | None = None
        self.metrics: MetricsFileTailer | None = None
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
            self.metrics = MetricsFileTailer(self.metrics_path)
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
        """Up to ``MAX_REPLY_BYTES`` of output, consecutive chunks of one stream joined; the rest stays."""
        out: list[tuple[str, list[bytes]]] = []
        size = taken = 0
        for stream, data in self.chunks:
            if size and size + len(data) > MAX_REPLY_BYTES:
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
        """New bytes of the metrics file (read by the same tailer as a local trial's); ``reset`` when it
        shrank (rewritten from the start), which drops what was gathered before."""
        if self.metrics is None:
            return have, reset
        data, shrank = self.metrics.read_new()
        if shrank:
            return data, True
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
            self.metrics = None


def _node_name() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001 - a name for messages only
        return socket.gethostname()


_ACTOR_CLASS: Any = None


def actor_class() -> Any:
    """TrialActor as a Ray actor class (created once; needs Ray)."""
    global _ACTOR_CLASS
    if _ACTOR_CLASS is None:
        ray = import_ray()
        _ACTOR_CLASS = ray.remote(max_restarts=0, max_task_retries=0)(TrialActor)
    return _ACTOR_CLASS


