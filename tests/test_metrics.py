"""The output grammar, incremental line splitting, the metrics file and the tracker."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hposweep.errors import ConfigError
from hposweep.execution.metrics import (
    MetricParser,
    MetricReport,
    MetricsFileTailer,
    MetricTracker,
    parse_json_metrics_line,
    parse_text_line,
)


def R(name: str, value: float, step: int | None = None) -> MetricReport:
    return MetricReport(name, value, step)


def pairs(reports: list[MetricReport]) -> list[tuple[str, float, int | None]]:
    return [(r.name, r.value, r.step) for r in reports]


@pytest.mark.parametrize(
    "line, expected",
    [
        ("epoch 3 val_loss=0.412 acc=0.91", [("val_loss", 0.412, 3), ("acc", 0.91, 3)]),
        ("Epoch 3/10 - loss: 0.2 - val_loss: 0.41", [("loss", 0.2, 3), ("val_loss", 0.41, 3)]),
        ("val_loss = 0.41", [("val_loss", 0.41, None)]),
        ("train/loss=0.3 lr.main=1e-3 top-1=0.5", [("train/loss", 0.3, None), ("lr.main", 0.001, None),
                                                  ("top-1", 0.5, None)]),
        ("val_loss=0.412, val_acc=0.5, step=100", [("val_loss", 0.412, 100), ("val_acc", 0.5, 100)]),
        ("a=1.5E+3 b=-2e-05 c=.5 d=+3", [("a", 1500.0, None), ("b", -2e-05, None), ("c", 0.5, None),
                                         ("d", 3.0, None)]),
        ("acc=91% loss=0.3.", [("acc", 91.0, None), ("loss", 0.3, None)]),
        ("INFO:root:val_loss=0.3", [("val_loss", 0.3, None)]),
        ("2024-01-01 12:30:01,123 - root - INFO - epoch=2 val_loss=0.3", [("val_loss", 0.3, 2)]),
        ("[10]\tvalidation_0-logloss:0.5\tvalidation_1-logloss:0.6",
         [("validation_0-logloss", 0.5, 10), ("validation_1-logloss", 0.6, 10)]),
        ("[20]\ttraining's binary_logloss: 0.3\tvalid_1's binary_logloss: 0.4",
         [("training-binary_logloss", 0.3, 20), ("valid_1-binary_logloss", 0.4, 20)]),
        ("Epoch 3: 100%|##########| 32/32 [00:01<00:00, 20.00it/s, v_num=0, train_loss=0.2]",
         [("v_num", 0.0, 3), ("train_loss", 0.2, 3)]),
        ("val_loss=tensor(0.4120, device='cuda:0')", [("val_loss", 0.412, None)]),
        ("iter=7 global_step=70 loss=1", [("loss", 1.0, 70)]),
        ("step: 5, epoch: 2, loss: 1", [("loss", 1.0, 2)]),  # epochs win: steps depend on batch size
    ],
)
def test_text_formats(line: str, expected: list[tuple[str, float, int | None]]) -> None:
    assert pairs(parse_text_line(line)) == expected


@pytest.mark.parametrize(
    "line",
    [
        "ETA: 0:01:02",
        "time=12:30:01",
        "2024-01-01 started",
        "version=1.2.3",
        "Training: 50%|#####     | 5/10 [00:01<00:01, 4.5it/s]",
        "http://localhost:8080/path",
        "loading data from /data/x:3",
        "flag=True name=resnet",
        "step 3 of 10 done",
        "",
    ],
)
def test_no_false_metrics(line: str) -> None:
    assert parse_text_line(line) == []


def test_non_finite_values() -> None:
    got = parse_text_line("a=nan b=inf c=-inf d=NaN e=Infinity")
    assert [r.name for r in got] == ["a", "b", "c", "d", "e"]
    assert math.isnan(got[0].value) and math.isnan(got[3].value)
    assert got[1].value == math.inf and got[2].value == -math.inf and got[4].value == math.inf


def test_json_and_python_dict_lines() -> None:
    hf = "{'loss': 0.4, 'grad_norm': 1.25, 'learning_rate': 5e-05, 'epoch': 1.0}"
    assert pairs(parse_text_line(hf)) == [("loss", 0.4, 1), ("grad_norm", 1.25, 1), ("learning_rate", 5e-05, 1)]
    nan_repr = parse_text_line("{'eval_loss': nan, 'epoch': 2.0}")  # not a Python literal: token rule
    assert [(r.name, r.step) for r in nan_repr] == [("eval_loss", 2)] and math.isnan(nan_repr[0].value)
    numpy_repr = "{'eval_loss': np.float64(0.25), 'epoch': 2.0}"
    assert pairs(parse_text_line(numpy_repr)) == [("eval_loss", 0.25, 2)]
    js = '{"val_loss": 0.3, "step": 4, "ok": true, "tag": "x", "eval": {"acc": 0.9}}'
    assert pairs(parse_text_line(js)) == [("val_loss", 0.3, 4), ("eval/acc", 0.9, 4)]


def test_metrics_file_lines() -> None:
    assert pairs(parse_json_metrics_line('{"val_loss": 0.5, "epoch": 2}')) == [("val_loss", 0.5, 2)]
    assert pairs(parse_json_metrics_line(b'{"name": "val_loss", "value": 0.1, "step": 7}\n')) == [("val_loss", 0.1, 7)]
    assert pairs(parse_json_metrics_line('{"name": "run", "value": 1, "loss": 2}')) == [("value", 1.0, None),
                                                                                      ("loss", 2.0, None)]
    assert math.isnan(parse_json_metrics_line('{"val_loss": NaN}')[0].value)
    for bad in ("", "not json", '{"val_loss": 0.5', "[1, 2]", '"x"'):
        assert parse_json_metrics_line(bad) == []


def test_partial_lines_wait_for_their_end() -> None:
    p = MetricParser()
    assert p.feed(b"val_lo") == []
    assert p.feed(b"ss=0.2") == []  # could still become 0.25
    assert pairs(p.feed(b"5 acc=0.9\nloss=")) == [("val_loss", 0.25, None), ("acc", 0.9, None)]
    assert pairs(p.flush()) == []
    p.feed("loss=1")
    assert pairs(p.flush()) == [("loss", 1.0, None)]


def test_carriage_returns_and_crlf() -> None:
    p = MetricParser()
    got = p.feed("epoch 1: loss=0.9\repoch 1: loss=0.7\repoch 1: loss=0.5\r\nval_loss=0.4\r\n")
    assert pairs(got) == [("loss", 0.9, 1), ("loss", 0.7, 1), ("loss", 0.5, 1), ("val_loss", 0.4, None)]


def test_ansi_codes_and_utf8_split_across_chunks() -> None:
    p = MetricParser()
    data = "\x1b[32mval_loss\x1b[0m=\x1b[1m0.31\x1b[0m │ bar ██ acc=0.5\n".encode()
    cut = data.index("█".encode()) + 1  # in the middle of a multi-byte character
    assert p.feed(data[:cut]) == []
    assert pairs(p.feed(data[cut:])) == [("val_loss", 0.31, None), ("acc", 0.5, None)]


def test_keras_epoch_header_sets_following_steps() -> None:
    p = MetricParser()
    out = p.feed(
        "Epoch 1/2\n32/32 [====] - 1s 10ms/step - loss: 0.5 - val_loss: 0.6\n"
        "Epoch 2/2\n32/32 [====] - 1s 10ms/step - loss: 0.4 - val_loss: 0.5 - epoch: 9\n"
    )
    assert pairs(out) == [("loss", 0.5, 1), ("val_loss", 0.6, 1), ("loss", 0.4, 9), ("val_loss", 0.5, 9)]


def test_fastai_table() -> None:
    p = MetricParser()
    out = p.feed(
        "epoch     train_loss  valid_loss  accuracy  time\n"
        "0         0.512       0.401       0.88      00:03\n"
        "1         0.412       0.301       0.90      01:02:03\n"
        "some other line\n"
    )
    assert pairs(out) == [
        ("train_loss", 0.512, 0), ("valid_loss", 0.401, 0), ("accuracy", 0.88, 0),
        ("train_loss", 0.412, 1), ("valid_loss", 0.301, 1), ("accuracy", 0.9, 1),
    ]


def test_user_regex() -> None:
    p = MetricParser(r"(?P<name>\w+) -> (?P<value>[-\d.e]+|nan) @(?P<step>\d+)", default_name="score")
    assert pairs(p.feed("loss -> 0.5 @3 and acc -> 0.9 @3\nval_loss=0.1\n")) == [("loss", 0.5, 3), ("acc", 0.9, 3)]
    q = MetricParser(r"score is (?P<value>\S+)", default_name="score")
    assert pairs(q.feed("epoch=4 score is 0.75\nscore is oops\n")) == [("score", 0.75, 4)]


@pytest.mark.parametrize("regex", ["(unclosed", r"loss=(\d+)", r"(?P<value>\d+)"])
def test_bad_user_regex_is_a_config_error(regex: str) -> None:
    with pytest.raises(ConfigError):
        MetricParser(regex)  # last one: no name group and no default name


def test_very_long_line_without_newline_is_bounded() -> None:
    p = MetricParser()
    p.feed("x" * 70000)
    assert len(p._pending) < 70000


def test_tailer_reads_only_complete_new_lines(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    t = MetricsFileTailer(path)
    assert t.poll() == []  # no file yet
    with open(path, "w") as fh:
        fh.write(json.dumps({"val_loss": 0.5, "step": 0}) + "\n" + '{"val_loss": 0.4')
    assert pairs(t.poll()) == [("val_loss", 0.5, 0)]
    with open(path, "a") as fh:
        fh.write(', "step": 1}\nnot json\n')
    assert pairs(t.poll()) == [("val_loss", 0.4, 1)]
    assert t.poll() == []
    with open(path, "a") as fh:
        fh.write('{"acc": 1}')
    assert pairs(t.flush()) == [("acc", 1.0, None)]


def test_tracker_steps_last_and_best() -> None:
    tr = MetricTracker(["val_loss"])
    tr.add_all([R("val_loss", 0.5), R("acc", 0.1), R("val_loss", 0.3), R("val_loss", 0.4), R("acc", 0.2)])
    h = tr.primary
    assert h.intermediate == {0: 0.5, 1: 0.3, 2: 0.4}
    assert (h.last, h.best) == (0.4, 0.3)
    assert tr.user_attrs == {"acc": 0.2}
    assert tr.final_values() == [0.4] and tr.final_values("best") == [0.3]
    tr.add(R("val_loss", 0.2, 10))
    tr.add(R("val_loss", 0.25, 10))  # redraw of the same step: later value wins
    assert tr.add(R("val_loss", float("nan"))) == 11
    assert math.isnan(h.last) and h.best == 0.2 and h.intermediate[10] == 0.25


def test_tracker_maximize_and_missing() -> None:
    tr = MetricTracker(["acc", "loss"], ["maximize", "minimize"])
    tr.add_all([R("acc", 0.5, 1), R("acc", 0.7, 2), R("acc", 0.6, 3)])
    assert tr.objectives["acc"].best == 0.7
    assert tr.missing() == ["loss"] and tr.final_values() is None


STREAM = (
    "Epoch 1/2\n\x1b[1m32/32\x1b[0m - loss: 0.5 - val_loss: 0.6\r\n"
    "epoch=2 train/loss=0.25 acc=91%\rloss=nan step=7\n{\"val_loss\": 0.125, \"epoch\": 3}\n"
    "val_loss=0.1 \u2588\u2588 done"
).encode()


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8))
def test_chunking_does_not_change_the_reports(cuts: list[int]) -> None:
    whole = MetricParser()
    expected = pairs(whole.feed(STREAM) + whole.flush())
    p = MetricParser()
    got = []
    bounds = [0, *sorted(cuts), len(STREAM)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        got += p.feed(STREAM[a:b])
    got += p.flush()
    assert repr(pairs(got)) == repr(expected)  # repr: nan == nan
    assert len(expected) == 7
