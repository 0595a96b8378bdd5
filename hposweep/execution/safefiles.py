"""Files hposweep writes where someone else may have planted a link: opened without following symlinks."""

from __future__ import annotations

import errno
import os
import stat
from typing import IO

from hposweep.errors import ConfigError


def open_nofollow(path: str | os.PathLike[str], *, append: bool = False) -> IO[bytes]:
    """Open ``path`` for writing (truncated, or appended to) without following a symlink at it.

    A log or params file is written where another user may have planted a link (a shared logs
    folder): following it would overwrite whatever it points at. A symlink, or anything that is not
    a regular file, is refused with a :class:`ConfigError` that names it.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    where = os.fspath(path)
    try:
        fd = os.open(where, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(where):
            raise ConfigError(f"refusing to write {where}: it is a symbolic link",
                              hint="remove the link (hposweep never writes through one), or use another --logs-dir") \
                from None
        raise ConfigError(f"cannot write {where}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):  # a file, or /dev/null
            raise ConfigError(f"refusing to write {where}: it is not a regular file",
                              hint="remove it, or use another --logs-dir")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "ab" if append else "wb")


def make_trial_dir(path: str | os.PathLike[str]) -> str:
    """Create a trial's own folder (and its parents); refuse one that is a symbolic link or not a folder.

    The trial's log and params are written inside it with :func:`open_nofollow`, which checks only the
    file's own name: a link planted at the folder itself would still redirect them, so it is refused here.
    """
    where = os.fspath(path)
    os.makedirs(os.path.dirname(where) or ".", exist_ok=True)
    try:
        os.mkdir(where, 0o777)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the trial folder {where}: {exc.strerror or exc}") from None
    st = os.lstat(where)
    if stat.S_ISLNK(st.st_mode):
        raise ConfigError(f"refusing to use {where}: it is a symbolic link",
                          hint="remove the link (hposweep never writes through one)")
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"refusing to use {where}: it is not a folder", hint="remove it")
    return where
