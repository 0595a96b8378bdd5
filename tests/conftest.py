"""Fixtures shared by several test files because they are expensive to build once per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

# The in-process sampler and analysis tests do many small matrix operations, as `hposweep` does, which
# limits its own BLAS threads for that reason (hposweep/execution/environment.py). Unlimited here, OpenBLAS
# spins a thread per core that fights the test's own thread and every subprocess the suite starts: the
# tests of test_gp.py took 153 s instead of 13 s on a loaded 2-core machine. Set before numpy is imported
# (pytest imports conftest.py first); a value already set (a user's, a CI's) is kept.
for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")


@pytest.fixture(scope="session")
def mlflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with every schema migration applied, built once per session.

    A fresh store runs MLflow's ~50 Alembic migrations, each its own committed (fsynced) transaction: 10 to
    30 s on this machine's disk, for every test that starts from an empty store. A copy of an already
    migrated, still empty store is the same database MLflow would have created, in well under a second.
    """
    mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'hposweep[mlflow]')")
    folder = tmp_path_factory.mktemp("mlflow-template")
    path = folder / "template.db"
    client = mlflow.tracking.MlflowClient(f"sqlite:///{path}")
    client.search_experiments()  # creating the store migrates it
    return path


@pytest.fixture
def mlflow_sqlite(mlflow_template_db: Path) -> Callable[[Path], str]:
    """``mlflow_sqlite(path)``: a fresh, empty MLflow store at ``path`` (a copy of the migrated template); its URI.

    The only row a new store holds is the ``Default`` experiment, whose artifact folder MLflow puts under
    the creating process's ``./mlruns``; the copy points it next to ``path`` as a store made there would.
    """

    def make(path: Path) -> str:
        shutil.copyfile(mlflow_template_db, path)
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                       (str(path.parent / "mlruns" / "0"),))
        return f"sqlite:///{path}"

    return make
