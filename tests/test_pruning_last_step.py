"""A trial is never pruned at its last reported step: end to end, with real training runs.

``scripts/train_example.py`` (a numpy MLP) trains every trial for 10 epochs and prints
``val_loss`` at epochs 1..10. Pruning at epoch 10 would save nothing and turn a finished result
into a pruned one, so ``hposweep run --pruner median`` must prune only at epochs 1..9. Random
params and options that put checks at the last epoch (so the test is not vacuous: before the
rule, the checks at epochs 9-10 and the rungs at 5 and 10 pruned trials at epoch 10).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hposweep import Study
from hposweep.core.trial import TrialState

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "scripts" / "train_example.py"
EPOCHS = 10


def sweep(tmp_path: Path, pruner: str, trials: int, options: dict | None = None) -> Study:
    doc = yaml.safe_load((ROOT / "spaces" / "example.yaml").read_text())
    doc["parameters"]["epochs"] = EPOCHS
    for key in ("sampler", "pruner", "trials", "seed"):
        doc.pop(key, None)
    if options:  # ``--pruner NAME`` keeps the YAML's options for the same pruner
        doc["pruner"] = {"name": pruner, **options}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    cmd = [sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", str(trials),
           "--seed", "3", "--sampler", "random", "--pruner", pruner, "--jobs", "2", "--prune-grace", "1",
           "--no-progress", "--quiet", "--", sys.executable, str(TRAIN), "--n_samples=600"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    return Study.load(tmp_path / "hposweep-study.json", readonly=True)


@pytest.mark.parametrize(("pruner", "options", "earlier"), [
    ("median", None, None),  # the default a user picks
    ("median", {"n_warmup_steps": 9}, {9}),  # checks only at epochs 9 and 10
    ("asha", {"min_resource": 5, "reduction_factor": 2}, {5}),  # rungs at epochs 5 and 10
])
def test_no_trial_is_pruned_at_its_last_epoch(tmp_path: Path, pruner: str, options: dict | None,
                                              earlier: set[int] | None) -> None:
    study = sweep(tmp_path, pruner, 30, options)
    complete = study.trials_in(TrialState.COMPLETE)
    pruned = study.trials_in(TrialState.PRUNED)
    assert complete and {t.last_step for t in complete} == {EPOCHS}
    assert pruned, "the sweep pruned nothing: the check below would be vacuous"
    at = {t.number: int(t.info.get("pruned_at_step", t.last_step or 0)) for t in pruned}
    assert all(step < EPOCHS for step in at.values()), at
    if earlier is not None:
        assert set(at.values()) == earlier, at
