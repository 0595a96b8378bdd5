"""What ``run`` checks and tidies around a new study's files: everything that can be refused is refused
before the first byte is written, and a sweep that stops on a configuration mistake leaves none.

A checkpoint left behind by a broken start makes the corrected command fail ("already exists, use
resume") and ``resume`` replay the broken settings, so the checks here run before ``Study.save``:
the trial command's program exists and can be run, its placeholders expand, and the sampler accepts
the space and the objectives. ``--force`` moves the old study aside with its trial folders and logs, and puts it back
when the new sweep never completed a trial.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from hposweep.cli.format import err
from hposweep.errors import HposweepError, UsageError
from hposweep.study.discovery import logs_dir_for, trials_dir_for


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
