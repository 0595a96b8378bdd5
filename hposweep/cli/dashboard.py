"""The ``dashboard`` command: check the extra is installed, then hand over to :mod:`hposweep.dashboard.server`."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from hposweep.errors import ConfigError

INSTALL_HINT = 'pip install "hposweep[dashboard]"'
#: what the extra brings (plotly for plotly.js, served from the package: nothing is fetched)
NEEDED = ("starlette", "uvicorn", "plotly")


def dashboard(
    targets: Annotated[list[str] | None, typer.Argument(
        help="Study JSON files or folders holding studies (default: this folder).", show_default=False)] = None,
    port: Annotated[int, typer.Option("--port", "-p", metavar="PORT", help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind. Anything but loopback requires a token (printed at start).")] = "127.0.0.1",
    allow_write: Annotated[bool, typer.Option(
        "--allow-write", help="Allow enqueueing params, notes on trials and stopping running trials.")] = False,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="HPOSWEEP_DASHBOARD_TOKEN",
        help="Require this token on every request (default: a new one, when --host is not loopback).")] = None,
) -> None:
    """Serve a live web dashboard of studies: progress, figures, trials, logs; updates as trials finish.

    Read-only unless --allow-write. Needs the optional extra: pip install "hposweep[dashboard]".
    Example: hposweep dashboard runs/ --port 8080
    """
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"the dashboard needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                          "not installed", hint=INSTALL_HINT)
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {port}")
    from hposweep.dashboard.server import serve

    serve(list(targets or ["."]), host=host, port=port, allow_write=allow_write, token=token)
