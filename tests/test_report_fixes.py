"""Issue 14, items 21 and 24: what the HTML report got wrong, each reproduced."""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from typing import Any

import pytest

from hposweep.analysis.importance import ImportanceResult, ParamImportance
from hposweep.core.space import CategoricalParam, FloatParam, IntParam, SearchSpace
from hposweep.study.api import Study

needs_plotly = pytest.mark.skipif(importlib.util.find_spec("plotly") is None, reason="needs plotly")


def sections(study: Study) -> dict[str, Any]:
    from hposweep.report import build_sections

    return {s.id: s for s in build_sections(study)}


def section_text(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}">')
    return page[start:page.index("</section>", start)]


def log_study(n: int = 30) -> Study:
    # Bounds that are not decades: 3e-5..0.3 and 8..512 (decade ticks alone span 1e-4..0.1 and 10..100).
    space = SearchSpace([FloatParam("lr", low=3e-5, high=0.3, log=True), IntParam("batch", low=8, high=512, log=True),
                         FloatParam("wd", low=0.0, high=0.1)])
    study = Study(space, sampler="random", seed=0, settings={"metric": "val_loss"})
    for _ in range(n):
        t = study.ask()
        study.tell(t, abs(math.log10(t.params["lr"]) + 3) + t.params["wd"])
    return study


def test_parallel_axes_cover_every_point() -> None:
    [fig] = sections(log_study())["parallel"].figures
    dims = fig["data"][0]["dimensions"]
    for d in dims:
        if "tickvals" not in d:
            continue
        # plotly draws the axis line from the first tick to the last: every value must lie on it.
        assert min(d["tickvals"]) <= min(d["values"]) and max(d["tickvals"]) >= max(d["values"]), d["label"]
        assert d["range"][0] <= min(d["values"]) and d["range"][1] >= max(d["values"])
    lr = next(d for d in dims if d["label"] == "lr (log)")
    assert lr["ticktext"][0] == "3e-05" and lr["ticktext"][-1] == "0.3"
    assert "0.001" in lr["ticktext"]  # decades in between still labelled
    batch = next(d for d in dims if d["label"] == "batch (log)")
    assert (batch["ticktext"][0], batch["ticktext"][-1]) == ("8", "512")


def whisker_extents(fig: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """``{parameter: (left, right)}`` of every error bar drawn in the figure, in percent."""
    out = {}
    for tr in fig["data"]:
        err = tr.get("error_x")
        if not err:
            continue
        plus = err["array"]
        minus = plus if err.get("symmetric") else err["arrayminus"]
        for name, x, p, m in zip(tr["y"], tr["x"], plus, minus, strict=True):
            out[name] = (x - m, x + p)
    return out


def test_importance_whisker_is_the_bootstrap_interval_and_an_outlier_is_explained() -> None:
    from hposweep.report.figures import importance_figure
    from hposweep.report.sections import importance_section

    params = [ParamImportance("lr", 0.7942, 0.1, 0.55, 0.85, 40, 1.0),
              # the case: an estimate below its own 5-95% bootstrap interval
              ParamImportance("weight_decay", 0.0058, 0.03, 0.0071, 0.128, 40, 0.01),
              ParamImportance("layers", 0.2, 0.05, 0.1, 0.3, 40, 0.2)]
    result = ImportanceResult(params=params, n_trials=40, n_top=10, objective=0, metric="val_loss",
                              direction="minimize", reliable=True, message=None, n_bootstrap=100, total_raw=1.21)
    fig = importance_figure([result])
    assert fig is not None
    ext = whisker_extents(fig)
    for p in params:
        assert ext[p.name] == pytest.approx((100 * p.low, 100 * p.high)), p.name  # type: ignore[operator]
    bar = next(t for t in fig["data"] if t["type"] == "bar")
    assert bar["x"][1] == pytest.approx(0.58)
    study = log_study(3)
    notes = " ".join(importance_section(study, [result]).notes)
    assert "outside its whisker for weight_decay" in notes and "lr" not in notes.split("whisker for")[1][:20]
    assert "bootstrap" in notes and "5th to 95th percentile" in notes


@needs_plotly
def test_trials_table_value_column_is_headed_by_the_metric() -> None:
    from hposweep.report import render_report

    table = section_text(render_report(log_study(5)), "trials")
    heads = re.findall(r'<th data-col="\d+">([^<]*)</th>', table)
    assert heads[:3] == ["number", "state", "val_loss"]
    two = Study(SearchSpace([FloatParam("x", low=0, high=1)]), directions=["minimize", "maximize"],
                sampler="random", seed=0, settings={"metrics": [{"name": "loss"}, {"name": "x"}]})
    two.tell(two.ask(), [1.0, 2.0])
    heads = re.findall(r'<th data-col="\d+">([^<]*)</th>', section_text(render_report(two), "trials"))
    # a metric named like a parameter keeps both columns apart (parameters are always ``param_<name>``)
    assert heads[:5] == ["number", "state", "loss", "x", "param_x"]


def mixed_study() -> Study:
    space = SearchSpace([CategoricalParam("opt", choices=("adam", "sgd", "rms")), FloatParam("lr", low=0.0, high=1.0),
                         CategoricalParam("act", choices=("relu", "gelu"))])
    study = Study(space, sampler="random", seed=4)
    for _ in range(40):
        t = study.ask()
        p = t.params
        # sgd is flat at 5; adam follows lr; the activation adds 1 for gelu
        study.tell(t, (5.0 if p["opt"] == "sgd" else p["lr"]) + (p["act"] == "gelu"))
    return study


def test_contours_do_not_interpolate_across_categories() -> None:
    study = mixed_study()
    figs = {f["layout"]["title"]["text"]: f for f in sections(study)["contours"].figures}
    assert len(figs) == 3  # every pair of the three parameters
    for title, fig in figs.items():
        assert {t["type"] for t in fig["data"]} == {"heatmap", "scatter"}, title  # never a contour
    cat_num = next(f for t, f in figs.items() if "opt" in t and "lr" in t)
    surface = cat_num["data"][0]
    opt_on_x = cat_num["layout"]["xaxis"]["type"] == "category" and "opt" in cat_num["layout"]["xaxis"]["title"]["text"]
    z = surface["z"]
    rows = [list(col) for col in zip(*z, strict=True)] if opt_on_x else z
    labels = surface["x"] if opt_on_x else surface["y"]
    sgd = rows[labels.index("sgd")]
    # sgd trials are 5 or 6 (gelu): its cells come from its own trials only, never pulled toward adam's
    assert all(5.0 <= v <= 6.0 for v in sgd)
    both = next(f for t, f in figs.items() if "opt" in t and "act" in t)["data"][0]
    for yi, yl in enumerate(both["y"]):
        for xi, xl in enumerate(both["x"]):
            key: dict[str, str | None] = {"opt": None, "act": None}
            key["opt" if xl in ("adam", "sgd", "rms") else "act"] = xl
            key["opt" if yl in ("adam", "sgd", "rms") else "act"] = yl
            vals = [float(t.values[0]) for t in study.trials
                    if t.values and t.params["opt"] == key["opt"] and t.params["act"] == key["act"]]
            assert both["z"][yi][xi] == (pytest.approx(sum(vals) / len(vals)) if vals else None)


def test_slice_colours_have_a_legend() -> None:
    study = Study(SearchSpace([FloatParam("x", low=0, high=1)]), sampler="random", seed=0)
    for i in range(10):
        t = study.ask()
        study.report(t, 1, t.params["x"])
        study.tell(t, t.params["x"]) if i % 3 else study.tell(t, state="pruned")
    [fig] = sections(study)["slices"].figures
    complete = next(t for t in fig["data"] if t["name"] == "complete")
    assert complete["marker"]["showscale"] is True
    assert complete["marker"]["colorbar"]["title"]["text"] == "trial"
    assert fig["layout"]["showlegend"] is True  # complete vs pruned markers are named


RUN_SETTINGS = {
    "metrics": [{"name": "val_loss", "direction": "minimize"}], "metric": "val_loss",
    "space_file": "/data/space.yaml", "command": ["python", "train.py", "--data", "my data"], "shell": False,
    "pass": "args", "objective": "last", "metric_regex": None, "timeout": 1800.0, "time_budget": None,
    "max_failures": 5, "grace": 10.0, "prune_grace": 10.0, "jobs": 1, "gpus": None, "lease": 60.0,
    "executor": "local", "ray_address": None, "cpus_per_trial": 1.0, "gpus_per_trial": 0.0, "trials": 20,
}


@needs_plotly
def test_settings_are_readable_and_only_those_that_apply() -> None:
    from hposweep.report import render_report

    study = Study(SearchSpace([FloatParam("x", low=0, high=1)]), sampler="random", seed=0,
                  settings=RUN_SETTINGS)
    text = section_text(render_report(study), "settings")
    rows = dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", text))
    assert rows["command"] == "python train.py --data &#x27;my data&#x27;"
    assert rows["timeout per trial"] == "30 min" and rows["trials to run"] == "20"
    assert rows["stop after failures"] == "5 failed trials in a row"
    for absent in ("null", "[", "{", "ray", "Ray", "CPUs", "pruned", "metric regex", "time budget"):
        assert absent not in text, absent
    ray = Study(SearchSpace([FloatParam("x", low=0, high=1)]), sampler="random", seed=0, pruner="median",
                settings={**RUN_SETTINGS, "executor": "ray", "cpus_per_trial": 2.0})
    rows = dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>", section_text(render_report(ray), "settings")))
    assert rows["CPUs per trial"] == "2" and rows["grace for pruned trials"] == "10 s"


def test_report_of_a_cmaes_study_without_the_cmaes_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)  # `import cmaes` raises ImportError
    space = SearchSpace([FloatParam("x", low=0, high=1), FloatParam("y", low=0, high=1)])
    study = Study(space, sampler={"name": "cmaes", "population_size": 8}, seed=0)
    for i in range(12):
        study.enqueue({"x": i / 12, "y": (i * 7 % 12) / 12})  # recorded trials: no sampler needed to replay them
        t = study.ask()
        study.tell(t, t.params["x"] + t.params["y"])
    overview = dict(sections(study)["overview"].facts)
    assert overview["sampler"] == "cmaes (population_size 8)"
    assert overview["pruner"] == "none"


def test_css_and_js_are_package_files_that_cannot_close_their_element() -> None:
    from hposweep.report.page import asset

    css, js = asset("report.css"), asset("report.js")
    assert "table.trials" in css and "Plotly.newPlot" in js and "sortable" in js
    assert "</" not in css and "</" not in js  # inlined into <style>/<script> as they are


@needs_plotly
def test_report_command_on_a_cmaes_study_without_the_cmaes_package(tmp_path: Any) -> None:
    import subprocess

    space = SearchSpace([FloatParam("x", low=0, high=1), FloatParam("y", low=0, high=1)])
    study = Study(space, sampler="cmaes", seed=0)
    ckpt = tmp_path / "sweep.json"
    study.save(ckpt)
    for i in range(10):
        study.enqueue({"x": i / 10, "y": 1 - i / 10})
        t = study.ask()
        study.tell(t, t.params["x"] * t.params["y"])
    study.close()
    out = tmp_path / "r.html"
    code = ("import sys; sys.modules['cmaes'] = None; from hposweep.entry import main; "
            f"sys.argv = ['hposweep', 'report', {str(ckpt)!r}, '-o', {str(out)!r}]; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stderr and out.stat().st_size > 4_000_000
    assert "<tr><th>sampler</th><td>cmaes</td></tr>" in out.read_text(encoding="utf-8")
