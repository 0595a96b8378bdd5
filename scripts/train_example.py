#!/usr/bin/env python3
"""A small but real training run for trying hposweep: a numpy MLP classifier trained by minibatch SGD.

The data set is generated (two interleaved noisy spirals, 3 classes, 16 noise features), so the run
needs nothing but numpy and finishes in a fraction of a second for ~10 epochs. It prints one line
per epoch, which is what hposweep's default metric parser reads:

    epoch=3 train_loss=0.7311 val_loss=0.6843 val_acc=0.7350

Too large a learning rate diverges the way real training does: the loss becomes ``inf``/``nan``,
the script says so on stderr and stops (hposweep records a non-finite objective as a failure).

    python scripts/train_example.py --lr=0.05 --hidden=64 --optimizer=adam
    hposweep run --space spaces/example.yaml --trials 25 --force -- python scripts/train_example.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Matrices this small gain nothing from BLAS threads, and `hposweep run -j N` runs N trials at once:
# one thread each avoids N x cores threads fighting over the CPUs.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lr", type=float, default=0.01, help="learning rate")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=32, help="hidden units (0: logistic regression)")
    p.add_argument("--weight_decay", type=float, default=0.0, help="L2 penalty")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="sgd")
    p.add_argument("--momentum", type=float, default=0.9, help="for --optimizer=momentum")
    p.add_argument("--seed", type=int, default=0, help="weight init and batch order (the data is fixed)")
    p.add_argument("--n_samples", type=int, default=1500)
    p.add_argument("--sleep", type=float, default=0.0, help="extra seconds per epoch (to watch a sweep run)")
    return p.parse_args(argv)


def make_data(n: int, n_noise: int = 16, seed: int = 1234) -> tuple[np.ndarray, ...]:
    """Three noisy spirals in 2-D plus noise features; a fixed 80/20 train/validation split."""
    rng = np.random.default_rng(seed)
    k = 3
    per = n // k
    xs, ys = [], []
    for c in range(k):
        r = np.linspace(0.1, 1.0, per)
        t = np.linspace(c * 2 * np.pi / k, c * 2 * np.pi / k + 3.5, per) + rng.normal(0, 0.25, per)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(per, c))
    x = np.concatenate(xs)
    x = np.concatenate([x, rng.normal(0, 0.5, (len(x), n_noise))], axis=1)
    y = np.concatenate(ys)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    cut = int(0.8 * len(x))
    return x[:cut], y[:cut], x[cut:], y[cut:]


class MLP:
    """One ReLU hidden layer (or none) and a softmax output, with its gradients written out."""

    def __init__(self, n_in: int, hidden: int, n_out: int, rng: np.random.Generator) -> None:
        sizes = [n_in, hidden, n_out] if hidden > 0 else [n_in, n_out]
        self.params: list[np.ndarray] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            self.params += [rng.normal(0, np.sqrt(1.0 / a), (a, b)), np.zeros(b)]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        acts = [x]
        h = x
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            h = h @ self.params[2 * i] + self.params[2 * i + 1]
            if i < n_layers - 1:
                h = np.maximum(h, 0.0)
            acts.append(h)
        return h, acts

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, wd: float) -> tuple[float, list[np.ndarray]]:
        logits, acts = self.forward(x)
        probs = softmax(logits)
        loss = cross_entropy(probs, y) + 0.5 * wd * sum(float(np.sum(w * w)) for w in self.params[::2])
        delta = probs
        delta[np.arange(len(y)), y] -= 1.0
        delta /= len(y)
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        for i in reversed(range(len(self.params) // 2)):
            grads[2 * i] = acts[i].T @ delta + wd * self.params[2 * i]
            grads[2 * i + 1] = delta.sum(axis=0)
            if i > 0:
                delta = (delta @ self.params[2 * i].T) * (acts[i] > 0)
        return loss, grads


def softmax(z: np.ndarray) -> np.ndarray:
    """Textbook softmax, without the max-shift trick on purpose: like many hand-written training
    loops, it overflows (inf/inf = nan) once a too-large learning rate blows the logits up."""
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(probs[np.arange(len(y)), y])))


class Optimizer:
    """sgd, momentum (heavy ball) or adam updates, in place."""

    def __init__(self, kind: str, lr: float, momentum: float, params: list[np.ndarray]) -> None:
        self.kind, self.lr, self.momentum = kind, lr, momentum
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.t += 1
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            if self.kind == "sgd":
                p -= self.lr * g
            elif self.kind == "momentum":
                m *= self.momentum
                m += g
                p -= self.lr * m
            else:
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                m_hat = m / (1 - 0.9**self.t)
                v_hat = v / (1 - 0.999**self.t)
                p -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def train(args: argparse.Namespace) -> int:
    x_tr, y_tr, x_va, y_va = make_data(args.n_samples)
    rng = np.random.default_rng(args.seed)
    model = MLP(x_tr.shape[1], args.hidden, 3, rng)
    opt = Optimizer(args.optimizer, args.lr, args.momentum, model.params)
    batch = max(1, args.batch_size)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_tr))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            loss, grads = model.loss_and_grads(x_tr[idx], y_tr[idx], args.weight_decay)
            opt.step(model.params, grads)
            total += loss * len(idx)
        probs = softmax(model.forward(x_va)[0])
        val_loss = cross_entropy(probs, y_va)
        val_acc = float(np.mean(np.argmax(probs, axis=1) == y_va))
        train_loss = total / len(x_tr)
        print(f"epoch={epoch} train_loss={train_loss:.4f} val_loss={val_loss:.4f} val_acc={val_acc:.4f}", flush=True)
        if not (np.isfinite(val_loss) and np.isfinite(train_loss)):
            print(f"training diverged at epoch {epoch} (lr={args.lr}); stopping", file=sys.stderr, flush=True)
            return 0
        if args.sleep > 0:
            time.sleep(args.sleep)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return train(args)


if __name__ == "__main__":
    sys.exit(main())
