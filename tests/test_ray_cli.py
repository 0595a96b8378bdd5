"""`hposweep run --executor ray`: a small sweep through a local Ray instance, end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NO_RAY = None if importlib.util.find_spec("ray") else 'Ray is not installed (pip install "hposweep[ray]")'


@pytest.mark.slow
@pytest.mark.skipif(NO_RAY is not None, reason=NO_RAY or "")
def test_sweep_through_local_ray(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text("metric: loss\nparameters:\n  x: {type: float, low: 0, high: 1}\n")
    (tmp_path / "train.py").write_text(textwrap.dedent(
        """
        import os, sys, time
        x = float(sys.argv[1].split('=')[1])
        for e in range(3):
            time.sleep(0.1)
            print(f"epoch={e} loss={x * x + 1 / (e + 1)} node_pid={os.getpid()}", flush=True)
        """))
    env = dict(os.environ, RAY_ADDRESS="")
    env.pop("RAY_ADDRESS")
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "3", "--jobs",
                        "2", "--executor", "ray", "--cpus-per-trial", "1", "--sampler", "random", "--seed", "0",
                        "--json", "--", sys.executable, str(tmp_path / "train.py")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["states"] == {"complete": 3}
    study = json.loads(subprocess.run([sys.executable, "-m", "hposweep", "trials", "--format", "json"],
                                      cwd=tmp_path, capture_output=True, text=True).stdout)
    assert all(t["last_step"] == 2 for t in study)  # intermediate values streamed back from the actor
    logs = sorted((tmp_path / "hposweep-study.trials").glob("*/hposweep.log"))
    assert len(logs) == 3 and "epoch=2" in logs[0].read_text()


def test_gpus_with_ray_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text("metric: loss\nparameters:\n  x: {type: float, low: 0, high: 1}\n")
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--executor", "ray",
                        "--gpus", "0", "--", "true"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and "--gpus-per-trial" in r.stderr
