"""A self-contained HTML report of a study: one file that opens offline and fetches nothing.

The sections (``sections.py``) and their figures (plotly.js figure dicts) become one page here.
plotly's Python package is only needed for the plotly.js bundle, which is embedded inline once
(about 4.8 MB) so that the file can be mailed, archived as a CI artifact or opened on a plane. The
page's CSS and JavaScript are package files (``assets/``), inlined for the same reason.
"""

from __future__ import annotations

import html
import json
import os
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from hposweep.errors import ConfigError, HposweepError
from hposweep.report.format import clean
from hposweep.report.sections import Card, Facts, Section, Table, build_sections
from hposweep.report.style import PLOT_CONFIG, Figure

if TYPE_CHECKING:
    from hposweep.study.api import Study

__all__ = ["build_sections", "render_report", "write_report", "INSTALL_HINT"]

INSTALL_HINT = 'pip install "hposweep[report]"   (or just: pip install plotly)'


def asset(name: str) -> str:
    """The text of a file in ``hposweep/report/assets`` (shipped in the wheel)."""
    return resources.files("hposweep.report").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ConfigError(
            "the HTML report needs plotly (for its charting library), which is not installed",
            hint=INSTALL_HINT,
        ) from None
    return get_plotlyjs()


def _script_json(obj: Any) -> str:
    """JSON that can sit inside a <script> element: no '</' can close it early."""
    return json.dumps(clean(obj), separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def facts_html(facts: Facts) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in facts)
    return f'<table class="kv">{body}</table>'


def cards_html(cards: list[Card]) -> str:
    inner = "".join(f'<div class="card"><h3>{_esc(c.title)}</h3>{facts_html(c.facts)}</div>' for c in cards)
    return f'<div class="cards">{inner}</div>'


def table_html(table: Table) -> str:
    head = "".join(f'<th data-col="{i}">{_esc(c)}</th>' for i, c in enumerate(table.columns))
    body = []
    for state, cells in table.rows:
        tds = "".join(f'<td data-v="{_esc(key)}">{_esc(shown)}</td>' for shown, key in cells)
        body.append(f'<tr class="st-{_esc(state)}">{tds}</tr>')
    return (f'<div class="scroll"><table class="trials sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def section_html(sec: Section, figs: dict[str, Figure]) -> str:
    """One <section>; its figures are registered in ``figs`` under the ids of their placeholders."""
    parts = [f'<section id="{_esc(sec.id)}"><h2>{_esc(sec.title)}</h2>']
    parts += [f'<p class="note">{_esc(n)}</p>' for n in sec.notes]
    divs = []
    for k, fig in enumerate(sec.figures):
        fid = f"fig-{sec.id}-{k}"
        figs[fid] = fig
        divs.append(f'<div class="fig" id="{_esc(fid)}"></div>')
    if divs:
        parts.append(f'<div class="grid">{"".join(divs)}</div>' if sec.grid else "".join(divs))
    if sec.facts:
        parts.append(facts_html(sec.facts))
    if sec.cards:
        parts.append(cards_html(sec.cards))
    if sec.table is not None:
        parts.append(table_html(sec.table))
    parts.append("</section>")
    return "".join(parts)


def render_report(study: Study, *, title: str | None = None) -> str:
    """The report as one HTML string (plotly.js inline; nothing is fetched when it is opened)."""
    plotly_js = _plotly_js()
    sections = build_sections(study)
    title = title or _default_title(study)
    figs: dict[str, Figure] = {}
    body = "".join(section_html(sec, figs) for sec in sections)
    nav = "".join(f'<a href="#{_esc(s.id)}">{_esc(s.title.split(" (")[0])}</a>' for s in sections)
    subtitle = f"hposweep report, generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{asset('report.css')}</style>",
        f'<script type="text/javascript">{plotly_js}</script></head><body>',
        f"<header><h1>{_esc(title)}</h1><p>{_esc(subtitle)}</p></header>",
        f"<nav>{nav}</nav><main>{body}</main>",
        f'<script type="application/json" id="hposweep-figures">{_script_json(figs)}</script>',
        f'<script type="application/json" id="hposweep-config">{_script_json(PLOT_CONFIG)}</script>',
        f"<script>{asset('report.js')}</script>",
        "</body></html>\n",
    ])


def _default_title(study: Study) -> str:
    if study.path:
        return f"Sweep report: {os.path.basename(study.path)}"
    return "Sweep report"


def write_report(study: Study, path: str | os.PathLike[str], *, title: str | None = None) -> int:
    """Write the report to ``path`` (atomically: a temp file then a rename) and return its size in bytes.

    Raises :class:`ConfigError` when plotly is missing, :class:`HposweepError` when the file cannot be
    written (with the OS reason), never a traceback for those.
    """
    text = render_report(study, title=title).encode("utf-8")
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise HposweepError(f"cannot write the report to {path}: {exc.strerror or exc}",
                            hint="check that the folder exists and is writable") from None
    return len(text)
