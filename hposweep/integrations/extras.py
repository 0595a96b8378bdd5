"""Optional packages: import one, or say in one line which pip extra brings it.

Every integration goes through :func:`require`, so a missing package is always the same clear usage
error (exit 2) naming what to install, never an ``ImportError`` traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hposweep.errors import ConfigError


class MissingPackageError(ConfigError):
    """An optional package a feature needs is not installed. Exit code 2."""

    def __init__(self, package: str, install: str, feature: str) -> None:
        super().__init__(f"{feature} needs the package '{package}', which is not installed",
                         hint=f"pip install {install}")
        self.package = package
        self.install = install


def require(module: str, *, install: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingPackageError` telling to ``pip install {install}``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingPackageError(module.split(".")[0], install, feature) from None
