"""Write a hposweep study as an Optuna journal file, without Optuna installed.

Optuna's ``JournalFileBackend`` stores a study as one JSON object per line, each an *operation*
(``op_code``) that its ``JournalStorage`` replays on open. Writing those lines ourselves means an export
needs no Optuna: a user opens the file with ``optuna.load_study``, optuna-dashboard or
``optuna.visualization``, and hposweep keeps Optuna out of its dependencies.

The lines we write (the op codes and fields are Optuna's, checked against Optuna 5.0):

* ``CREATE_STUDY`` (0): the study name and directions (Optuna's ``StudyDirection``: MINIMIZE 1,
  MAXIMIZE 2);
* ``SET_STUDY_USER_ATTR`` (2) / ``SET_STUDY_SYSTEM_ATTR`` (3): one key each line; the metric names go
  where ``study.set_metric_names`` puts them (``study:metric_names``), the hposweep space and settings
  in ``hposweep:*`` system attributes so an import restores what Optuna has no word for (conditions,
  fixed parameters, non-scalar choices);
* ``CREATE_TRIAL`` (4) with a whole trial (state, values, params in Optuna's internal form,
  distributions, intermediate values, attributes, times), as ``study.add_trial`` writes it: one line
  per trial.

How hposweep's model maps onto Optuna's:

* float / int ranges -> ``FloatDistribution`` / ``IntDistribution`` with ``log`` and ``step`` (an int
  without a step has Optuna's step 1);
* categorical -> ``CategoricalDistribution``; a choice that is not None/bool/int/float/str (a list, a
  mapping) is passed as its JSON text, and the import turns it back;
* fixed -> a categorical of one choice, so the value still shows in Optuna's tables;
* conditions -> nothing: a parameter whose condition does not hold is absent from the trial, which is
  how Optuna records a define-by-run branch;
* states: running, complete, pruned, failed map to Optuna's of the same name; interrupted (hposweep
  re-runs it) becomes FAIL with ``hposweep:state = interrupted`` in the system attributes.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import tempfile
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from hposweep.core.objectives import metric_names
from hposweep.core.space import CategoricalParam, FixedParam, FloatParam, IntParam, Param, value_key
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError
from hposweep.study.api import Study

# Optuna's JournalOperation and enums (optuna/storages/journal/_storage.py, optuna/trial/_state.py,
# optuna/study/_study_direction.py): integers in the file, so they are part of the format.
OP_CREATE_STUDY = 0
OP_SET_STUDY_USER_ATTR = 2
OP_SET_STUDY_SYSTEM_ATTR = 3
OP_CREATE_TRIAL = 4

OPTUNA_DIRECTION = {"minimize": 1, "maximize": 2}
OPTUNA_STATE = {
    TrialState.RUNNING: 0,
    TrialState.COMPLETE: 1,
    TrialState.PRUNED: 2,
    TrialState.FAILED: 3,
    TrialState.INTERRUPTED: 3,
}

#: system attributes of the exported study and trials (``hposweep:`` keys are ours; Optuna ignores them)
SPACE_ATTR = "hposweep:space"
SETTINGS_ATTR = "hposweep:settings"
STUDY_ID_ATTR = "hposweep:study_id"
SEARCH_ATTR = "hposweep:search"
STATE_ATTR = "hposweep:state"
INFO_ATTR = "hposweep:info"
ADDED_ATTRS = "hposweep:added_user_attrs"
#: user attributes the export adds to each trial (visible in optuna-dashboard's trial page)
COMMAND_ATTR = "command"
LOG_ATTR = "log_path"

_SCALAR = (str, int, float, bool, type(None))


def optuna_choice(value: Any) -> Any:
    """A categorical choice as Optuna can store it: scalars as they are, anything else as JSON text."""
    if isinstance(value, _SCALAR) and not (isinstance(value, float) and not math.isfinite(value)):
        return value
    return json.dumps(value, sort_keys=True)


def distribution_of(param: Param) -> dict[str, Any]:
    """The Optuna distribution of a parameter, as ``distribution_to_json`` spells it (a dict here)."""
    if isinstance(param, FloatParam):
        step = float(param.step) if param.step is not None else None
        attrs: dict[str, Any] = {"step": step, "low": float(param.low), "high": float(param.high), "log": param.log}
        return {"name": "FloatDistribution", "attributes": attrs}
    if isinstance(param, IntParam):
        step = int(param.step) if param.step is not None else 1
        attrs = {"log": param.log, "step": step, "low": int(param.low), "high": int(param.high)}
        return {"name": "IntDistribution", "attributes": attrs}
    if isinstance(param, CategoricalParam):
        return {"name": "CategoricalDistribution", "attributes": {"choices": [optuna_choice(c) for c in param.choices]}}
    if isinstance(param, FixedParam):
        return {"name": "CategoricalDistribution", "attributes": {"choices": [optuna_choice(param.value)]}}
    raise ConfigError(f"parameter kind {param.type!r} has no Optuna distribution", param=param.name)


def internal_value(param: Param, value: Any) -> float:
    """A value in Optuna's internal representation: the number itself, or the index of the choice."""
    if isinstance(param, (FloatParam, IntParam)):
        return float(value)
    choices = param.choices if isinstance(param, CategoricalParam) else (param.value,)  # type: ignore[attr-defined]
    key = value_key(value)
    for i, choice in enumerate(choices):
        if value_key(choice) == key:
            return float(i)
    raise ConfigError(f"value {value!r} is not one of the parameter's choices", param=param.name)


def iso_utc(timestamp: float) -> str:
    """A Unix time as Optuna writes trial times: ISO 8601 in UTC, to the microsecond."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="microseconds")


def command_text(info: Mapping[str, Any]) -> str | None:
    """The command a trial ran, as one shell line (argv joined with quoting, or the shell string)."""
    argv = info.get("argv")
    if isinstance(argv, list):
        return shlex.join(str(a) for a in argv)
    return argv if isinstance(argv, str) else None


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None


def trial_record(study: Study, trial: Trial, study_index: int = 0) -> dict[str, Any]:
    """The ``CREATE_TRIAL`` fields of one trial (without ``op_code``/``worker_id``)."""
    space = study.space
    params: dict[str, float] = {}
    dists: dict[str, str] = {}
    for name, value in trial.params.items():
        if name not in space:
            continue  # a parameter the space no longer has (an edited file): Optuna needs its distribution
        p = space[name]
        params[name] = internal_value(p, value)
        dists[name] = json.dumps(distribution_of(p))
    state = OPTUNA_STATE[trial.state]
    values: list[float] | None = None
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and trial.values:
        values = [float(v) for v in trial.values]
        if not all(math.isfinite(v) for v in values):
            values = None  # Optuna's COMPLETE needs finite values; a pruned trial may have none
    user_attrs: dict[str, Any] = {}
    for k, v in trial.user_attrs.items():
        user_attrs[k] = _finite_or_none(v) if isinstance(v, float) else v
    added = []
    cmd = command_text(trial.info)
    if cmd is not None and COMMAND_ATTR not in user_attrs:
        user_attrs[COMMAND_ATTR] = cmd
        added.append(COMMAND_ATTR)
    log = trial.info.get("log")
    if isinstance(log, str) and LOG_ATTR not in user_attrs:
        user_attrs[LOG_ATTR] = os.path.abspath(log)
        added.append(LOG_ATTR)
    system_attrs: dict[str, Any] = {STATE_ATTR: trial.state.value, INFO_ATTR: _json_safe(trial.info)}
    if added:
        system_attrs[ADDED_ATTRS] = added
    rec: dict[str, Any] = {
        "study_id": study_index,
        "datetime_start": iso_utc(trial.started_at) if trial.started_at is not None else None,
        "state": state,
        "value": None,
        "values": values,
        "distributions": dists,
        "params": params,
        "user_attrs": user_attrs,
        "system_attrs": system_attrs,
        "intermediate_values": {str(k): _finite_or_none(float(v)) for k, v in trial.intermediate.items()},
    }
    if trial.state is not TrialState.RUNNING:
        # Optuna reads the key's presence as "finished": a running trial must not have it at all.
        end = trial.finished_at if trial.finished_at is not None else trial.started_at
        if end is not None:
            rec["datetime_complete"] = iso_utc(end)
    return rec


def _json_safe(value: Any) -> Any:
    """Plain JSON: NaN/inf become None, tuples lists, unknown objects their text (other tools read the file too)."""
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, _SCALAR):
        return value
    return str(value)


def journal_lines(study: Study, study_name: str, study_path: str | None = None) -> list[dict[str, Any]]:
    """Every journal operation of the exported study, in order."""
    worker = f"hposweep-export-{uuid.uuid4()}-0"
    ops: list[dict[str, Any]] = [{
        "op_code": OP_CREATE_STUDY, "worker_id": worker, "study_name": study_name,
        "directions": [OPTUNA_DIRECTION[d] for d in study.directions],
    }]

    def system(key: str, value: Any) -> None:
        ops.append({"op_code": OP_SET_STUDY_SYSTEM_ATTR, "worker_id": worker, "study_id": 0,
                    "system_attr": {key: value}})

    names = metric_names(study.settings, len(study.directions))
    system("study:metric_names", names)
    system(SPACE_ATTR, study.space.to_json())
    system(SETTINGS_ATTR, _json_safe(study.settings))
    system(STUDY_ID_ATTR, study.study_id)
    system(SEARCH_ATTR, _json_safe({"sampler": study.sampler_spec, "pruner": study.pruner_spec, "seed": study.seed}))
    path = study_path or study.path
    if path:
        ops.append({"op_code": OP_SET_STUDY_USER_ATTR, "worker_id": worker, "study_id": 0,
                    "user_attr": {"hposweep_study": os.path.abspath(path)}})
    for trial in study.trials:
        ops.append({"op_code": OP_CREATE_TRIAL, "worker_id": worker, **trial_record(study, trial)})
    return ops


def default_study_name(study: Study, study_path: str | None = None) -> str:
    """The name the exported study gets unless one is given: the study file's name without ``.json``."""
    path = study_path or study.path
    if path:
        base = os.path.basename(path)
        return base[:-5] if base.endswith(".json") else base
    return f"hposweep-{study.study_id}"


def export_optuna(study: Study, output: str, *, study_name: str | None = None, overwrite: bool = False,
                  study_path: str | None = None) -> int:
    """Write ``study`` to ``output`` as an Optuna journal file; return the number of trials written.

    The file is written whole to a temporary file and renamed into place, so a reader never sees half
    of it. An existing file is refused unless ``overwrite``: appending to another journal could clash
    with a study of the same name there.
    """
    if os.path.exists(output) and not overwrite:
        raise ConfigError(f"{output} already exists", hint="choose another -o, or pass --overwrite")
    name = study_name or default_study_name(study, study_path)
    text = "".join(json.dumps(op, separators=(",", ":")) + "\n" for op in journal_lines(study, name, study_path))
    folder = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".hposweep-optuna-", dir=folder)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, output)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
    return len(study.trials)
