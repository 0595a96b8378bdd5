"""Constraints: parsing, feasibility, best, TPE split, constrained domination; and the CLI end to end."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from hposweep.analysis.pareto import constrained_non_dominated_sort
from hposweep.core.constraints import Constraint, parse_constraints
from hposweep.core.space import SearchSpace
from hposweep.errors import ConfigError
from hposweep.study.api import Study


def test_parse_and_violation() -> None:
    c = Constraint.parse("memory_gb <= 10")
    assert (c.metric, c.op, c.bound) == ("memory_gb", "<=", 10.0)
    assert c.violation(9) == 0 and c.violation(12) == 2
    assert Constraint.parse("lat < 50").violation(50) > 0
    assert Constraint.parse("acc>=0.9").violation(None) == math.inf
    for bad in ("memory_gb <= ten", "memory_gb != 3", "<= 3", "a <= 1 <= 2"):
        with pytest.raises(ConfigError, match="cannot read the constraint"):
            parse_constraints([bad])


def _study(**kw: object) -> Study:
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})
    return Study(space, sampler="tpe", seed=0, constraints=["mem <= 1"], **kw)  # type: ignore[arg-type]


def test_best_is_feasible_and_missing_metric_is_infeasible() -> None:
    s = _study()
    for value, mem in ((0.1, 5.0), (0.5, 0.5), (0.2, None)):
        t = s.ask()
        s.tell(t, value, user_attrs={} if mem is None else {"mem": mem})
    assert s.best_trial is not None and s.best_trial.number == 1
    assert not s.is_feasible(s.trials[0]) and not s.is_feasible(s.trials[2])
    assert "never reported" in (s.infeasible_reason(s.trials[2]) or "")


def test_tpe_keeps_infeasible_out_of_good_group() -> None:
    s = _study()
    for _ in range(30):
        t = s.ask()
        x = t.params["x"]
        s.tell(t, x, user_attrs={"mem": 2.0 if x < 0.5 else 0.0})  # the low x are best but infeasible
    late = []
    for _ in range(10):
        t = s.ask()
        late.append(t.params["x"])
        s.tell(t, t.params["x"], user_attrs={"mem": 2.0 if t.params["x"] < 0.5 else 0.0})
    # without the constraint TPE would crowd near x=0; with it, it proposes near the feasible edge 0.5
    assert sum(x >= 0.4 for x in late) >= 7


def test_constrained_domination() -> None:
    ranks = constrained_non_dominated_sort([[0, 0], [1, 1], [2, 0]], [1.0, 0.0, 0.5])
    assert list(ranks) == [2, 0, 1]


def test_cli_constraint_best_exits_1_when_none_feasible(tmp_path: object) -> None:
    d = str(tmp_path)
    with open(os.path.join(d, "train.py"), "w") as fh:
        fh.write("import sys\nx=float(sys.argv[1].split('=')[1])\nprint(f'loss={x}')\nprint(f'mem={x+10}')\n")
    with open(os.path.join(d, "s.yaml"), "w") as fh:
        fh.write("parameters:\n  x: {type: float, low: 0, high: 1}\nmetric: loss\n")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    run = subprocess.run([sys.executable, "-m", "hposweep", "run", "-s", "s.yaml", "-n", "3", "--no-progress",
                          "--constraint", "mem <= 5", "-c", "st.json", "--", sys.executable, "train.py"],
                         cwd=d, env=env, capture_output=True, text=True)
    assert run.returncode == 1, run.stderr  # every complete trial infeasible: run says so, as best does
    best = subprocess.run([sys.executable, "-m", "hposweep", "best", "st.json"], cwd=d, env=env,
                          capture_output=True, text=True)
    assert best.returncode == 1
    rows = subprocess.run([sys.executable, "-m", "hposweep", "trials", "st.json"], cwd=d, env=env,
                          capture_output=True, text=True)
    assert "false" in rows.stdout and "breaks mem <= 5" in rows.stdout


def test_a_python_api_study_with_metric_names_as_strings_and_constraints_samples() -> None:
    # settings={"metrics": ["loss"]} (names, not mappings) crashed the first ask with a TypeError
    from hposweep import SearchSpace, Study

    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}),
                  settings={"metrics": ["loss"], "constraints": ["mem <= 1"]}, seed=0)
    for k in range(12):
        t = study.ask()
        study.tell(t, t.params["x"], user_attrs={"mem": 2.0 if k % 2 else 0.5})
    best = study.best_trial
    assert best is not None and best.number % 2 == 0
