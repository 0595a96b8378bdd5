"""What ``run`` checks and tidies around a new study's files: everything that can be refused is refused
before the first byte is written, and a sweep that stops on a configuration mistake leaves none.

A checkpoint left behind by a broken start makes the corrected command fail ("already exists, use
resume") and ``resume`` replay the broken settings, so the checks here run before ``Study.save``:
the trial command's program exists and can be run, its placeholders expand, and the sampler accepts
the space and the objectives. ``--force`` moves the old study aside with its trial folders and logs, and puts it back
when the new sweep never completed a trial.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from typing import Any

from hposweep.cli.format import err
from hposweep.errors import HposweepError, UsageError
from hposweep.study.discovery import logs_dir_for, study_file, trials_dir_for


def spec_name(spec: Any) -> Any:
    """``grid`` for ``"grid"`` and for ``{name: grid, shuffle: false}``."""
    return spec.get("name") if isinstance(spec, dict) else spec


def check_sampler(space: Any, directions: list[str], spec: Any, seed: int | None) -> None:
    """Ask a throwaway in-memory study for one trial with the same sampler, space and objectives, so
    what only the sampler can refuse (``grid`` on a float range without a step, ``gp`` or ``cmaes``
    with several objectives, a missing optional package) fails before the checkpoint is written."""
    from hposweep.study.api import Study

    Study(space, directions=directions, sampler=spec, seed=seed).ask()


_SHELL_WORDS = frozenset(
    "! { } [ [[ . : alias break case cd command continue eval exec exit export for function if "
    "read readonly return set shift source test time trap type ulimit umask unset until wait while".split())


def check_command_found(command: list[str] | str, *, shell: bool) -> None:
    """The trial command's program exists and may be run, as the trials will look for it: a name
    without ``/`` on PATH, a path relative to the current folder (where trials run).

    With ``--shell`` only a plain first word is checked: a variable assignment, a shell keyword or
    builtin, or anything with quotes, ``$`` or a placeholder is left to the shell, which says so at
    the first trial (a false alarm here would refuse a valid command)."""
    import shlex

    if shell:
        text = command if isinstance(command, str) else " ".join(command)
        try:
            words = shlex.split(text)
        except ValueError:
            return
        if not words:
            return
        argv0 = words[0]
        if (argv0 in _SHELL_WORDS or "=" in argv0 or any(c in argv0 for c in "$`{}()<>|;&*?~\\'\"")
                or argv0 != text.split()[0]):
            return
    else:
        argv0 = command[0] if isinstance(command, list) else str(command)
        if "{" in argv0:
            return  # a placeholder: known only per trial
    if "/" in argv0:
        if not os.path.exists(argv0):
            raise UsageError(f"command not found: {argv0!r} (no such file, relative to {os.getcwd()})",
                             hint="check the path, or run it through an interpreter (python train.py)")
        if os.path.isdir(argv0) or not os.access(argv0, os.X_OK):
            raise UsageError(f"{argv0!r} is not executable",
                             hint=f"make it executable (chmod +x {shlex.quote(argv0)}) or run it through an "
                                  f"interpreter (python {shlex.quote(argv0)})")
        return
    if shutil.which(argv0) is None:
        hint = "check the spelling, give a path (./train.py), or run it through an interpreter (python train.py)"
        if os.path.exists(argv0):
            hint = (f"{argv0} is in this folder but not on PATH: write ./{argv0}, or run it through an "
                    f"interpreter (python {argv0})")
        raise UsageError(f"command not found: {argv0!r} (searched PATH)", hint=hint)


def discard_new_study(study: Any, checkpoint: str, backup: str | None) -> None:
    """A sweep that stopped on a configuration mistake before any trial completed leaves nothing
    behind (checkpoint, journal, lock, logs), so the corrected command runs as it is; the study that
    ``--force`` moved aside goes back in place."""
    from hposweep.study.storage import journal_path, lock_path

    study.close()
    for path in (checkpoint, journal_path(checkpoint), lock_path(checkpoint)):
        if os.path.exists(path):
            os.unlink(path)
    for folder in study_folders_of(checkpoint):
        if os.path.isdir(folder) and not os.path.islink(folder):
            shutil.rmtree(folder, ignore_errors=True)
    if backup is not None:
        os.replace(backup, checkpoint)
        if os.path.exists(journal_path(backup)):
            os.replace(journal_path(backup), journal_path(checkpoint))
        if any(os.path.isdir(f) for f in study_folders_of(backup)):
            _restore_folders(checkpoint, backup)
        err(f"[hposweep] no trial completed: the new study is removed and {checkpoint} is the old study again")
    else:
        err(f"[hposweep] no trial completed: removed {checkpoint} and its logs, so the corrected command "
            "can run as it is")


def study_folders_of(path: str) -> tuple[str, str]:
    """The folders that belong to the study at ``path`` and move with it: its trial folders and (older) logs."""
    return trials_dir_for(path), logs_dir_for(path)


def _restore_folders(checkpoint: str, backup: str) -> None:
    """Undo :func:`backup_study` for the trials and logs folders and the paths recorded in the study."""
    from hposweep.study.api import Study
    from hposweep.study.storage import lock_path

    pairs = list(zip(study_folders_of(backup), study_folders_of(checkpoint)))
    for before, after in pairs:
        if os.path.isdir(before):
            os.replace(before, after)
    try:
        old = Study.load(checkpoint, readonly=True)
    except HposweepError:
        return
    for before, after in pairs:
        _repoint_logs(old, before, after)
    old.save(checkpoint)
    old.close()
    if os.path.exists(lock_path(checkpoint)):
        os.unlink(lock_path(checkpoint))


def check_command_expands(opts: Any, space: Any) -> None:
    """Expand the command once with every parameter set, so a bad placeholder fails before anything
    is written (not at the first trial, after the checkpoint was created)."""
    from hposweep.execution.argv import build_argv, build_shell_command

    example = {}
    for p in space:
        example[p.name] = p.value if p.is_fixed else (p.choices[0] if p.type == "categorical" else p.low)
    if opts.shell:
        build_shell_command(opts.command, example, 0, opts.pass_mode, known=list(example))
    else:
        build_argv(opts.command, example, 0, opts.pass_mode, known=list(example))


def backup_study(path: str) -> str:
    """Move a study out of the way for ``--force``: its JSON, journal, trial folders and logs folder become
    ``PATH.bak-DATE``, ``PATH.bak-DATE.journal``, ``PATH.bak-DATE.trials/`` and ``PATH.bak-DATE.logs/``, and
    the backup's trials point at the moved files (log, trial folder, cwd), so ``hposweep show N PATH.bak-DATE``
    still shows the old run's output and files (the new sweep would otherwise write into ``000000/`` and the rest)."""
    from hposweep.study.storage import journal_path, lock_path

    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = f"{path}.bak-{stamp}"
    n = 1
    while os.path.exists(backup):
        n += 1
        backup = f"{path}.bak-{stamp}-{n}"
    pairs = list(zip(study_folders_of(path), study_folders_of(backup)))
    try:
        from hposweep.study.api import Study

        old = Study.load(path, readonly=True)
    except HposweepError:
        old = None  # unreadable: keep its bytes as they are
    if old is not None:
        for before, after in pairs:
            _repoint_logs(old, before, after)
        old.save(backup)
        old.close()
    else:
        shutil.copy2(path, backup)
        if os.path.exists(journal_path(path)):
            shutil.copy2(journal_path(path), journal_path(backup))
    if os.path.exists(journal_path(path)):
        os.unlink(journal_path(path))
    os.unlink(path)
    for before, after in pairs:
        if os.path.isdir(before):
            os.replace(before, after)
    if os.path.exists(lock_path(backup)) and old is not None:
        os.unlink(lock_path(backup))
    return backup


def _repoint_logs(study: Any, old_logs: str, new_logs: str) -> None:
    """Rewrite every path a trial recorded inside ``old_logs`` (its log, params and metrics files, its
    trial folder and a ``--trial-cwd`` cwd) to the same path under ``new_logs``; paths keep their form
    (relative stays relative)."""
    prefixes = {old_logs: new_logs, os.path.abspath(old_logs): os.path.abspath(new_logs)}
    for t in study.trials:
        for key, value in list(t.info.items()):
            if not isinstance(value, str):
                continue
            for before, after in prefixes.items():
                if value == before or value.startswith(before + os.sep):
                    t.info[key] = after + value[len(before):]
                    break


# --- flags that name no sensible value ---------------------------------------------------------------
#: the largest seed: checkpoints are JSON and other tools read 64-bit integers at most
MAX_SEED = 2**64 - 1


def check_seed(seed: Any, where: str = "--seed") -> None:
    """A seed is a whole number from 0 to 2**64-1 (numpy refuses negative ones; larger ones cannot be
    written to the checkpoint)."""
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"{where}: the seed must be a whole number, got {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"{where}: the seed must be from 0 to 2**64-1 ({MAX_SEED}), got {seed}")


def check_seconds(flag: str, value: float | None, *, positive: bool = False) -> None:
    """A number of seconds is finite and not negative (``positive``: above 0): a NaN grace never sends
    SIGKILL and a NaN or infinite lease never re-runs a lost trial, so neither may reach the runner."""
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "a positive" if positive else "0 or a positive"
        raise UsageError(f"{flag} must be {need} finite number of seconds, got {value!r}")


def check_new_checkpoint(path: str) -> None:
    """``--checkpoint`` names a file: not empty, not a folder (existing, or written with a trailing ``/``)."""
    if not path.strip():
        raise UsageError("--checkpoint is empty", hint="give the study file's name, e.g. --checkpoint runs/sweep.json")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise UsageError(f"--checkpoint {path!r} is a folder, not a file",
                         hint=f"name a file in it, e.g. --checkpoint {os.path.join(path, 'sweep.json')}")


# --- a checkpoint's recorded settings, before resume or worker write anything ------------------------
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def recorded_setting_problem(key: str, value: Any) -> str | None:
    """What is wrong with one recorded setting, or None. The checks mirror what the runner needs."""
    def seconds(positive: bool, optional: bool) -> str | None:
        if value is None and optional:
            return None
        if not _number(value) or not math.isfinite(value) or value < 0 or (positive and value == 0):
            return f"{'a positive' if positive else '0 or a positive'} finite number of seconds"
        return None

    if key == "command":
        if isinstance(value, str) and value.strip():
            return None
        if isinstance(value, list) and value and all(isinstance(a, str) for a in value):
            return None
        return "a non-empty string or list of strings"
    if key == "jobs":
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else \
            "a whole number, at least 1"
    if key == "max_failures":
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else \
            "a whole number, 0 or more"
    if key in ("timeout", "time_budget"):
        return seconds(True, True)
    if key in ("grace", "prune_grace"):
        return seconds(False, False)
    if key == "lease":
        return seconds(True, True)
    if key in ("cpus_per_trial", "gpus_per_trial"):
        return None if value is None or (_number(value) and math.isfinite(value) and value >= 0) else \
            "0 or a positive finite number"
    if key in ("shell", "group_writable"):
        return None if isinstance(value, bool) else "true or false"
    if key == "pass":
        return None if value in ("args", "hydra", "none") else "args, hydra or none"
    if key == "objective":
        return None if value in ("last", "best") else "last or best"
    if key == "executor":
        return None if value in (None, "local", "ray") else "local or ray"
    if key in ("metric_regex", "ray_address"):
        return None if value is None or isinstance(value, str) else "a string"
    if key == "gpus":
        return None if value is None or (isinstance(value, list) and all(isinstance(g, str) for g in value)) \
            else "a list of GPU ids (strings)"
    if key == "metrics":
        ok = isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("name"), str)
                                                        for m in value)
        return None if ok else "a list of {name: ..., direction: ...}"
    if key == "trials":
        return None if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0) \
            else "a whole number"
    return None


def check_recorded_settings(study: Any) -> None:
    """Every setting ``resume`` and ``worker`` run trials with has the type the runner needs, and a
    shell command is a string: checked on the study loaded read-only, so a hand-edited or crafted
    checkpoint is refused (exit 2) before anything is written, not after resume has started."""
    from hposweep.errors import CheckpointError

    settings = study.settings
    if not isinstance(settings, dict):
        raise CheckpointError(f"{study_file(study)}: the checkpoint's settings are not a mapping")
    if not settings.get("command"):
        raise UsageError(f"{study_file(study)} records no command (was it made with the Python API?)")
    for key, value in settings.items():
        need = recorded_setting_problem(key, value)
        if need is not None:
            raise CheckpointError(
                f"{study_file(study)}: the recorded setting {key!r} is {value!r} ({type(value).__name__}); "
                f"it must be {need}",
                hint="the checkpoint was edited or damaged; fix that field, or start a new study "
                     "(nothing was written)")
    if settings.get("shell") and not isinstance(settings["command"], str):
        raise CheckpointError(f"{study_file(study)}: the recorded command is a list, but the study runs it through "
                              "the shell (shell: true), which takes one string",
                              hint="fix the checkpoint's command or shell field (nothing was written)")


def check_queue(study: Any) -> None:
    """Every queued set of params fits the space. Refused rather than dropped: the queue is what someone
    asked to run next (``enqueue``, or the re-run of an interrupted trial), so running something else
    silently would be wrong, and the message says which entry to fix."""
    from hposweep.errors import CheckpointError

    for i, entry in enumerate(study.queue):
        params = entry.get("params") or {}
        what = (f"the queued re-run of trial {entry['rerun_of']}" if entry.get("rerun_of") is not None
                else f"queue entry {i}")
        for name, value in params.items():
            problem = None
            if name not in study.space:
                problem = f"parameter {name!r} is not in the space"
            else:
                try:
                    inside = study.space[name].contains(value)
                except (TypeError, ValueError):
                    inside = False
                if not inside:
                    problem = f"parameter {name!r} = {value!r} is outside the space"
            if problem:
                raise CheckpointError(f"{study_file(study)}: {what}: {problem}",
                                      hint="fix or remove that entry of the checkpoint's queue (nothing was written)")


# --- who holds a study ---------------------------------------------------------------------------------
def describe_holders(holders: list[dict[str, Any]]) -> str:
    """``host node1, pid 4242 (trial 3, last heartbeat 2s ago)``; the lock's holder when that is all we know."""
    from hposweep.study.discovery import fmt_age

    parts = []
    for h in holders:
        if "lock" in h:
            who = f"host {h['host']}, pid {h['pid']}" if h.get("host") else "another process"
            parts.append(f"{who} holds its lock {h['lock']} now")
            continue
        trials = h.get("trials") or []
        label = "trial" if len(trials) == 1 else "trials"
        age = h.get("heartbeat_age")
        beat = f"last heartbeat {fmt_age(age)} ago" if age is not None else "no heartbeat yet"
        parts.append(f"host {h.get('host') or '?'}, pid {h.get('pid') or '?'} "
                     f"({label} {', '.join(map(str, trials))}, {beat})")
    return "; ".join(parts)


def prepare_logs_folder(checkpoint: str, group_writable: bool) -> None:
    """With ``--group-writable`` the trial folders' root is made group-writable and setgid (what is made in it
    keeps the folder's group), so another member's worker can write the next trials' folders and logs."""
    if not group_writable:
        return
    import stat

    logs = trials_dir_for(checkpoint)
    os.makedirs(logs, exist_ok=True)
    mode = stat.S_IMODE(os.stat(logs).st_mode)
    os.chmod(logs, mode | stat.S_IRWXG | stat.S_ISGID)


def command_overrides(opts: Any, space: Any) -> list[tuple[str, str]]:
    """(parameter, the command's token that already sets it) for every parameter the user's command sets
    itself, while hposweep would append its own value too (``-- python train.py --epochs 3`` with ``epochs``
    in the space runs ``--epochs 3 ... --epochs=10``, and which one wins is up to the program).

    For a command hposweep appends to (``--pass args`` or ``hydra``) and for a template with ``{args}`` or
    ``{args_no_hyphens}``: ``--name``, ``--name=...`` (and the same with ``-``/``_`` swapped, argparse's ``dest``
    rule) for args; ``name=...`` and ``+name=...`` for Hydra overrides. A ``--shell`` string is split the way the
    shell would.
    """
    import shlex

    from hposweep.execution.argv import is_template

    try:
        tokens = shlex.split(opts.command) if isinstance(opts.command, str) else list(opts.command)
    except ValueError:
        return []
    if is_template(opts.command):  # only ``{args}`` / ``{args_no_hyphens}`` append every parameter
        styles = {"args" for t in tokens if t in ("{args}", "{args_no_boolean_flags}")}
        styles |= {"hydra" for t in tokens if t == "{args_no_hyphens}"}
    else:
        styles = {opts.pass_mode} & {"args", "hydra"}
    if not styles:
        return []
    found: list[tuple[str, str]] = []
    for p in space:
        spellings = {p.name, p.name.replace("_", "-"), p.name.replace("-", "_")}
        for token in tokens[1:]:
            if "{" in token:  # ``--aug={aug}``: the same value hposweep passes, written by the user on purpose
                continue
            head = token.split("=", 1)[0]
            hit = "args" in styles and head.startswith("--") and head[2:] in spellings
            hit = hit or ("hydra" in styles and "=" in token and head.lstrip("+~") in spellings)
            if hit:
                found.append((p.name, token))
                break
    return found


def check_overrides(opts: Any, space: Any, *, allow: bool) -> list[str]:
    """Refuse (exit 2, before anything is written) a command that sets a parameter of the space itself, unless
    ``--allow-override``; with it, the lines that say which (for the start of the sweep and ``--dry-run``)."""
    found = command_overrides(opts, space)
    if not found:
        return []
    said = ", ".join(f"'{name}' (the command has {token!r})" for name, token in found)
    if not allow:
        raise UsageError(
            f"the command already sets {plural_params(len(found))} of the space: {said}; every trial would pass "
            "both the command's value and hposweep's, and which one wins depends on the program",
            hint="remove it from the command (or from the space), or add --allow-override if that is what you mean",
        )
    return [f"--allow-override: the command's own value of {name!r} ({token}) is passed before hposweep's"
            for name, token in found]


def plural_params(n: int) -> str:
    return "a parameter" if n == 1 else f"{n} parameters"


def replace_held_study(checkpoint: str, *, takeover: bool) -> None:
    """``run --force`` over a study that a live worker runs (its lock is held, or its trials' heartbeats are
    fresh) is refused, saying who; with ``--takeover`` the study starts a new generation first, so those
    workers stop at their next write instead of writing the old command's results into the new study."""
    from hposweep.errors import CheckpointError
    from hposweep.study.api import Study
    from hposweep.study.discovery import live_holders

    try:
        old = Study.load(checkpoint, readonly=True)
    except CheckpointError:
        return  # unreadable: nobody can be running it; backup_study keeps its bytes
    holders = live_holders(old)
    if not holders:
        return
    who = describe_holders(holders)
    if not takeover:
        raise UsageError(
            f"--force: {checkpoint} is in use by a live hposweep process: {who}",
            hint="stop it first, or add --takeover to replace the study anyway (that process stops at its next "
                 "write and records nothing in the new study)",
        )
    attached = Study.load(checkpoint, recover=False)
    attached.take_over()
    attached.close()
    err(f"[hposweep] took over {checkpoint} from {who}; that process stops at its next write")
