"""The ``hposweep`` executable. ``best`` takes a fast path that never imports typer.

``hposweep best`` is the command scripts call in a loop (``python train.py $(hposweep best --format
args)``), so its start-up matters: typer and click cost more than loading a 1,000-trial study. The
fast path handles exactly the documented flags; anything else (``--help``, a typo) goes through the
full CLI, so behaviour and messages stay the same.
"""

from __future__ import annotations

import sys

from hposweep.execution.environment import limit_blas_threads


def _parse_best(args: list[str]) -> tuple[str | None, str, str | None, str, bool] | None:
    path: str | None = None
    fmt, pick, prefix, robust = "table", None, "", False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--robust":
            robust = True
            i += 1
            continue
        if a in ("--format", "-f", "--pick", "--prefix") and i + 1 < len(args):
            if a == "--pick":
                pick = args[i + 1]
            elif a == "--prefix":
                prefix = args[i + 1]
            else:
                fmt = args[i + 1]
            i += 2
            continue
        if a.startswith("--format="):
            fmt = a.split("=", 1)[1]
        elif a.startswith("--pick="):
            pick = a.split("=", 1)[1]
        elif a.startswith("--prefix="):
            prefix = a.split("=", 1)[1]
        elif a.startswith("-") or path is not None:
            return None  # --help, unknown flags, extra arguments: the full CLI says what is wrong
        else:
            path = a
        i += 1
    return path, fmt, pick, prefix, robust


def main() -> None:
    limit_blas_threads()
    args = sys.argv[1:]
    if args[:1] == ["best"]:
        parsed = _parse_best(args[1:])
        if parsed is not None:
            from hposweep.errors import HposweepError

            try:
                from hposweep.cli.inspect import open_study, print_best

                path, fmt, pick, prefix, robust = parsed
                study, choice = open_study(path)
                code = print_best(study, fmt, pick, prefix=prefix, choice=choice, robust=robust)
            except HposweepError as exc:
                sys.stderr.write(f"error: {exc}\n")
                sys.exit(exc.exit_code)
            except BrokenPipeError:
                sys.exit(0)
            sys.exit(code)
    from hposweep.cli.app import main as cli_main

    cli_main()
