"""A short run of scripts/fault_inject.py: real hposweep processes SIGKILLed at random moments, racing for one
new checkpoint, fed a damaged journal or a restored backup. Nothing acknowledged may be lost, no value may be
attached to the wrong params, nothing may print a traceback, and every checkpoint must stay loadable.

The full run (``python scripts/fault_inject.py --rounds 50``) takes minutes; this one a few rounds.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fault_inject.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fault_inject", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fault_inject"] = mod
    spec.loader.exec_module(mod)
    return mod


def _run(tmp_path: Path, kinds: list[str], rounds: int, seed: int) -> object:
    fi = _script()
    os.environ.setdefault("PYTHONPATH", str(SCRIPT.parent.parent))
    return fi.run_rounds(rounds, seed, kinds, str(tmp_path), say=lambda s: None)


def test_kills_races_damage_and_backups_lose_and_mix_nothing(tmp_path: Path) -> None:
    kinds = ["kill-run-j1", "kill-run-j2", "kill-worker", "concurrent", "bitflip", "backup-restore", "orphans",
             "kill-run-j2"]
    t0 = time.monotonic()
    figs = _run(tmp_path, kinds, len(kinds), seed=7)
    summary = figs.to_json()  # type: ignore[attr-defined]
    detail = "\n".join(summary["notes"])
    assert summary["trials_lost"] == 0, detail
    assert summary["mixed_values"] == 0, detail
    assert summary["tracebacks"] == 0, detail
    assert summary["unloadable"] == 0, detail
    assert summary["failures"] == {}, detail
    assert summary["targets_exact"] == summary["targets_checked"], detail
    assert summary["kills"] >= 3 and summary["kills_survived"] == summary["kills"], summary
    assert time.monotonic() - t0 < 90


def test_force_while_held_is_refused(tmp_path: Path) -> None:
    figs = _run(tmp_path, ["force-held"], 1, seed=3)
    summary = figs.to_json()  # type: ignore[attr-defined]
    assert summary["trials_lost"] == 0 and summary["mixed_values"] == 0 and summary["unloadable"] == 0
    assert summary["tracebacks"] == 0 and summary["storage_as_internal"] == 0
    assert summary["failures"] == {}, summary["notes"]


@pytest.mark.skipif(os.geteuid() != 0, reason="a small tmpfs for the full disk needs root")
def test_full_disk_is_a_clean_exit_2(tmp_path: Path) -> None:
    figs = _run(tmp_path, ["disk-full"] * 2, 2, seed=3)
    summary = figs.to_json()  # type: ignore[attr-defined]
    assert summary["trials_lost"] == 0 and summary["mixed_values"] == 0 and summary["unloadable"] == 0
    assert summary["tracebacks"] == 0 and summary["storage_as_internal"] == 0, summary["notes"]
    assert summary["failures"] == {}, summary["notes"]
