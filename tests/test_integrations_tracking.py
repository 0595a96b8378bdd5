"""Tracker settings and the rule that a failing tracker never fails a sweep."""

from __future__ import annotations

import pytest

from hposweep.core.trial import Trial
from hposweep.errors import ConfigError
from hposweep.integrations.trackers import make_tracker
from hposweep.integrations.tracking import SafeTracker, Tracker, TrackerConfig, parse_tracking


def test_parse_tracking_forms():
    assert parse_tracking(None) == [] and parse_tracking("none") == []
    assert parse_tracking("mlflow") == [TrackerConfig("mlflow", {})]
    assert parse_tracking({"mlflow": {"experiment": "e", "tracking_uri": "sqlite:///m.db"}}) == [
        TrackerConfig("mlflow", {"experiment": "e", "tracking_uri": "sqlite:///m.db"})]
    assert [c.kind for c in parse_tracking(["mlflow", {"wandb": {"mode": "offline"}}])] == ["mlflow", "wandb"]


@pytest.mark.parametrize("value, message", [
    ("mlfow", "unknown tracker 'mlfow'"),
    ({"mlflow": {"experimnt": "x"}}, "unknown option 'experimnt'"),
    ({"mlflow": {"experiment": 3}}, "experiment must be a non-empty string"),
    ({"wandb": {"mode": "sometimes"}}, "mode must be online, offline or disabled"),
    (["mlflow", "mlflow"], "mlflow is given twice"),
    ({"mlflow": "x"}, "expected a mapping of options"),
])
def test_parse_tracking_errors(value, message):
    with pytest.raises(ConfigError) as info:
        parse_tracking(value, source="space.yaml")
    assert message in str(info.value) and "space.yaml" in str(info.value)


def test_unknown_tracker_hint():
    with pytest.raises(ConfigError) as info:
        parse_tracking("mlfow")
    assert "did you mean 'mlflow'" in str(info.value)


class Broken(Tracker):
    name = "mlflow"

    def __init__(self):
        self.calls = 0

    def on_trial_start(self, trial):
        self.calls += 1
        raise ConnectionError("server down")


def test_safe_tracker_warns_once_and_turns_off():
    warnings: list[str] = []
    inner = Broken()
    safe = SafeTracker(inner, warnings.append)
    for n in range(3):
        safe.on_trial_start(Trial(number=n, params={}))
        safe.on_report(Trial(number=n, params={}), 0, {"loss": 1.0})
    assert inner.calls == 1 and len(warnings) == 1
    assert "server down" in warnings[0] and "hposweep export mlflow" in warnings[0]


def test_no_config_is_a_no_op():
    assert type(make_tracker([])) is Tracker
