"""Every metric's history in the study (issue 16 part 7): one journal event per round, bounded, in the
checkpoint (format 3), older checkpoints load, ``show --format json`` and the dashboard use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson

from hposweep.core.space import FloatParam, SearchSpace
from hposweep.study import storage
from hposweep.study.api import Study

FIXTURES = Path(__file__).parent / "fixtures"


def new_study(path: Path) -> Study:
    study = Study(SearchSpace([FloatParam("x", low=0.0, high=1.0)]), direction="minimize", sampler="random",
                  seed=0, settings={"metrics": [{"name": "loss", "direction": "minimize"}], "metric": "loss"})
    study.save(str(path))
    return study


def journal_events(path: Path) -> list[dict]:
    return [e for e in storage.read_journal(str(path)).events if isinstance(e, dict)]


def test_one_event_per_round_and_the_history_survives_journal_and_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    study = new_study(path)
    t = study.ask()
    for round_ in range(3):  # 3 rounds of 5,000 points of two metrics each
        pts = [(round_ * 5000 + i, float(i)) for i in range(5000)]
        study.report_metric_points(t, {"acc": pts, "lr_now": pts})
    study.report_metrics(t, None, {"acc": 0.5})
    metric_events = [e for e in journal_events(path) if e.get("op") == "metrics"]
    assert len(metric_events) == 4
    hist = study.metric_history(t)
    assert set(hist) == {"acc", "lr_now"}
    assert len(hist["acc"]) <= 3000 and hist["acc"][0] == (0, 0.0) and hist["acc"][-1] == (15000, 0.5)
    # replayed from the journal by another reader, then from the snapshot after close()
    assert Study.load(str(path), readonly=True).metric_history(0) == hist
    study.tell(t, 0.1)
    study.close()
    raw = orjson.loads(path.read_bytes())
    assert raw["format_version"] == storage.FORMAT_VERSION == 3 and "0" in raw["metric_history"]
    assert Study.load(str(path), readonly=True).metric_history(0) == hist


def test_reports_after_the_trial_finished_are_refused(tmp_path: Path) -> None:
    study = new_study(tmp_path / "s.json")
    t = study.ask()
    study.tell(t, 1.0)
    try:
        study.report_metrics(t, 0, {"acc": 1.0})
    except Exception as exc:  # noqa: BLE001
        assert "only running trials" in str(exc)
    else:
        raise AssertionError("a finished trial took a report")


def test_a_format_1_checkpoint_loads_and_is_converted(tmp_path: Path) -> None:
    for name in ("checkpoint_v1.json", "checkpoint_v1.json.journal"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    path = tmp_path / "checkpoint_v1.json"
    study = Study.load(str(path))
    assert study.metric_history(0) == {"value": [(0, 1.0), (1, 0.5), (2, 1 / 3)]}  # the objective's, as before
    t = study.ask()
    study.report_metrics(t, 0, {"acc": 0.25})
    study.close()
    assert orjson.loads(path.read_bytes())["format_version"] == 3
    again = Study.load(str(path), readonly=True)
    assert again.metric_history(t.number)["acc"] == [(0, 0.25)]


TRAIN = textwrap.dedent(
    """
    import sys
    x = float(sys.argv[1].split('=')[1])
    for epoch in range(4000):
        print(f"epoch={epoch} loss={x + 1 / (epoch + 1):.6f} acc={epoch / 4000:.6f}")
    """
)


def test_cli_show_json_has_every_metric_history_and_few_events(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text("metric: loss\nsampler: random\n"  # the default gp costs ~0.8 s of imports
                                         "parameters:\n  x: {type: float, low: 0.0, high: 1.0}\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "1",
                        "--no-progress", "--", sys.executable, "train.py"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    shown = subprocess.run([sys.executable, "-m", "hposweep", "show", "0", "--format", "json"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60)
    rec = json.loads(shown.stdout)
    acc = rec["metric_history"]["acc"]
    assert acc["steps"][:3] == [0, 1, 2] and acc["steps"][-1] == 3999 and acc["values"][-1] == 3999 / 4000
    assert len(acc["steps"]) <= 3000
    assert rec["metric_history"]["loss"]["steps"][-1] == 3999
    study = Study.load(str(tmp_path / "hposweep-study.json"), readonly=True)
    from hposweep.dashboard.views import metric_curves

    curves = metric_curves(study, str(tmp_path / "hposweep-study.json"), study.trials[0])
    assert set(curves) >= {"loss", "acc"} and curves["acc"][3999.0] == 3999 / 4000
