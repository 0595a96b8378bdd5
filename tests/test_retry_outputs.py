"""A failed trial re-run by ``resume --retry-failed`` reads ``failed (retried as #N)`` in every output that shows
states for people (``trials``, the HTML report, the dashboard), while the rows keep the bare state for scripts."""

from __future__ import annotations

from pathlib import Path

from hposweep.core.space import SearchSpace
from hposweep.study.api import Study
from hposweep.study.rows import state_text, trial_rows


def retried_study(path: Path) -> Study:
    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), "minimize",
                  sampler="random", seed=3, settings={"metrics": ["loss"]})
    study.save(path)
    for k in range(4):
        t = study.ask()
        if k == 1:
            study.tell(t, state="failed", info={"reason": "command failed (exit code 1)"})
        else:
            study.tell(t, t.params["x"])
    assert study.retry_failed() == [1]
    t = study.ask()
    study.tell(t, 0.5)
    return study


def test_rows_keep_the_state_and_name_the_retry(tmp_path: Path) -> None:
    study = retried_study(tmp_path / "s.json")
    row = next(r for r in trial_rows(study) if r["number"] == 1)
    assert row["state"] == "failed" and row["retried_as"] == 4
    assert state_text(row) == "failed (retried as #4)"


def test_the_html_report_shows_the_retry(tmp_path: Path) -> None:
    from hposweep.report import render_report

    page = render_report(retried_study(tmp_path / "s.json"))
    assert "failed (retried as #4)" in page
