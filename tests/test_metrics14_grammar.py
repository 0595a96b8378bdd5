"""Issue 14, items 1, 14 and 15: the metric grammar on real log lines, and what the tracker keeps.

The corpus holds lines as frameworks print them (Keras, HF Trainer, PyTorch Lightning, LightGBM,
XGBoost, MXNet/Katib, tqdm with ``\\r`` redraws, fastai tables, plain logging), each with the exact
metrics and steps the parser must give.
"""

from __future__ import annotations

import pytest

from hposweep.execution.metrics import MetricParser, MetricReport, MetricTracker, parse_text_line
from hposweep.execution.metrics.tracker import after_dataset_prefix

Expected = list[tuple[str, float, int | float | None]]


def reports(text: str) -> Expected:
    """Feed ``text`` as a stream (line breaks and ``\\r`` included) and flush it."""
    parser = MetricParser()
    out = parser.feed(text) + parser.flush()
    return [(r.name, r.value, r.step) for r in out]


CORPUS: list[tuple[str, str, Expected]] = [
    # item 15: a multi-word key is never cut to its last word, and never merged with tqdm's loss=
    ("logging, multi-word key", "2024-05-01 10:00:00 INFO __main__ Epoch 1/3 - validation loss: 1.12\n",
     [("validation_loss", 1.12, 1)]),
    ("tqdm bar then a validation line",
     "Epoch 1/3: 100%|##########| 10/10 [00:01<00:00, loss=0.52]\rEpoch 1/3: 100%|##########| 10/10 "
     "[00:01<00:00, loss=0.50]\nINFO Epoch 1/3 - validation loss: 1.12\n",
     [("loss", 0.52, 1), ("loss", 0.5, 1), ("validation_loss", 1.12, 1)]),
    ("MXNet / Katib, Epoch[N] is a step", "INFO:root:Epoch[3] Validation-accuracy=0.75\n",
     [("Validation-accuracy", 0.75, 3)]),
    ("MXNet train line", "INFO:root:Epoch[3] Train-accuracy=0.701\nINFO:root:Epoch[3] Time cost=10.512\n",
     [("Train-accuracy", 0.701, 3), ("Time_cost", 10.512, 3)]),
    ("MXNet batch line", "INFO:root:Epoch[2] Batch [100]\tSpeed: 1234.56 samples/sec\taccuracy=0.612\n",
     [("Speed", 1234.56, 2), ("accuracy", 0.612, 2)]),
    ("Keras epoch header and progress line",
     "Epoch 2/5\n32/32 [==============================] - 1s 3ms/step - loss: 0.3190 - accuracy: 0.9070"
     " - val_loss: 0.2875 - val_accuracy: 0.9120\n",
     [("loss", 0.319, 2), ("accuracy", 0.907, 2), ("val_loss", 0.2875, 2), ("val_accuracy", 0.912, 2)]),
    ("Keras evaluate", "Test loss: 0.3012\n", [("Test_loss", 0.3012, None)]),
    ("HF Trainer eval dict", "{'eval_loss': 0.35, 'eval_accuracy': 0.88, 'eval_runtime': 1.2, 'epoch': 2.0}\n",
     [("eval_loss", 0.35, 2), ("eval_accuracy", 0.88, 2), ("eval_runtime", 1.2, 2)]),
    ("HF Trainer train dict", "{'loss': 0.41, 'grad_norm': 3.2, 'learning_rate': 4e-05, 'epoch': 1.5}\n",
     [("loss", 0.41, 1.5), ("grad_norm", 3.2, 1.5), ("learning_rate", 4e-05, 1.5)]),
    ("Lightning progress bar",
     "Epoch 0: 100%|##########| 32/32 [00:01<00:00, 20.00it/s, v_num=0, train_loss=0.2, val_loss=0.3]\n",
     [("v_num", 0.0, 0), ("train_loss", 0.2, 0), ("val_loss", 0.3, 0)]),
    ("LightGBM", "[10]\tvalid_0's binary_logloss: 0.3\n", [("valid_0-binary_logloss", 0.3, 10)]),
    ("LightGBM two datasets", "[20]\ttraining's auc: 0.91\tvalid_1's auc: 0.87\n",
     [("training-auc", 0.91, 20), ("valid_1-auc", 0.87, 20)]),
    ("XGBoost", "[10]\tvalidation_0-logloss:0.30000\tvalidation_1-logloss:0.35\n",
     [("validation_0-logloss", 0.3, 10), ("validation_1-logloss", 0.35, 10)]),
    ("PyTorch MNIST train", "Train Epoch: 1 [0/60000 (0%)]\tLoss: 2.300\n", [("Loss", 2.3, 1)]),
    ("PyTorch MNIST test", "Test set: Average loss: 0.0009, Accuracy: 9845/10000 (98%)\n",
     [("Average_loss", 0.0009, None)]),
    ("fastai table",
     "epoch     train_loss  valid_loss  accuracy  time\n0         0.512       0.401       0.880     00:05\n"
     "1         0.301       0.298       0.912     00:05\n",
     [("train_loss", 0.512, 0), ("valid_loss", 0.401, 0), ("accuracy", 0.88, 0),
      ("train_loss", 0.301, 1), ("valid_loss", 0.298, 1), ("accuracy", 0.912, 1)]),
    ("values are not name words", "a=nan b=inf c=true d=1\n", [("a", float("nan"), None), ("b", float("inf"), None),
                                                               ("d", 1.0, None)]),
    ("log level is not part of a key", "WARNING train loss: 0.5\n", [("train_loss", 0.5, None)]),
    ("at most three words join", "The final average validation loss: 0.2\n",
     [("final_average_validation_loss", 0.2, None)]),
]


def same(got: Expected, want: Expected) -> bool:
    if len(got) != len(want):
        return False
    for (gn, gv, gs), (wn, wv, ws) in zip(got, want, strict=True):
        if gn != wn or gs != ws or not (gv == wv or (gv != gv and wv != wv)):
            return False
    return True


@pytest.mark.parametrize("label, text, expected", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(label: str, text: str, expected: Expected) -> None:
    got = reports(text)
    assert same(got, expected), got


def test_multi_word_key_is_not_merged_with_the_single_word_one() -> None:
    names = {r.name for r in parse_text_line("Epoch 1/3 - validation loss: 1.12 - loss: 0.4")}
    assert names == {"validation_loss", "loss"}


@pytest.mark.parametrize("line, step", [
    ("Epoch[3] Validation-accuracy=0.75", 3), ("Epoch [7] acc=0.1", 7), ("Iter[12] loss=1", 12),
    ("Epoch 1/3 - validation loss: 1.12", 1),
])
def test_bracketed_and_slashed_steps(line: str, step: int) -> None:
    assert {r.step for r in parse_text_line(line)} == {step}


# --- the tracker: config echoes (item 14) and dataset prefixes (item 1) --------------------------------
def test_config_echo_is_not_a_metric() -> None:
    tr = MetricTracker(["val_loss"], params={"lr": 0.01, "wd": 0.1, "arch": "mlp", "layers": 3})
    for r in parse_text_line("Namespace(lr=0.01, wd=0.1, layers=3)") + parse_text_line("lr=0.005 val_loss=0.3"):
        tr.add(r)
    assert tr.user_attrs == {"lr": 0.005}  # the echo is dropped; a value that differs (a scheduler's lr) is kept
    assert tr.echoes == 3 and tr.final_values() == [0.3]


@pytest.mark.parametrize("name, objective, yes", [
    ("valid_0-binary_logloss", "binary_logloss", True), ("val/loss", "loss", True), ("eval_loss", "loss", True),
    ("valid_1_auc", "auc", True), ("kl_loss", "loss", False), ("loss", "loss", False), ("xloss", "loss", False),
])
def test_dataset_prefix(name: str, objective: str, yes: bool) -> None:
    assert after_dataset_prefix(name, objective) is yes


def test_single_prefixed_name_is_used_and_replayed() -> None:
    tr = MetricTracker(["binary_logloss"])
    tr.add_all(parse_text_line("[1]\tvalid_0's binary_logloss: 0.5"))
    tr.add_all(parse_text_line("[2]\tvalid_0's binary_logloss: 0.4"))
    assert tr.aliases == {"binary_logloss": "valid_0-binary_logloss"}
    assert tr.primary.intermediate == {1: 0.5, 2: 0.4} and tr.missing() == []


def test_two_prefixed_names_are_ambiguous_and_listed() -> None:
    tr = MetricTracker(["auc"])
    tr.add_all(parse_text_line("[20]\ttraining's auc: 0.91\tvalid_1's auc: 0.87"))
    assert tr.missing() == ["auc"] and not tr.aliases
    reason = tr.missing_reason(["auc"])
    assert "training-auc or valid_1-auc" in reason and "name one with --metric" in reason


def test_own_name_wins_over_a_prefixed_one() -> None:
    tr = MetricTracker(["loss"])
    tr.add_all([MetricReport("loss", 0.4, 1), MetricReport("eval_loss", 0.5, 1)])
    assert not tr.aliases and tr.primary.last == 0.4 and tr.user_attrs == {"eval_loss": 0.5}


def test_misspelt_objective_names_what_was_seen() -> None:
    tr = MetricTracker(["val_los"])
    tr.add_all(parse_text_line("epoch=1 val_loss=0.3 val_acc=0.9 train_loss=0.2"))
    reason = tr.missing_reason(tr.missing())
    assert reason == ("no value of 'val_los' found in the output; did you mean 'val_loss'?; "
                      "the output has: val_loss, val_acc, train_loss")


def test_no_metric_at_all_suggests_the_regex() -> None:
    reason = MetricTracker(["val_loss"]).missing_reason(["val_loss"])
    assert "no metric at all" in reason and "--metric-regex" in reason


def test_objective_with_a_space_matches_the_joined_name() -> None:
    tr = MetricTracker(["validation loss"])
    tr.add_all(parse_text_line("Epoch 1/3 - validation loss: 1.12"))
    assert tr.final_values() == [1.12]
