"""The HTML report (offline, valid, renders for odd studies) and the terminal summary helpers."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hposweep.core.space import CategoricalParam, Condition, FixedParam, FloatParam, IntParam, SearchSpace
from hposweep.errors import ConfigError, HposweepError
from hposweep.study.api import Study
from hposweep.study.summary import (
    convergence_sparkline,
    importance_lines,
    metric_names,
    sparkline,
)

# --- studies ---------------------------------------------------------------------------------------


def rich_study(n: int = 40, seed: int = 0) -> Study:
    """Log, categorical, conditional, stepped and fixed params; complete, pruned and failed trials with curves."""
    space = SearchSpace([
        FloatParam("lr", low=1e-5, high=1e-1, log=True),
        CategoricalParam("optimizer", choices=("adam", "sgd")),
        FloatParam("momentum", low=0.0, high=0.99, when=(Condition("optimizer", ("sgd",)),)),
        IntParam("layers", low=1, high=6),
        FloatParam("dropout", low=0.0, high=0.5, step=0.05),
        FixedParam("epochs", value=10),
    ])
    study = Study(space, direction="minimize", sampler="random", seed=seed,
                  settings={"metric": "val_loss", "trials": n})
    for i in range(n):
        t = study.ask()
        p = t.params
        final = 0.3 + 0.15 * (math.log10(p["lr"]) + 3) ** 2 + 0.05 * abs(p["layers"] - 3)
        final += 0.2 * abs(p["momentum"] - 0.9) if p["optimizer"] == "sgd" else 0.05
        if i % 9 == 4:
            study.tell(t, state="failed", info={"reason": "exit code 1"})
            continue
        for step in range(1, 6):
            study.report(t, step, final + math.exp(-step / 2))
            if step == 2 and final > 0.8:
                break
        if final > 0.8:
            study.tell(t, state="pruned")
        else:
            study.tell(t, final, user_attrs={"acc": 1 - final})
    return study


def small_space() -> SearchSpace:
    return SearchSpace([FloatParam("x", low=0.0, high=1.0), IntParam("n", low=1, high=4)])


def zero_trials() -> Study:
    return Study(small_space(), sampler="random", seed=0)


def only_failed() -> Study:
    study = Study(small_space(), sampler="random", seed=0)
    for _ in range(3):
        study.tell(study.ask(), state="failed")
    return study


def single_trial() -> Study:
    study = Study(small_space(), sampler="random", seed=0)
    study.tell(study.ask(), 1.5)
    return study


def all_categorical() -> Study:
    space = SearchSpace([
        CategoricalParam("act", choices=("relu", "gelu", "tanh")),
        CategoricalParam("norm", choices=(True, False, None)),
        CategoricalParam("width", choices=(64, 128, 256)),
    ])
    study = Study(space, direction="maximize", sampler="random", seed=1)
    for _ in range(25):
        t = study.ask()
        study.tell(t, (t.params["act"] == "gelu") + 0.1 * (t.params["width"] == 256))
    return study


def all_pruned() -> Study:
    study = Study(small_space(), sampler="random", seed=2)
    for _ in range(6):
        t = study.ask()
        study.report(t, 1, t.params["x"])
        study.tell(t, state="pruned")
    return study


def only_fixed() -> Study:
    study = Study(SearchSpace([FixedParam("epochs", value=3)]), sampler="random", seed=0)
    for v in (1.0, 2.0):
        study.tell(study.ask(), v)
    return study


def multi(m: int, n: int = 30) -> Study:
    space = SearchSpace([FloatParam("x", low=0.0, high=1.0), FloatParam("y", low=0.0, high=1.0)])
    dirs = ["minimize", "minimize", "maximize"][:m]
    study = Study(space, directions=dirs, sampler="random", seed=3,
                  settings={"metrics": [{"name": nm, "direction": d} for nm, d in zip(["loss", "size", "acc"], dirs)]})
    for _ in range(n):
        t = study.ask()
        x, y = t.params["x"], t.params["y"]
        study.tell(t, [x, 1 - x + 0.3 * y, y][:m])
    return study


def mixed_categorical() -> Study:
    """A categorical next to a numeric parameter: contour pairs with it are drawn as heatmaps of cells."""
    space = SearchSpace([CategoricalParam("opt", choices=("adam", "sgd", "rms")), FloatParam("lr", low=1e-4, high=1.0,
                         log=True), CategoricalParam("act", choices=("relu", "gelu"))])
    study = Study(space, sampler="random", seed=4)
    for _ in range(30):
        t = study.ask()
        study.tell(t, (5.0 if t.params["opt"] == "sgd" else t.params["lr"]) + (t.params["act"] == "gelu"))
    return study


STUDIES: dict[str, Callable[[], Study]] = {
    "rich": rich_study,
    "mixed": mixed_categorical,
    "zero": zero_trials,
    "only_failed": only_failed,
    "single": single_trial,
    "all_categorical": all_categorical,
    "all_pruned": all_pruned,
    "only_fixed": only_fixed,
    "multi2": lambda: multi(2),
    "multi3": lambda: multi(3),
}

# --- html checking ---------------------------------------------------------------------------------
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "source", "wbr"}


class PageChecker(HTMLParser):
    """Checks nesting, and collects scripts, links and the text outside the embedded plotly.js."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.links: list[tuple[str, str, str]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.ids: list[str] = []
        self.doctype = False
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href", "action", "srcset", "poster", "data"):
            if key in a:
                self.links.append((tag, key, a[key] or ""))
        if "id" in a:
            self.ids.append(a["id"] or "")
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "script":
            self._script, self._text = a, []

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text.append(data)


def check_page(text: str) -> PageChecker:
    page = PageChecker()
    page.feed(text)
    page.close()
    assert page.doctype
    assert not page.errors, page.errors[:5]
    assert not page.stack, page.stack
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    # Nothing is loaded from anywhere: no src attributes, links only to anchors of the page itself.
    for tag, key, value in page.links:
        assert key == "href" and tag == "a" and value.startswith("#"), (tag, key, value)
    for attrs, _ in page.scripts:
        assert "src" not in attrs
    return page


def plotly_bundle(page: PageChecker) -> str:
    big = [body for attrs, body in page.scripts if len(body) > 1_000_000]
    assert len(big) == 1, "plotly.js is embedded exactly once"
    return big[0]


def figures_json(page: PageChecker) -> dict[str, Any]:
    [body] = [body for attrs, body in page.scripts if attrs.get("id") == "hposweep-figures"]
    return json.loads(body)


# --- report tests ----------------------------------------------------------------------------------
HAS_PLOTLY = importlib.util.find_spec("plotly") is not None
needs_plotly = pytest.mark.skipif(not HAS_PLOTLY, reason="the report needs plotly: pip install plotly")


@needs_plotly
@pytest.mark.parametrize("name", list(STUDIES))
def test_report_renders_valid_offline_html(name: str, tmp_path: Path) -> None:
    from hposweep.report.page import write_report

    study = STUDIES[name]()
    out = tmp_path / "report.html"
    size = write_report(study, out, title=f"report <{name}>")
    assert size == out.stat().st_size > 4_000_000  # plotly.js inline
    text = out.read_text(encoding="utf-8")
    page = check_page(text)
    assert f"report &lt;{name}&gt;" in text
    bundle = plotly_bundle(page)
    # Outside the plotly.js bundle (our markup, CSS, data, scripts) there is no URL at all.
    ours = text.replace(bundle, "")
    assert "http://" not in ours and "https://" not in ours and "//cdn" not in ours
    figs = figures_json(page)
    for fid in figs:
        assert fid in page.ids
    # plotly.js carries URLs as strings only: SVG/XML namespaces, licence and help links, and the
    # default tiles/styles of map and geo traces. The report never uses those trace types, so none
    # of them is ever requested (the headless-browser test below checks that at run time).
    types = {trace["type"] for fig in figs.values() for trace in fig["data"]}
    assert types <= {"scatter", "bar", "contour", "heatmap", "parcoords"}, types
    n_rows = text.count("<tr class=\"st-")
    assert n_rows == len(study.trials)


@needs_plotly
@pytest.mark.parametrize("name", list(STUDIES))
def test_figures_match_plotly_schema(name: str) -> None:
    import plotly.graph_objects as go

    from hposweep.report.page import build_sections

    for sec in build_sections(STUDIES[name]()):
        for fig in sec.figures:
            go.Figure(fig)  # raises on any property plotly.js does not know


def sections_by_id(study: Study) -> dict[str, Any]:
    from hposweep.report.page import build_sections

    return {s.id: s for s in build_sections(study)}


def test_rich_study_has_every_view() -> None:
    study = rich_study()
    secs = sections_by_id(study)
    assert [s for s in secs] == ["overview", "history", "importance", "slices", "parallel", "contours",
                                 "intermediate", "best", "settings", "trials"]
    history = secs["history"].figures[0]
    assert {t["name"] for t in history["data"]} == {"complete", "pruned", "best so far"}
    best_line = next(t for t in history["data"] if t["name"] == "best so far")
    assert best_line["y"] == sorted(best_line["y"], reverse=True)
    assert best_line["y"][-1] == study.best_trial.value

    imp, whiskers = secs["importance"].figures[0]["data"][:2]
    assert imp["y"][0] == "lr" and len(imp["y"]) == len(study.space.searchable)
    assert whiskers["y"] == imp["y"] and all(v >= 0 for v in whiskers["error_x"]["array"])

    slices = {f["layout"]["title"]["text"]: f for f in secs["slices"].figures}
    assert set(slices) == {p.name for p in study.space.searchable}
    assert slices["lr"]["layout"]["xaxis"]["type"] == "log"
    assert slices["optimizer"]["layout"]["xaxis"]["type"] == "category"
    n_momentum = sum(len(t["x"]) for t in slices["momentum"]["data"])
    assert n_momentum == sum(1 for t in study.trials if "momentum" in t.params and t.values)

    dims = secs["parallel"].figures[0]["data"][0]["dimensions"]
    momentum = next(d for d in dims if d["label"] == "momentum")
    assert "inactive" in momentum["ticktext"]
    assert next(d for d in dims if d["label"] == "lr (log)")["ticktext"][0] == "1e-05"

    assert len(secs["contours"].figures) == 3
    curves = {t["name"]: t for t in secs["intermediate"].figures[0]["data"]}
    assert curves["pruned"]["line"]["dash"] == "dash" and curves["complete"]["line"]["dash"] == "solid"
    assert secs["best"].cards[0].title == f"trial {study.best_trial.number}"
    assert ("trials to run", "40") in secs["settings"].facts
    assert ("objectives", "val_loss (minimize)") in secs["overview"].facts


def test_edge_studies_explain_what_is_missing() -> None:
    zero = sections_by_id(zero_trials())
    assert not zero["history"].figures and "No trial" in zero["history"].notes[0]
    assert not zero["parallel"].figures and not zero["contours"].figures
    assert "no trials" in zero["trials"].notes[0]
    failed = sections_by_id(only_failed())
    assert not failed["importance"].figures and not failed["best"].cards
    single = sections_by_id(single_trial())
    assert len(single["history"].figures) == 1 and not single["parallel"].figures


def test_multi_objective_pareto_views() -> None:
    two = sections_by_id(multi(2))
    [fig] = two["pareto"].figures
    front = next(t for t in fig["data"] if t["name"] == "Pareto front")
    assert front["mode"] == "lines+markers" and len(front["x"]) >= 2
    assert len(two["history"].figures) == 2
    bars = [t for t in two["importance"].figures[0]["data"] if t["type"] == "bar"]
    assert [t["name"] for t in bars] == ["loss", "size"]  # one bar trace per objective
    three = sections_by_id(multi(3))
    assert len(three["pareto"].figures) == 3  # each pair of objectives


@needs_plotly
def test_script_breaking_labels_are_escaped(tmp_path: Path) -> None:
    from hposweep.report.page import render_report

    evil = "</script><script>alert(1)</script>"
    space = SearchSpace([CategoricalParam("c", choices=(evil, "<b>ok</b>")), FloatParam("x", low=0, high=1)])
    study = Study(space, sampler="random", seed=0, settings={"metric": "<i>loss</i>"})
    for _ in range(12):
        t = study.ask()
        study.tell(t, t.params["x"])
    page = check_page(render_report(study))
    figs = figures_json(page)
    assert evil in json.dumps(figs, ensure_ascii=False).replace("\\/", "/")
    assert not any("alert(1)" in body for _, body in page.scripts if len(body) < 1_000_000
                   and not body.lstrip().startswith("{"))


def test_missing_plotly_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hposweep.report.page import write_report

    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    with pytest.raises(ConfigError) as err:
        write_report(single_trial(), tmp_path / "r.html")
    assert "plotly" in str(err.value) and "hposweep[report]" in str(err.value)
    assert not (tmp_path / "r.html").exists()


@needs_plotly
def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    from hposweep.report.page import write_report

    with pytest.raises(HposweepError, match="cannot write the report"):
        write_report(single_trial(), tmp_path / "no" / "such" / "dir" / "r.html")
    assert list(tmp_path.iterdir()) == []


# --- headless browser ------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def png_summary(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed image data); asserts a valid PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[: 4_000_000]))


def page_requests(net_log: Path) -> list[str]:
    """http(s) URLs the *page* asked for (the browser's own update/account pings have no origin)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for ev in log["events"]:
        params = ev.get("params") or {}
        url = str(params.get("url", ""))
        if ev["type"] == start and url.startswith(("http:", "https:")) and params.get("initiator") != "not an origin":
            urls.append(url)
    return urls


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
@needs_plotly
@pytest.mark.parametrize("name", ["rich", "mixed"])
def test_headless_chromium_draws_the_report_without_fetching(name: str, tmp_path: Path) -> None:
    from hposweep.report.page import build_sections, write_report

    study = rich_study(24) if name == "rich" else STUDIES[name]()
    report = tmp_path / "report.html"
    write_report(study, report)
    n_figs = sum(len(s.figures) for s in build_sections(study))
    shot, net = tmp_path / "shot.png", tmp_path / "net.json"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
           f"--screenshot={shot}", "--window-size=1200,3000", f"--log-net-log={net}", "--dump-dom",
           report.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "HOME": str(tmp_path)})
    assert shot.exists(), proc.stderr[-2000:]
    width, height, variety = png_summary(shot.read_bytes())
    assert (width, height) == (1200, 3000)
    # A blank page is ~10 kB and a handful of byte values; drawn charts are far larger and varied.
    assert shot.stat().st_size > 60_000 and variety > 200
    # Every figure was drawn by plotly.js (it wraps each in a "plot-container" div).
    assert proc.stdout.count('class="plot-container plotly"') == n_figs
    assert page_requests(net) == []


# --- terminal summary helpers ---------------------------------------------------------------------
def test_metric_names() -> None:
    assert metric_names(rich_study(3)) == ["val_loss"]
    assert metric_names(multi(3, n=1)) == ["loss", "size", "acc"]
    assert metric_names(zero_trials()) == ["value"]


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([3.0, 2.0, 1.0]) == "█▅▁"
    assert sparkline([1.0, 1.0]) == "▅▅"
    long = sparkline([float(i) for i in range(100)], width=10)
    assert len(long) == 10 and long[0] < long[-1] and long[-1] == "█"


def test_convergence_sparkline_follows_best_so_far() -> None:
    line = convergence_sparkline(rich_study(40), width=12)
    assert 1 <= len(line) <= 12
    assert list(line) == sorted(line, reverse=True)  # minimisation: best so far only goes down
    assert convergence_sparkline(only_failed()) == ""
    up = convergence_sparkline(all_categorical())
    assert list(up) == sorted(up)  # maximisation: only goes up


def test_importance_lines() -> None:
    assert importance_lines(single_trial()) == []
    lines = importance_lines(rich_study(40), top=2)
    assert len(lines) == 2
    assert lines[0].startswith("lr ") and lines[0].count("%") == 1
    few = rich_study(14)
    assert importance_lines(few, top=3)[-1].startswith("(rough estimate")
