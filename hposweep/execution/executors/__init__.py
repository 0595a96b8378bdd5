"""Where a trial's process runs: on this machine (``local``) or as a Ray actor on a cluster (``ray``).

Both executors give the runner the same object (:class:`hposweep.execution.executors.local.TrialProcess`'s
interface), so the sweep loop, the study and the checkpoint do not change with the executor.
Ray is imported only by :func:`ray_init` and by the Ray trial objects, never at package import.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from hposweep.errors import ConfigError

if TYPE_CHECKING:
    from hposweep.execution.executors.local import TrialProcess
    from hposweep.execution.executors.ray.driver import RayTrialProcess

EXECUTORS = ("local", "ray")

#: the address :func:`ray_init` connected to (``"local"`` for an instance it started); None before
_connected: str | None = None


def make_trial_process(
    executor: str,
    *,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    **opts: Any,
) -> TrialProcess | RayTrialProcess:
    """A not-yet-started trial process for ``executor``.

    ``opts`` are TrialProcess's (``metric_regex``, ``default_metric``, ``metrics_file``, ``grace``).
    ``cpus_per_trial``/``gpus_per_trial`` are the Ray actor's resource requests (default 1 CPU,
    0 GPUs); a local trial ignores them, so the runner can pass its options unchanged.
    """
    if executor == "local":
        from hposweep.execution.executors.local import TrialProcess

        return TrialProcess(**opts)
    if executor == "ray":
        from hposweep.execution.executors.ray.driver import RayTrialProcess

        cpus = _resource("--cpus-per-trial", 1.0 if cpus_per_trial is None else cpus_per_trial)
        gpus = _resource("--gpus-per-trial", 0.0 if gpus_per_trial is None else gpus_per_trial)
        return RayTrialProcess(num_cpus=cpus, num_gpus=gpus, **opts)
    raise ConfigError(f"unknown executor {executor!r}", hint=f"use one of: {', '.join(EXECUTORS)}")


def _resource(flag: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number >= 0 or number == float("inf"):
        raise ConfigError(f"{flag} must be a number >= 0, got {value!r}", hint=f"e.g. {flag} 1 or {flag} 0.5")
    return number


def ray_init(address: str | None = None, **init_opts: Any) -> None:
    """Connect to the Ray cluster at ``address`` once (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``).

    With ``address`` None, Ray's own rules apply: ``RAY_ADDRESS`` if set, else a local instance is
    started. Calling again is a no-op, so every part of the program may call it. Worker output is
    not forwarded to this terminal (``log_to_driver=False``): each trial's output is already in its
    own log. ``init_opts`` go to ``ray.init`` (the tests pass ``num_cpus``).
    """
    global _connected
    from hposweep.execution.executors.ray.actor import import_ray

    ray = import_ray()
    _check_reachable(address)
    if ray.is_initialized():
        _connected = _connected or (address or "local")
        return
    opts: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                            "logging_level": logging.WARNING, **init_opts}
    try:
        ray.init(address=address, **opts)
    except ConnectionError as exc:
        raise ConfigError(
            f"cannot connect to the Ray cluster at {address or os.environ.get('RAY_ADDRESS') or 'auto'}: {exc}",
            hint="start one with `ray start --head`, check --ray-address, or leave it out for a local instance",
        ) from exc
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"ray.init failed: {exc}", hint="check --ray-address (e.g. auto or ray://HOST:10001)") \
            from exc
    _connected = address or "local"


def check_ray_resources(cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0) -> None:
    """Fail fast when no live node of the cluster can hold one trial: Ray would queue it forever.

    Call it once after :func:`ray_init`. An autoscaling cluster may add a fitting node later; this
    check only looks at the nodes there now.
    """
    from hposweep.execution.executors.ray.actor import import_ray

    ray = import_ray()
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if not nodes or any(r.get("CPU", 0) >= cpus_per_trial and r.get("GPU", 0) >= gpus_per_trial for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)))
    raise ConfigError(
        f"no node of the Ray cluster has {cpus_per_trial:g} CPU(s) and {gpus_per_trial:g} GPU(s) for one trial "
        f"(the largest has {largest.get('CPU', 0):g} CPU(s), {largest.get('GPU', 0):g} GPU(s))",
        hint="lower --cpus-per-trial/--gpus-per-trial, or add a node that has them",
    )


def _check_reachable(address: str | None, timeout: float = 3.0) -> None:
    """A ``host:port`` (or ``ray://host:port``) nobody listens on: say so now.

    Ray itself retries such an address for minutes, printing connection warnings.
    """
    if address is None or address in ("auto", "local"):
        return
    scheme, sep, rest = address.partition("://")
    if sep and scheme != "ray":
        return
    target = rest if sep else address
    host, colon, port = target.rpartition(":")
    if not colon or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
            hint="check --ray-address (the head node's GCS port, usually 6379, or ray://HOST:10001), "
                 "or use --ray-address auto on a node of the cluster",
        ) from exc


def ray_connected() -> str | None:
    """The address :func:`ray_init` connected to, or None if it was not called."""
    return _connected


def ray_shutdown() -> None:
    """Disconnect (and stop a local instance this process started). Safe without Ray or a connection."""
    global _connected
    if _connected is None:
        return
    _connected = None
    try:
        import ray
    except ImportError:
        return
    ray.shutdown()


__all__ = ["EXECUTORS", "check_ray_resources", "make_trial_process", "ray_connected", "ray_init", "ray_shutdown"]
