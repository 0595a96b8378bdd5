"""The driver side of a Ray trial: :class:`RayTrialProcess`, the trial handle the runner drives.

It writes the log locally and parses the output the actor forwards with the same parsers and
tailer as a local trial (see :mod:`hposweep.execution.executors.ray`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from hposweep.execution.executors.base import LaunchError, TrialHandle, open_nofollow
from hposweep.execution.executors.ray.actor import actor_class, import_ray
from hposweep.execution.metrics import MetricReport


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
    """A trial running in a Ray actor, with :class:`~hposweep.execution.executors.local.TrialProcess`'s interface.

    ``num_cpus``/``num_gpus`` are the actor's resource requests (Ray sets ``CUDA_VISIBLE_DEVICES``
    on the worker). ``poll_wait`` is how long the actor holds a poll open waiting for output.
    ``kill_wait`` bounds :meth:`kill`: an actor that does not confirm by then is killed by Ray
    (its watchdog then stops the trial's group).

    Differences from a local trial: :meth:`fds` is empty (the runner polls it every round);
    :attr:`pid` is the pid *on the node* and stays None until the actor has started the command
    (the actor may wait for resources first); :attr:`node` and :attr:`remote_cwd` say where it ran.
    """

    wait_step = 0.25

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
        super().__init__(metric_regex=metric_regex, default_metric=default_metric, metrics_file=metrics_file,
                         grace=grace)
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.poll_wait = poll_wait
        self.kill_wait = kill_wait
        #: seconds from :meth:`start` to the command running on the node (resources, worker start-up)
        self.queued_s: float | None = None
        #: the actor or its node died: the trial did not finish and should be run again
        self.lost_node = False
        self._remote = _RemoteState()
        self._actor: Any = None
        self._pending: _Pending | None = None
        self._metrics_out: IO[bytes] | None = None
        self._submitted_at: float | None = None

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
        # cwd is the node's: a missing one there falls back to the worker's own directory
        self.check_start(command, shell=shell, cwd=cwd, check_cwd=False)
        driver_env = dict(os.environ if env is None else env)
        params = _read_params(driver_env.get("HPOSWEEP_PARAMS_FILE"))
        want_metrics = self.metrics_file is not None or "HPOSWEEP_METRICS_FILE" in driver_env
        actor_cls = actor_class()
        self.open_log(log_path)
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

    def launch_error(self) -> LaunchError | None:
        """The node could not start the command (or the actor), or a shell said 126/127."""
        if self._remote.launch_error is not None:
            return self._remote.launch_error
        return self.shell_exit_error()

    # --- the loop ---------------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> list[MetricReport]:
        """Take the actor's answer if there is one (waiting at most ``timeout`` s); return new reports."""
        if self._done or self._pending is None:
            return []
        if timeout > 0:
            import_ray().wait([self._pending.ref], timeout=timeout)
        return self._pump()

    def read_ready(self, fds: Sequence[int] = ()) -> list[MetricReport]:
        """What :func:`~hposweep.execution.executors.local.poll_many` calls each round (``fds`` is always empty)."""
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
            self.write_log(data)
            reports += self.parsers[stream].feed(data)
        reports += self._take_metrics(result["metrics"], result["reset"])
        self._remote.returncode = result["returncode"]
        if self.stop_reason is None and result["stop_reason"] is not None:
            self.stop_reason = result["stop_reason"]
        if result["done"]:
            for parser in self.parsers.values():
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
            self._metrics_out = open_nofollow(self.metrics_file, append=not reset)
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
        self.write_log(f"\n[hposweep] {text}\n".encode())

    def _finish(self) -> list[MetricReport]:
        reports = self.tailer.flush() if self.tailer is not None and self._metrics_out is not None else []
        self.close_log()
        if self._metrics_out is not None:
            self._metrics_out.close()
        self._metrics_out = None
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

    What :func:`~hposweep.execution.executors.local.poll_many` can call instead of sleeping when trials have no
    pipes, so a trial's output is picked up as soon as it arrives.
    """
    refs = [r for r in (p.pending_ref() for p in procs) if r is not None]
    if refs and timeout > 0:
        import_ray().wait(refs, num_returns=1, timeout=timeout)
    elif timeout > 0:
        time.sleep(min(timeout, 0.05))
