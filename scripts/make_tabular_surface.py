"""Build a small real tabular MLP benchmark (FCNet-like) from real training on scikit-learn's bundled data.

    OPENBLAS_NUM_THREADS=1 /work/venv-bench/bin/python scripts/make_tabular_surface.py \
        --out scripts/data/tabular_mlp.npz

Why: held-back problems included real tabular MLP surfaces (tables of MLP training results, as HPOBench's
FCNet or LCBench) on which Optuna's TPE beat ``auto`` (issue 18). Such tables are not redistributable here,
so this script *trains* the table: every configuration of a full grid, on each dataset, with several seeds,
and records the validation loss after every epoch. Lookups in the file are then a tabular benchmark with
real structure (plateaus, interactions, divergent learning rates) and real seed-to-seed noise.

Needs numpy and scikit-learn (only for its bundled, offline datasets: digits, breast_cancer, wine); never a
dependency of hposweep. Deterministic: the same arguments give the same file (seeded numpy, float32, one
thread; BLAS builds may differ in the last bits).

The grid (FCNet's space, made smaller; 4 x 4 x 3 x 2 x 6 x 4 x 2 = 4,608 configurations per dataset):

==============  ==========================================
n_units_1       16, 32, 64, 128
n_units_2       16, 32, 64, 128
dropout         0.0, 0.3, 0.6 (both hidden layers)
activation      relu, tanh (both hidden layers)
init_lr         5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1 (Adam)
batch_size      8, 16, 32, 64
lr_schedule     const, cosine (cosine anneals to 0 over the run)
==============  ==========================================

Training: a two-hidden-layer MLP (He/Glorot-uniform init, softmax cross-entropy, Adam with beta 0.9/0.999),
inputs standardized on the training split, ``--epochs`` epochs over a fixed training subset; the recorded value
is the validation cross-entropy after each epoch (a diverged run, NaN or above ``CAP``, is recorded as ``CAP``).
A seed fixes the initial weights, the minibatch order and the dropout masks; the train/validation split is
fixed per dataset (as in FCNet, where the seeds are repetitions of training, not of the split).

Speed: the models that share an architecture, activation, batch size and schedule (6 learning rates x 3
dropouts x the seeds) are trained together as one batched tensor (``np.matmul`` over a leading model axis),
so the whole file took 28 minutes of wall time on a 2-core machine shared with other jobs (wine 2,
breast_cancer 11, digits 14).

File (``np.savez_compressed``): ``grid_<name>`` the values of each hyperparameter, ``curves_<dataset>`` a
float16 array indexed [n_units_1, n_units_2, dropout, activation, init_lr, batch_size, lr_schedule, seed,
epoch] (validation loss), ``seconds_<dataset>`` the wall time of training the whole dataset, ``meta`` a JSON
string (datasets, split sizes, epochs, seeds, the command's arguments).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

import numpy as np

GRID: dict[str, list[Any]] = {
    "n_units_1": [16, 32, 64, 128],
    "n_units_2": [16, 32, 64, 128],
    "dropout": [0.0, 0.3, 0.6],
    "activation": ["relu", "tanh"],
    "init_lr": [5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1],
    "batch_size": [8, 16, 32, 64],
    "lr_schedule": ["const", "cosine"],
}
#: recorded loss of a diverged run (and the ceiling of every record): far above chance (ln 10 = 2.3)
CAP = 10.0
#: datasets: (loader name, training rows at most, validation rows at most)
DATASETS = {"wine": ("load_wine", 118, 60), "breast_cancer": ("load_breast_cancer", 380, 189),
            "digits": ("load_digits", 400, 400)}


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The fixed train/validation split of a bundled dataset, standardized on the training rows."""
    import sklearn.datasets

    loader, n_train, n_val = DATASETS[name]
    data = getattr(sklearn.datasets, loader)()
    x, y = data.data.astype(np.float32), data.target.astype(np.int64)
    order = np.random.default_rng([len(name), 20240]).permutation(len(y))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    mu, sd = x[tr].mean(axis=0), x[tr].std(axis=0)
    sd[sd < 1e-3] = 1.0  # a feature constant on the training rows (digits' border pixels) is only centred
    x = (x - mu) / sd
    return x[tr], y[tr], x[va], y[va], int(y.max()) + 1


def _act(a: np.ndarray, kind: str) -> np.ndarray:
    return np.maximum(a, 0.0) if kind == "relu" else np.tanh(a)


def _act_grad(h: np.ndarray, kind: str) -> np.ndarray:
    """Derivative of the activation from its *output* h."""
    return (h > 0).astype(np.float32) if kind == "relu" else 1.0 - h * h


def _xent(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-model mean cross-entropy (models,) and softmax probabilities."""
    m = logits.max(axis=-1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=-1, keepdims=True)
    p = e / s
    logp = logits - m - np.log(s)
    if y.ndim == 1:
        picked = logp[:, np.arange(len(y)), y]
    else:
        picked = np.take_along_axis(logp, y[:, :, None], axis=2)[:, :, 0]
    return -picked.mean(axis=1), p


def train_group(data: tuple[np.ndarray, ...], n_classes: int, h1: int, h2: int, act: str, batch: int,
                schedule: str, lrs: np.ndarray, drops: np.ndarray, seeds: list[int], epochs: int,
                tag: int) -> np.ndarray:
    """Train len(seeds) x len(lrs) x len(drops) models at once; validation loss (seed, lr, drop, epoch)."""
    xtr, ytr, xva, yva = data
    n, d = xtr.shape
    S, L, D = len(seeds), len(lrs), len(drops)
    M = S * L * D
    seed_of = np.repeat(np.arange(S), L * D)
    lr0 = np.tile(np.repeat(lrs, D), S).astype(np.float32)[:, None, None]
    keep = (1.0 - np.tile(drops, S * L)).astype(np.float32)[:, None, None]
    rngs = [np.random.default_rng([s, tag, h1, h2]) for s in seeds]  # same seed+architecture -> same init

    def init(fan_in: int, fan_out: int) -> np.ndarray:
        gain = math.sqrt(6.0 / fan_in) if act == "relu" else math.sqrt(6.0 / (fan_in + fan_out))
        per_seed = np.stack([r.uniform(-gain, gain, (fan_in, fan_out)) for r in rngs]).astype(np.float32)
        return per_seed[seed_of].copy()

    params = [init(d, h1), np.zeros((M, 1, h1), np.float32), init(h1, h2), np.zeros((M, 1, h2), np.float32),
              init(h2, n_classes), np.zeros((M, 1, n_classes), np.float32)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    drop_rng = np.random.default_rng([tag, h1, h2, batch, 7])
    steps_per_epoch = math.ceil(n / batch)
    total = steps_per_epoch * epochs
    t = 0
    out = np.empty((M, epochs), np.float32)
    for ep in range(epochs):
        perms = np.stack([r.permutation(n) for r in rngs])[seed_of]  # (M, n): one order per seed
        for k in range(steps_per_epoch):
            idx = perms[:, k * batch:(k + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]  # (M, b, d), (M, b)
            b = idx.shape[1]
            z1 = np.matmul(xb, params[0]) + params[1]
            a1 = _act(z1, act)
            mask1 = (drop_rng.random(a1.shape, dtype=np.float32) < keep) / keep
            a1d = a1 * mask1
            z2 = np.matmul(a1d, params[2]) + params[3]
            a2 = _act(z2, act)
            mask2 = (drop_rng.random(a2.shape, dtype=np.float32) < keep) / keep
            a2d = a2 * mask2
            logits = np.matmul(a2d, params[4]) + params[5]
            _, p = _xent(logits, yb)
            g = p
            g[np.arange(M)[:, None], np.arange(b)[None, :], yb] -= 1.0
            g /= b
            grads: list[np.ndarray] = [np.empty(0)] * 6
            grads[4] = np.matmul(a2d.transpose(0, 2, 1), g)
            grads[5] = g.sum(axis=1, keepdims=True)
            d2 = np.matmul(g, params[4].transpose(0, 2, 1)) * mask2 * _act_grad(a2, act)
            grads[2] = np.matmul(a1d.transpose(0, 2, 1), d2)
            grads[3] = d2.sum(axis=1, keepdims=True)
            d1 = np.matmul(d2, params[2].transpose(0, 2, 1)) * mask1 * _act_grad(a1, act)
            grads[0] = np.matmul(xb.transpose(0, 2, 1), d1)
            grads[1] = d1.sum(axis=1, keepdims=True)
            t += 1
            frac = 0.5 * (1.0 + math.cos(math.pi * (t - 1) / total)) if schedule == "cosine" else 1.0
            step = lr0 * np.float32(frac * math.sqrt(1 - 0.999**t) / (1 - 0.9**t))
            for i in range(6):  # Adam, in place (the update is most of the cost for wide layers)
                gi = grads[i]
                m1[i] += 0.1 * (gi - m1[i])
                gi *= gi
                gi -= m2[i]
                gi *= 0.001
                m2[i] += gi
                np.sqrt(m2[i], out=gi)
                gi += 1e-8
                np.divide(m1[i], gi, out=gi)
                gi *= step
                params[i] -= gi
        with np.errstate(all="ignore"):
            v1 = _act(np.matmul(xva, params[0]) + params[1], act)
            v2 = _act(np.matmul(v1, params[2]) + params[3], act)
            loss, _ = _xent(np.matmul(v2, params[4]) + params[5], yva)
        out[:, ep] = np.where(np.isfinite(loss), np.minimum(loss, CAP), CAP)
    return out.reshape(S, L, D, epochs)


def build_dataset(name: str, seeds: list[int], epochs: int, tag: int) -> np.ndarray:
    """Curves of every grid configuration on one dataset (shape: grid axes x seeds x epochs)."""
    xtr, ytr, xva, yva, k = load(name)
    g = GRID
    shape = [len(v) for v in g.values()]
    curves = np.empty(shape + [len(seeds), epochs], np.float32)
    lrs = np.array(g["init_lr"], np.float32)
    drops = np.array(g["dropout"], np.float32)
    for i1, h1 in enumerate(g["n_units_1"]):
        for i2, h2 in enumerate(g["n_units_2"]):
            for ia, act in enumerate(g["activation"]):
                for ib, bs in enumerate(g["batch_size"]):
                    for isch, sch in enumerate(g["lr_schedule"]):
                        r = train_group((xtr, ytr, xva, yva), k, h1, h2, act, bs, sch, lrs, drops, seeds, epochs, tag)
                        # r: (seed, lr, drop, epoch) -> grid order (drop, lr) then seed, epoch
                        curves[i1, i2, :, ia, :, ib, isch] = r.transpose(2, 1, 0, 3)
    return curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "tabular_mlp.npz"))
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    a = ap.parse_args()
    seeds = list(range(a.seeds))
    arrays: dict[str, Any] = {f"grid_{k}": np.array(v) for k, v in GRID.items()}
    meta: dict[str, Any] = {"axes": list(GRID) + ["seed", "epoch"], "epochs": a.epochs, "seeds": a.seeds,
                            "cap": CAP, "datasets": {}, "generator": "scripts/make_tabular_surface.py"}
    for tag, name in enumerate(a.datasets.split(",")):
        t0 = time.perf_counter()
        curves = build_dataset(name, seeds, a.epochs, tag)
        secs = time.perf_counter() - t0
        arrays[f"curves_{name}"] = curves.astype(np.float16)
        arrays[f"seconds_{name}"] = np.array(secs)
        final = curves[..., -1].mean(axis=-1)
        meta["datasets"][name] = {"split": DATASETS[name][1:], "best_mean_final": float(final.min()),
                                  "median_mean_final": float(np.median(final)), "seconds": round(secs, 1)}
        print(f"{name}: {secs:.0f}s, best mean final loss {final.min():.4f}, median {np.median(final):.4f}",
              flush=True)
        arrays["meta"] = np.array(json.dumps(meta))
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        np.savez_compressed(a.out, **arrays)  # after every dataset: a partial file is already usable
        print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    main()
