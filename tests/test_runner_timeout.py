"""A trial stopped by ``--timeout`` after reporting is pruned with what it learned; one that reported nothing fails
(issue 16 part 6). Real ``hposweep run`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hposweep import Study
from hposweep.core.trial import TrialState

# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"


def sweep(tmp_path: Path, code: str) -> Study:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "train.py").write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPOSWEEP_")}
    r = subprocess.run([sys.executable, "-m", "hposweep", "run", "--space", "space.yaml", "--trials", "1",
                        "--no-progress", "--seed", "0", "-c", "st.json", "--timeout", "2s", "--grace", "1", "--",
                        sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    return Study.load(tmp_path / "st.json", readonly=True)


def test_a_timeout_after_reports_is_pruned_at_its_last_step_with_its_last_value(tmp_path: Path) -> None:
    (t,) = sweep(tmp_path, """
        import time
        print("loss=0.5 step=1", flush=True)
        print("loss=0.3 step=2", flush=True)
        time.sleep(60)
    """).trials
    assert t.state is TrialState.PRUNED
    assert t.value == 0.3 and t.info["reason"] == "timeout at step 2" and t.info["pruned_at_step"] == 2


def test_a_timeout_without_reports_still_fails(tmp_path: Path) -> None:
    (t,) = sweep(tmp_path, "import time\ntime.sleep(60)\n").trials
    assert t.state is TrialState.FAILED and "timed out after 2s" in t.info["reason"]
