"""Issue 15 item 5: the chunk scanner (learned line shapes) gives exactly what the grammar gives, line by line.

The reference is the same parser fed one complete line at a time (``parse_line``), which never uses a
shape; the stream is fed in random chunks, so shapes are learned, used, left and taken up again.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from hposweep.execution.metrics import MAX_LINE, MetricParser

_BREAK = re.compile(r"\r\n|[\r\n\x08]+")


def reference(text: str) -> tuple[list[tuple[str, float, object]], dict[str, int]]:
    p = MetricParser()
    out = []
    for line in _BREAK.split(text):
        out += p.parse_line(line)
    return [(r.name, r.value, r.step) for r in out], p.refused


def streamed(text: str, rng: random.Random, pieces: int = 40) -> tuple[list[tuple[str, float, object]],
                                                                        dict[str, int]]:
    data = text.encode()
    cuts = sorted(rng.sample(range(1, len(data)), min(pieces, len(data) - 1)))
    p = MetricParser()
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        out += p.feed(data[a:b])
    out += p.flush()
    return [(r.name, r.value, r.step) for r in out], p.refused


def same(a: list[tuple[str, float, object]], b: list[tuple[str, float, object]]) -> bool:
    """Equal lists of reports, NaN equal to NaN, -0.0 told from 0.0, 1 told from 1.0 (steps)."""
    return len(a) == len(b) and all(
        x[0] == y[0] and repr(x[1]) == repr(y[1]) and repr(x[2]) == repr(y[2]) for x, y in zip(a, b, strict=True))


NUMBERS = ["1", "0.5", "-0", "1e999", "nan", "-inf", "inf", "007", "1.5", "3.", ".25", "1e5", "2**3",
           "99999999999999999999999", "12345678901234567", "-3", "+4", "1e-05", "0.0"]
NAMES = ["step", "epoch", "loss", "val_loss", "Step", "lr", "acc", "iter", "a.b", "x-y", "global_step", "valid_0"]


def corpus(seed: int) -> str:
    rng = random.Random(seed)
    lines: list[str] = []
    for _ in range(1500):
        k = rng.random()
        if k < 0.3:
            lines.append(" ".join(f"{n}={rng.choice(NUMBERS)}" for n in rng.sample(NAMES, rng.randint(1, 3))))
        elif k < 0.45:
            lines.append("{" + ", ".join(f'"{n}": {rng.choice(NUMBERS)}' for n in rng.sample(NAMES, rng.randint(1, 3)))
                         + "}")
        elif k < 0.5:
            lines.append(f"Epoch {rng.randint(0, 9)}/10")
        elif k < 0.53:
            lines.append("epoch  train_loss  valid_loss  time")
        elif k < 0.6:
            lines.append(f"{rng.randint(0, 5)}  {rng.random():.3f}  {rng.random():.3f}  00:0{rng.randint(0, 9)}")
        elif k < 0.75:
            lines.append(f"{rng.randint(0, 100):3d}%|####  | {rng.randint(0, 999)}/1000 [00:01<00:02, "
                         f"loss={rng.choice(NUMBERS)}]")
        elif k < 0.85:
            lines.append(rng.choice([
                "INFO step 5 loss: 0.3", "2024-05-01 10:00:00 INFO Epoch 1/3 - validation loss: 1.12",
                "[10]\tvalid_0's l2: 0.5", "INFO:root:Epoch[3] Validation-accuracy=0.75", "acc=91% done",
                "32/32 [====] - 1s 3ms/step - loss: 0.3190 - accuracy: 0.9070", "version=1.2.3 step 4 x=2",
                "{'loss': 0.4, 'epoch': 1.0}", "tensor(0.41) loss=tensor(0.5)", "step=1.5 loss=2",
            ]))
        elif k < 0.9:
            lines.append("")
        else:
            lines.append(rng.choice(["\x1b[32mloss=0.1\x1b[0m", "x" * (MAX_LINE + 10), "{" * 100 + "}" * 100,
                                     "loss=" + "1" * 400, "step=" + "9" * 30 + " loss=1"]))
        if lines and rng.random() < 0.5:  # a run of the same line with other digits
            base = lines[-1]
            for _ in range(rng.randint(1, 40)):
                lines.append(re.sub(r"[0-9]+", lambda m: str(rng.randint(0, 10 ** len(m.group()))), base))
    seps = ["\n", "\r", "\r\n", "\x08", "\n\n"]
    return "".join(line + rng.choice(seps) for line in lines)


@pytest.mark.parametrize("seed", range(6))
def test_streamed_shapes_give_what_the_grammar_gives(seed: int) -> None:
    text = corpus(seed)
    want, want_refused = reference(text)
    got, got_refused = streamed(text, random.Random(seed))
    assert same(got, want)
    assert got_refused == want_refused


def test_a_million_style_run_of_plain_lines_with_odd_numbers_inside() -> None:
    lines = [f"step={i} loss={1 / (i + 1):.6f}" for i in range(3000)]
    lines[1000] = "step=1000 loss=1e999"  # refused (out of range), counted once
    lines[1500] = "step=1500 loss=inf"  # kept: the literal inf
    lines[2000] = "step=2.5 loss=0.5"  # a fractional step: not a whole-number column
    lines[2500] = "step=" + "9" * 20 + " loss=0.5"  # a step above 2**53: refused
    text = "\n".join(lines) + "\n"
    want, want_refused = reference(text)
    got, got_refused = streamed(text, random.Random(1), pieces=5)
    assert same(got, want)
    assert got_refused == want_refused == {"range": 2}
    assert (got[2000 - 1][2], got[1500 - 1][1]) == (2.5, float("inf"))


def test_json_lines_and_their_odd_numbers() -> None:
    lines = [json.dumps({"step": i, "loss": 1 / (i + 1), "acc": i / 10}) for i in range(2000)]
    lines[300] = '{"step": 300, "loss": -0, "acc": 1}'  # JSON's int -0 is 0.0, not -0.0
    lines[400] = '{"step": 400, "loss": NaN, "acc": Infinity}'
    lines[500] = '{"step": 500, "loss": 1e999, "acc": 1}'  # refused
    lines[600] = '{"step": 600, "loss": 1, "loss": 2, "acc": 3}'  # a duplicate key: the last value
    text = "\r\n".join(lines) + "\r\n"
    want, want_refused = reference(text)
    got, got_refused = streamed(text, random.Random(2), pieces=8)
    assert same(got, want)
    assert got_refused == want_refused == {"range": 1}


def test_a_template_line_is_not_used_while_a_table_could_take_it_as_a_row() -> None:
    text = "".join(f"{i} 0.{i} 0.{i + 1}\n" for i in range(50)) + "epoch  train_loss  valid_loss\n" + "".join(
        f"{i} 0.{i} 0.{i + 1}\n" for i in range(50))
    want, _ = reference(text)
    got, _ = streamed(text, random.Random(3), pieces=3)
    assert same(got, want)
    assert [r for r in got if r[0] == "train_loss"][:2] == [("train_loss", 0.0, 0), ("train_loss", 0.1, 1)]


def test_tqdm_redraws_with_a_postfix_each_give_their_report() -> None:
    n = 5000
    text = "".join(f"\r{i * 100 // n:3d}%|{'#' * (i * 10 // n):10}| {i}/{n} [00:0{i % 10}<00:02, acc=0.{i % 1000:03d}]"
                   for i in range(n)) + "\nloss=0.25\n"
    want, _ = reference(text)
    got, _ = streamed(text, random.Random(4), pieces=20)
    assert same(got, want)
    assert len(got) == n + 1 and got[-1] == ("loss", 0.25, None)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_round_filed_in_bulk_leaves_the_tracker_as_one_report_at_a_time(direction: str) -> None:
    from hposweep.execution.metric_points import RoundPoints
    from hposweep.execution.metrics import MetricReport, MetricTracker

    rng = random.Random(7)
    rounds = [[MetricReport(rng.choice(["loss", "loss", "lr", "x"]),
                            rng.choice([rng.random(), float("nan"), 0.0, -0.0, float("inf")]),
                            rng.choice([rng.randint(0, 50), rng.randint(0, 50), 2.5]))
               for _ in range(rng.randint(1, 200))] for _ in range(30)]

    def fold(bulk: bool) -> tuple[object, ...]:
        tracker = MetricTracker(["loss"], [direction], params={"x": 0.5})
        latest_all, points = [], []
        for reports in rounds:
            rp = RoundPoints(tracker, "loss")
            if bulk:
                latest = rp.file_round(list(reports))
            else:
                latest = {}
                for rep in reports:
                    filed = rp.file(rep)
                    if filed is not None and filed[0] == "loss":
                        latest[filed[1]] = rep.value
            latest_all.append(repr(latest))
            points.append(repr(rp.points))
            tracker.settle()
        h = tracker.primary
        return (repr(h.intermediate), repr(h.last), repr(h.best), repr(h.last_step), tracker.n_reports,
                repr(tracker.user_attrs), tracker.echoes, latest_all, points)

    assert fold(True) == fold(False)


def test_a_long_run_of_digits_that_is_no_value_is_read_in_linear_time() -> None:
    """``loss=`` and 60,000 digits then ``x``: the number pattern backtracked quadratically (minutes)."""
    import subprocess
    import sys

    code = ("from hposweep.execution.metrics import MetricParser\n"
            "p = MetricParser()\n"
            "for n in (30000, 60000):\n"
            "    assert p.feed('loss=' + '1' * n + 'x\\n') == []\n"
            "    assert p.feed('acc=1 loss=' + '1' * n + '\\n') == []  # digits that overflow a float\n"
            "assert p.refused == {'range': 2} and p.feed('acc=0.5\\n')[0].value == 0.5\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # a hang check: it takes ~0.1 s
