"""The process environment hposweep runs in, and the one its trials inherit.

hposweep limits its own BLAS thread pools (the samplers do many small matrix operations) but a trial is
the user's training program and must see the user's environment unchanged, so what hposweep added is
remembered here and left out of :func:`trial_base_env`.
"""

from __future__ import annotations

import os

#: BLAS thread variables hposweep sets for itself when the user has not: the samplers do many small
#: matrix operations, where a thread pool per core costs more than it brings (a gp ask took 1.05 s
#: with OpenBLAS threads and 0.23 s without on a busy 2-core machine)
_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
_injected: set[str] = set()


def limit_blas_threads() -> None:
    """Must run before numpy is imported; trials never see the change (:func:`trial_base_env`)."""
    for name in _BLAS_THREAD_VARS:
        if name not in os.environ:
            os.environ[name] = "1"
            _injected.add(name)


def trial_base_env() -> dict[str, str]:
    """The environment trials inherit: hposweep's own, minus what :func:`limit_blas_threads` added."""
    return {k: v for k, v in os.environ.items() if k not in _injected}
