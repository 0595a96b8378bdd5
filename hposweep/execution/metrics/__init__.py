"""Metrics from a trial's output: what the user's program prints, parsed line by line.

Split by job: :mod:`.lines` reads one line (the grammar and its bounds), :mod:`.parser` follows a
stream (line breaks, tables, Keras headers, the user's regex), :mod:`.tailer` follows the metrics file,
:mod:`.tracker` folds reports into a trial's numbers, :mod:`.shapes` reads runs of lines that differ only in
their numbers at once (a trial printing 200,000 lines a second), :mod:`.userregex` runs ``--metric-regex``.

Nothing here knows about samplers or the Study: bytes go in, :class:`MetricReport` objects come
out, and :class:`MetricTracker` folds them into the numbers a trial records. It runs on every line
a trial prints, so the common case (a line with no ``=`` or ``:``) costs one substring test.

Output grammar (the default, without ``--metric-regex``)
--------------------------------------------------------
Lines end at ``\\n``, ``\\r`` or backspaces (progress bars redraw with ``\\r``; an unfinished line
is never parsed), ANSI escape sequences (colours, cursor moves) are dropped first. Then a line is
read in this order:

1. **JSON line** - the whole line (stripped) is a JSON object ``{...}``: every numeric entry is a
   metric, nested objects give ``outer/inner`` names, booleans and strings are ignored. Any other
   ``{...}`` line, such as the Python dict reprs HF Trainer prints (``{'loss': 0.4, 'epoch': 1.0}``,
   ``{'eval_loss': nan}``, ``np.float64(0.4)`` values), is read by rule 3, whose names may be quoted.
2. **Table rows** (fastai) - a header line made only of names whose first name is a step key
   (``epoch  train_loss  valid_loss  accuracy  time``) makes the following lines with the same
   number of columns, all numbers except ``mm:ss`` times, into one report per column.
3. **name/value tokens** anywhere in the line: ``NAME SEP VALUE`` where

   * ``NAME`` starts with a letter or ``_`` and continues with letters, digits, ``_ . / -``
     (ending on a letter, digit or ``_``), optionally quoted with ``'`` or ``"``. It must not be
     glued to a preceding name character, so in ``INFO:root:val_loss=0.3`` the name is
     ``val_loss``. LightGBM's ``valid_0's l2: 0.5`` is read as ``valid_0-l2`` (XGBoost style).
   * ``SEP`` is ``=`` or ``:`` with optional spaces around (``val_loss = 0.41``, ``loss: 0.2``).
   * ``VALUE`` is a decimal number with optional sign, fraction and exponent (``1e-05``), or
     ``nan``/``inf``/``infinity`` in any case with optional sign; ``tensor(0.41)`` and
     ``np.float64(0.41)`` wrappers are unwrapped. It must end the token: it is followed by the end
     of the line, a space, one of ``, ; | ) ] }``, a sentence-ending ``.``, or ``%`` (the number
     is kept as printed: ``acc=91%`` is 91.0). So ``ETA: 0:01:02``, ``time=12:30:01``,
     ``version=1.2.3`` and ``2024-01-01`` give nothing, and a tqdm bar ``Training: 50%|###``
     (a percentage followed by ``|``) is not a metric either.

   A multi-word key is never cut to its last word: the plain words right before the name, each
   followed by one space, join it with ``_`` (``Epoch 1/3 - validation loss: 1.12`` reports
   ``validation_loss``, ``Test loss: 0.3`` reports ``Test_loss``, ``Epoch[3] Time cost=10.5`` reports
   ``Time_cost``). A plain word starts with a letter and holds letters, digits and ``_``; the words
   stop at anything else (a number, ``-``, ``:``, ``]``, a tab, two spaces), at a log level
   (``INFO``, ``WARNING``, ...), at a step key, and after three words (``The final average
   validation loss: 0.2`` reports ``final_average_validation_loss``). Quoted names are taken as they
   are. ``--metric "validation loss"`` (with a space) matches ``validation_loss``. A name and a value
   with no separator (``loss 0.3``) or a rich/box table is not read: use the metrics file or
   ``--metric-regex`` for those. Names are case-sensitive and matched exactly.

Steps: a report's step comes from a *step key* on the same line, in this order of preference:
``epoch``, ``step``, ``global_step``, ``iteration``, ``iter`` (any case). Epochs come first because
a batch counter depends on the batch size, which is often one of the swept parameters. A step key
may also be written with a space or in brackets (``epoch 3``, ``Epoch 3/10``, ``Epoch 3: 100%|...``,
MXNet's and Katib's ``Epoch[3] Validation-accuracy=0.75``: step 3); a float is
truncated (``'epoch': 1.0`` -> 1). A leading ``[10]`` (XGBoost, LightGBM) is step 10. A line that
is only ``Epoch 3/10`` (Keras prints it above the epoch's progress line) sets step 3 for the
following lines of that stream until the next such line. Step keys are not reported as metrics.
Reports without any step get ``step=None``; :class:`MetricTracker` numbers those.

What the tracker keeps (:class:`MetricTracker`): a number whose name is a parameter of the space and
whose value is the trial's value of that parameter is a config echo (``Namespace(lr=0.01, ...)``),
not a metric, and is dropped. An objective never printed under its own name is looked for after a
dataset prefix: ``--metric binary_logloss`` uses LightGBM's ``valid_0's binary_logloss`` (read as
``valid_0-binary_logloss``) when it is the only such name (prefixes end in ``-``, ``/`` or ``.``, or
are a dataset word before ``_``: ``train``, ``val``, ``valid``, ``validation``, ``eval``, ``test``,
``dev``); the runner says so once.

``--metric-regex``: a user regex replaces rules 1-3. It is searched (``finditer``) in every line;
named group ``value`` is required, ``name`` optional (else the study's metric name is used), and
``step`` optional (else the step keys above apply).
"""

from __future__ import annotations

from hposweep.execution.metrics.lines import (
    MAX_DEPTH,
    MAX_LINE,
    STEP_KEYS,
    MetricReport,
    parse_json_metrics_line,
    parse_text_line,
    strip_ansi,
)
from hposweep.execution.metrics.parser import MetricParser
from hposweep.execution.metrics.tailer import MetricsFileTailer
from hposweep.execution.metrics.tracker import MetricTracker, ObjectiveHistory

__all__ = [
    "MAX_DEPTH", "MAX_LINE", "STEP_KEYS", "MetricParser", "MetricReport", "MetricTracker", "MetricsFileTailer",
    "ObjectiveHistory", "parse_json_metrics_line", "parse_text_line", "strip_ansi",
]
