"""The ``report`` command: find the study, hand it to :mod:`hposweep.report`, say where the page went."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from hposweep.cli.format import err
from hposweep.cli.options import MaybeStudyFile
from hposweep.study.discovery import choose_checkpoint


def report(
    checkpoint: MaybeStudyFile = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE", help="HTML file to write.")] = "report.html",
    title: Annotated[str | None, typer.Option("--title", metavar="TEXT", help="Title of the report.")] = None,
) -> None:
    """Write a self-contained HTML report (opens offline): history, importances, slices, contours, curves, trials.

    Needs the optional extra: pip install "hposweep[report]".
    Example: hposweep report runs/sweep.json -o report.html
    """
    from hposweep.report.page import write_report
    from hposweep.study.api import Study

    choice = choose_checkpoint(checkpoint)
    if choice.chosen:
        err(choice.announcement())
    path = choice.path
    study = Study.load(path, readonly=True)
    size = write_report(study, output, title=title or f"Sweep report: {os.path.basename(path)}")
    err(f"[hposweep] wrote {output} ({size / 1024:.0f} KiB); open it in a browser, no network needed")
