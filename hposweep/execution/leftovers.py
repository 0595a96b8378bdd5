"""Trials whose processes may outlive the hposweep that ran them, found and stopped when the study resumes.

Each trial's info records its process (:func:`hposweep.execution.processes.process_record`: pid,
process group, host, boot, start time, token). When hposweep was SIGKILLed, its trials' groups live
on; ``resume`` loads the study (which marks them interrupted) and the runner, before starting
anything, stops those still running on this host, checking that each is the same process (its start
time) so that a re-used pid is never signalled. A trial that ran on another host is only mentioned:
its processes may still run there.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from hposweep.core.trial import TrialState
from hposweep.execution.processes import find_leftovers, has_proc, process_table, stop_processes

#: the reason :meth:`Study.recover_running` gives a trial whose hposweep died
_DIED = "its process died"


def stop_leftovers(study: Any, say: Callable[[str], None], *, grace: float = 5.0) -> list[int]:
    """Stop what is left of interrupted trials on this host; return the numbers of trials that had some."""
    records = [(t, t.info.get("process")) for t in study.trials
               if t.state is TrialState.INTERRUPTED and isinstance(t.info.get("process"), dict)
               and not t.info.get("leftovers_checked")]
    if not records:
        return []
    here = socket.gethostname()
    table = process_table() if has_proc() else {}
    stopped = []
    for trial, record in records:
        assert isinstance(record, dict)
        if record.get("host") != here:
            if trial.info.get("reason") == _DIED:
                say(f"trial {trial.number} ran on host {record.get('host')} (pid {record.get('pid')}, "
                    f"process group {record.get('pgid')}): its processes may still run there")
            continue
        found = find_leftovers(record, table)
        if found:
            pids = ", ".join(str(p) for p in sorted(found))
            say(f"trial {trial.number}: stopping {len(found)} leftover process{'es' if len(found) != 1 else ''} "
                f"of its previous run (pid {pids}; process group {record.get('pgid')})")
            stop_processes(found, grace)
            stopped.append(trial.number)
        try:
            study.update_info(trial, leftovers_checked=True)
        except Exception:  # noqa: BLE001 - the check is best effort; it repeats on the next resume
            pass
    return stopped
