"""Run trials as Ray actors: the process runs on a cluster node, the driver keeps everything else.

Split of work (:mod:`.actor` runs on the node, :mod:`.driver` in hposweep):

* **Remote** (:class:`TrialActor`, one Ray actor per trial, holding ``--cpus-per-trial`` /
  ``--gpus-per-trial``): spawns the command with :class:`~hposweep.execution.executors.local.TrialProcess` (own
  process group, timeout, SIGTERM/grace/SIGKILL, leftover members), but does *not* parse anything:
  it hands the raw output chunks and the new bytes of the trial's metrics file to the driver.
* **Driver** (:class:`RayTrialProcess`, the ``TrialProcess`` interface the runner uses): writes
  the log file locally and parses the output with the same :class:`~hposweep.execution.metrics.MetricParser`
  and :class:`~hposweep.execution.metrics.MetricsFileTailer` as a local trial, so a sweep reads the same
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
remote class is plain Python until :func:`.actor.actor_class` wraps it with ``ray.remote``.
"""

from __future__ import annotations

from hposweep.execution.executors.ray.actor import INSTALL_HINT, TrialActor, import_ray, merge_env
from hposweep.execution.executors.ray.driver import RayTrialProcess, wait_any

__all__ = ["INSTALL_HINT", "RayTrialProcess", "TrialActor", "import_ray", "merge_env", "wait_any"]
