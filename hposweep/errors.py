"""Errors that reach the user as a clear message and an exit code, never as a traceback.

Every error hposweep raises on purpose derives from :class:`HposweepError`. The CLI catches that
one class, prints ``str(err)`` and exits with ``err.exit_code``. Anything else escaping is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1  # no trial completed, or the failure limit was hit
EXIT_USAGE = 2  # bad command line or configuration
EXIT_INTERRUPTED = 130


class HposweepError(Exception):
    """Base of all errors meant for the user. ``hint`` says how to fix it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(HposweepError):
    """A search-space file, a setting or a command line is wrong. Exit code 2.

    ``source``/``line``/``column``/``param`` locate the problem so the message can point at it.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        param: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.param = param
        where = ""
        if source:
            where = str(source)
            if line is not None:
                where += f":{line}"
                if column is not None:
                    where += f":{column}"
            where += ": "
        what = f"parameter '{param}': " if param else ""
        super().__init__(f"{where}{what}{message}", hint=hint)


class UsageError(ConfigError):
    """The command line itself is wrong (bad flag value, missing argument)."""


class CheckpointError(HposweepError):
    """A checkpoint cannot be read (corrupt, truncated, newer format). The file is never overwritten."""

    exit_code = EXIT_USAGE


class StudyError(HposweepError):
    """An API call that does not fit the study's state (tell twice, unknown trial, ...)."""

    exit_code = EXIT_USAGE


def did_you_mean(word: str, options: Iterable[Any], cutoff: float = 0.6) -> str | None:
    """``"did you mean 'float'?"`` for the option closest to ``word``, or None when none is close.

    One wording for every "unknown name" hint (parameter types, keys, priors, condition parents),
    so they read the same wherever the user meets them.
    """
    import difflib  # lazily: every command imports this module, few need a suggestion

    close = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else None
