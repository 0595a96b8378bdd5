"""Figures of constrained studies (infeasible trials marked), every metric's history in the report and the
dashboard, and bool flags in the dashboard's params download; the report's and the dashboard's figures
come from one code path, so both are checked on the same study.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hposweep.core.space import SearchSpace
from hposweep.report.contours import contour_figure
from hposweep.report.figures import history_figure, metric_history_figures, pareto_figures, slice_figure
from hposweep.report.parallel import best_trials_for_parallel, parallel_figure
from hposweep.study.api import Study
from hposweep.study.summary import best_so_far

plotly = pytest.importorskip("plotly")

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "y": {"type": "float", "low": 0.0, "high": 1.0}}


def constrained_study(path: Path | None = None, n: int = 14) -> tuple[Study, list[int]]:
    """Trials with value x + y; every third one uses mem 2 (breaks ``mem <= 1``) and has the lowest value."""
    study = Study(SearchSpace.from_dict(SPACE), "minimize", sampler="random", seed=3, constraints=["mem <= 1"],
                  settings={"metric": "loss"})
    if path is not None:
        study.save(path)
    bad = []
    for k in range(n):
        t = study.ask()
        infeasible = k % 3 == 1
        value = -1.0 - k if infeasible else t.params["x"] + t.params["y"]
        for s in range(3):
            study.report_metrics(t, s, {"mem": 2.0 if infeasible else 0.5, "acc": 0.1 * s + k / 100})
        study.tell(t, value, user_attrs={"mem": 2.0 if infeasible else 0.5, "acc": 0.2 + k / 100})
        if infeasible:
            bad.append(t.number)
    return study, bad


def traces(fig: dict[str, Any] | None, name: str) -> list[dict[str, Any]]:
    assert fig is not None
    return [tr for tr in fig["data"] if tr.get("name") == name]


def infeasible_numbers(fig: dict[str, Any] | None) -> list[int]:
    found = traces(fig, "infeasible")
    assert len(found) == 1, "one infeasible trace, one legend entry"
    tr = found[0]
    assert tr["marker"]["symbol"] == "x" and tr["marker"]["color"] == "#7f7f7f"
    return list(tr["customdata"])


def validate(fig: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    go.Figure(fig)  # raises on anything plotly's schema does not know


def test_history_marks_infeasible_and_never_counts_them_best() -> None:
    study, bad = constrained_study()
    fig = history_figure(study)
    assert infeasible_numbers(fig) == bad
    complete = traces(fig, "complete")[0]
    assert not set(complete["x"]) & set(bad)
    best = traces(fig, "best so far")[0]
    assert min(best["y"]) >= 0.0  # the infeasible trials' values (-2, -5, ...) are the lowest, never the best
    assert all(n not in bad for n, _ in best_so_far(study))
    assert study.best_trial is not None and min(best["y"]) == study.best_trial.value
    validate(fig)  # type: ignore[arg-type]


def test_slices_contours_and_parallel_mark_infeasible() -> None:
    study, bad = constrained_study()
    for p in study.space.searchable:
        fig = slice_figure(study, p)
        assert infeasible_numbers(fig) == bad
        validate(fig)  # type: ignore[arg-type]
    a, b = study.space.searchable
    fig = contour_figure(study, a, b)
    assert infeasible_numbers(fig) == bad and fig is not None and fig["layout"]["showlegend"]
    validate(fig)
    shown = best_trials_for_parallel(study)
    flags = [t.number in bad for t in shown]
    assert any(flags) and flags == sorted(flags), "infeasible trials rank after every feasible one"
    fig = parallel_figure(study, shown, "best")
    assert fig is not None
    dim = fig["data"][0]["dimensions"][-1]
    assert dim["label"] == "feasible" and dim["ticktext"] == ["infeasible", "feasible"]
    assert [t.number for t, f in zip(shown, dim["values"], strict=True) if f == 0] == \
        [t.number for t in shown if t.number in bad]
    validate(fig)


def test_pareto_front_leaves_infeasible_out_and_marks_them() -> None:
    study = Study(SearchSpace.from_dict(SPACE), directions=["minimize", "minimize"], sampler="random", seed=1,
                  constraints=["mem <= 1"])
    bad = []
    for k in range(12):
        t = study.ask()
        infeasible = k % 4 == 0
        x = t.params["x"]
        study.tell(t, [x - (2 if infeasible else 0), 1 - x], user_attrs={"mem": 3.0 if infeasible else 0.0})
        if infeasible:
            bad.append(t.number)
    (fig,) = pareto_figures(study)
    assert infeasible_numbers(fig) == bad
    front = traces(fig, "Pareto front")[0]
    dominated = traces(fig, "dominated")[0]
    assert len(front["x"]) + len(dominated["x"]) == 12 - len(bad)
    validate(fig)


def test_unconstrained_study_has_no_infeasible_trace() -> None:
    study = Study(SearchSpace.from_dict(SPACE), "minimize", sampler="random", seed=0)
    for _ in range(10):
        t = study.ask()
        study.tell(t, t.params["x"])
    figs = [history_figure(study), *(slice_figure(study, p) for p in study.space.searchable)]
    assert all(not traces(f, "infeasible") for f in figs)
    fig = parallel_figure(study, best_trials_for_parallel(study), "best")
    assert fig is not None and fig["data"][0]["dimensions"][-1]["label"] == "value"


class _Figures(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.figures: dict[str, Any] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "script" and ("id", "hposweep-figures") in attrs

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.figures = json.loads(data)
            self.inside = False


def report_figures(study: Study) -> dict[str, Any]:
    from hposweep.report.page import render_report

    parser = _Figures()
    parser.feed(render_report(study))
    return parser.figures


def test_report_html_carries_infeasible_traces_and_every_metrics_history() -> None:
    study, bad = constrained_study()
    figs = report_figures(study)
    assert infeasible_numbers(figs["fig-history-0"]) == bad
    assert infeasible_numbers(figs["fig-slices-0"]) == bad
    metric_figs = {f["layout"]["title"]["text"]: f for k, f in figs.items() if k.startswith("fig-metrics-")}
    assert sorted(metric_figs) == ["History of acc", "History of mem"]
    acc = metric_figs["History of acc"]["data"][0]
    # trial 0's curve: its three steps, then the gap before the next trial's
    assert acc["x"][:4] == [0.0, 1.0, 2.0, None] and acc["y"][:3] == pytest.approx([0.0, 0.1, 0.2])
    for fig in metric_figs.values():
        validate(fig)


def test_metric_history_figures_skip_single_points() -> None:
    study = Study(SearchSpace.from_dict(SPACE), "minimize", sampler="random", seed=0)
    t = study.ask()
    study.report_metrics(t, 0, {"once": 1.0})
    study.tell(t, 0.5)
    assert metric_history_figures(study) == []


# --- the dashboard: the same figures, every metric's curve, flags in the params download -------------------
def entry(path: Path) -> Any:
    from hposweep.dashboard.catalog import Entry, study_id

    return Entry(path=str(path), id=study_id(str(path)))


def test_dashboard_figure_json_has_the_infeasible_trace(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from hposweep.dashboard import views

    path = tmp_path / "c.json"
    _, bad = constrained_study(path)
    sections = {s["id"]: s for s in views.study_sections(entry(path))}
    assert infeasible_numbers(sections["history"]["figures"][0]) == bad
    assert infeasible_numbers(sections["contours"]["figures"][0]) == bad
    assert "infeasible" in " ".join(sections["history"]["notes"])
    assert [f["layout"]["title"]["text"] for f in sections["metrics"]["figures"]] == ["History of mem",
                                                                                       "History of acc"]


def test_dashboard_trial_page_plots_every_recorded_metric(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from hposweep.dashboard import views

    path = tmp_path / "c.json"
    constrained_study(path)
    detail = views.trial_detail(entry(path), 2)
    assert detail is not None
    curves = {f["layout"]["title"]["text"]: f["data"][0] for f in detail["curves"]}
    assert sorted(curves) == ["acc", "mem"]
    assert curves["acc"]["x"] == [0.0, 1.0, 2.0] and curves["acc"]["y"] == pytest.approx([0.02, 0.12, 0.22])


def test_dashboard_params_download_writes_bool_flags_as_the_runner_does(tmp_path: Path) -> None:
    from hposweep.dashboard.views import params_download
    from hposweep.execution.argv import build_argv, flag_styles

    space = SearchSpace.from_dict({"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
                                   "use_bn": {"type": "bool", "pass": "flag"},
                                   "ema": {"type": "bool", "pass": "flag_no"},
                                   "plain": {"type": "bool"}})
    study = Study(space, "minimize", sampler="random", seed=0)
    for on in (True, False):
        study.enqueue({"lr": 0.01, "use_bn": on, "ema": on, "plain": on})
        t = study.ask()
        study.tell(t, 1.0)
        text, name = params_download(study, t, "args")
        assert name == f"trial-{t.number}-params.txt"
        argv = build_argv(["train"], t.params, trial_number=t.number, mode="args", known=list(space.params),
                          flags=flag_styles(space))
        assert text.split() == argv[1:]
        expected = "--lr=0.01 --use_bn --ema --plain=true" if on else "--lr=0.01 --no-ema --plain=false"
        assert re.sub(r"\s+", " ", text.strip()) == expected
