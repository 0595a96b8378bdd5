"""Layer 4: the static HTML report (``hposweep report``)."""

from hposweep.report.page import build_sections, render_report, write_report

__all__ = ["build_sections", "render_report", "write_report"]
