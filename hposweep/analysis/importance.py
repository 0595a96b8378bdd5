"""Which parameters mattered: PED-ANOVA importance with bootstrap error bars.

Method (PED-ANOVA, Watanabe et al. 2023). For each parameter, compare its density among the *top*
trials (the best ``quantile`` of them) with its density among *all* trials, by the Pearson
divergence ``sum_x p_all(x) * (p_top(x) / p_all(x) - 1) ** 2``. A parameter the objective ignores
is spread the same way in both sets (divergence near 0); one that matters has its top trials
bunched in a region (large divergence). The divergences, normalised to sum to 1, are the
importances. Why this method: it needs no model fit, is fast (a few small kernel sums per
parameter), works with any sampler and handles every parameter type the same way.

Densities are estimated on each parameter's *unit* coordinate (``hposweep.core.codec``: the internal
coordinate scaled to [0, 1]):

* floats: Gaussian kernels (Scott's bandwidth) on a 64-point grid; log-scaled ones in ``log(x)``;
* ints and stepped floats with at most 64 values: the same kernels evaluated on the legal values
  only (a discrete kernel), so ``batch: [16, 32, 64]``-like spaces are not smeared between values;
* categoricals: the share of trials taking each choice, with one pseudo-count per choice so an
  unseen choice is not a division by zero.

Each kernel is normalised over the parameter's range, so points near a bound count fully.

Conditional parameters are compared on the trials where they are active (top trials that are
active against all trials that are active) and the divergence is multiplied by the fraction of
trials where they are active: a parameter that exists in 10% of trials can explain at most that
much. When fewer than two top trials have it active, its importance is 0 (the parent that
switched it off carries that signal).

Trials used: complete ones and pruned ones (with the value they were pruned at: a pruned trial
*was* bad, and dropping it would hide that), failed and running ones never. Maximisation is
handled by ranking on the negated value. Multi-objective studies are analysed one objective at a
time (``objective=``). Error bars come from re-running the whole analysis on bootstrap resamples
of the trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hposweep.core.codec import CATEGORICAL, ParamCodec
from hposweep.core.objectives import metric_names
from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from hposweep.core.space import SearchSpace


class TrialSource(Protocol):
    """What the analysis reads from a study (a :class:`hposweep.Study` is one): no I/O, no study layer."""

    @property
    def space(self) -> SearchSpace: ...

    @property
    def trials(self) -> Sequence[Trial]: ...

    @property
    def directions(self) -> Sequence[str]: ...

    @property
    def settings(self) -> Mapping[str, Any] | None: ...

METHOD = "ped-anova"
#: below this many usable trials no importance is computed at all
MIN_TRIALS = 5
#: below this many usable trials the result is flagged ``reliable=False``
RELIABLE_TRIALS = 20
#: the top set is the best ``quantile`` of trials, but never fewer than this many (nor more than half)
MIN_TOP = 10
GRID_POINTS = 64
#: smallest kernel width, as a fraction of the parameter's range (keeps tight clusters from spiking)
MIN_BANDWIDTH = 0.03


@dataclass(frozen=True)
class ParamImportance:
    """One parameter's share of the importance, with its bootstrap spread."""

    name: str
    #: share of the total, in [0, 1]; all parameters' shares sum to 1 (when any signal exists)
    importance: float
    #: bootstrap standard deviation of the share (None without bootstrap)
    std: float | None
    #: 5th and 95th bootstrap percentiles of the share (None without bootstrap)
    low: float | None
    high: float | None
    #: trials (of those used) where the parameter was active
    n_active: int
    #: the un-normalised, activity-weighted Pearson divergence
    raw: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "importance": self.importance,
            "std": self.std,
            "low": self.low,
            "high": self.high,
            "n_active": self.n_active,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class ImportanceResult:
    """Importances of all searchable parameters, most important first."""

    params: list[ParamImportance]
    #: trials the analysis used (complete + pruned with a value)
    n_trials: int
    #: size of the top set the densities were compared on
    n_top: int
    objective: int
    metric: str
    direction: str
    reliable: bool
    #: why the result is not reliable (or could not be computed); None when it is
    message: str | None
    n_bootstrap: int
    method: str = METHOD
    #: sum of raw divergences (0 means no parameter separates good trials from the rest)
    total_raw: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """``{name: share}``, most important first."""
        return {p.name: p.importance for p in self.params}

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "objective": self.objective,
            "metric": self.metric,
            "direction": self.direction,
            "n_trials": self.n_trials,
            "n_top": self.n_top,
            "n_bootstrap": self.n_bootstrap,
            "reliable": self.reliable,
            "message": self.message,
            "params": [p.to_json() for p in self.params],
        }

    def format_table(self, bar_width: int = 24) -> str:
        """A plain-text table (name, share, +- std, bar, active count) plus a header and any warning."""
        head = (f"parameter importance for {self.metric} ({self.direction}), {METHOD}: "
                f"{self.n_trials} trials, top {self.n_top}")
        lines = [head]
        if self.params and self.total_raw > 0:
            width = max(8, *(len(p.name) for p in self.params))
            has_std = any(p.std is not None for p in self.params)
            title = f"{'name':<{width}}  {'share':>6}" + ("  " + f"{'± std':>6}" if has_std else "")
            lines.append(title + "  " + " " * bar_width + "  active")
            for p in self.params:
                filled = int(round(p.importance * bar_width))
                bar = "█" * filled + "·" * (bar_width - filled)
                std = f"  {p.std * 100:5.1f}%" if has_std and p.std is not None else ("  " + " " * 6 if has_std else "")
                lines.append(f"{p.name:<{width}}  {p.importance * 100:5.1f}%{std}  {bar}  {p.n_active}")
        if self.message:
            lines.append(f"note: {self.message}")
        return "\n".join(lines)


# --- the encoded data -----------------------------------------------------------------------
@dataclass
class _Column:
    """One parameter's values over the used trials, encoded, and how to estimate its density."""

    name: str
    kind: str  # "kernel" (floats, fine ints) or "categorical"
    #: encoded values (NaN where the parameter is inactive)
    x: np.ndarray
    #: evaluation points in [0, 1] (kernel kind) or the number of choices (categorical)
    support: np.ndarray | None = None
    n_choices: int = 0
    min_bandwidth: float = MIN_BANDWIDTH


def _encode(codec: ParamCodec, values: Sequence[float]) -> tuple[np.ndarray, np.ndarray | None, int, float] | None:
    """Encoded values (the codec's unit coordinate, or choice indices) plus density support;
    None if nothing can vary."""
    import numpy as np

    x = np.array(values, dtype=float)
    if codec.kind == CATEGORICAL:
        if codec.n_cells < 2:
            return None
        return x, None, codec.n_cells, MIN_BANDWIDTH
    n_values = codec.n_values
    if n_values is not None and n_values <= GRID_POINTS:
        p = codec.numeric
        support = np.array([codec.to_unit(v) for v in p.values()], dtype=float)
        # Neighbouring values should stay distinguishable: never wider than half a lattice step.
        min_bw = max(0.5 / max(1, n_values - 1), 1e-3) if n_values > 1 else MIN_BANDWIDTH
        return x, support, 0, min(min_bw, 0.5)
    return x, np.linspace(0.0, 1.0, GRID_POINTS), 0, MIN_BANDWIDTH


def _columns(space: SearchSpace, trials: Sequence[Trial]) -> list[_Column]:
    cols = []
    for param in space.searchable:
        codec = ParamCodec.of(param)
        values = [codec.encode(t.params[param.name]) if param.name in t.params else math.nan for t in trials]
        enc = _encode(codec, values)
        if enc is None:
            continue
        x, support, n_choices, min_bw = enc
        kind = "categorical" if n_choices else "kernel"
        cols.append(_Column(param.name, kind, x, support, n_choices, min_bw))
    return cols


# --- densities and divergence ---------------------------------------------------------------
@dataclass
class _Kernels:
    """A parameter's per-trial kernels on its support, for the *all* and the *top* densities.

    Density of a weighted set of trials = ``weights @ kernels`` (then normalised). Writing it this
    way lets the bootstrap evaluate all resamples at once as one matrix product, with the kernel
    widths chosen once on the observed data (the usual fixed-bandwidth bootstrap).
    """

    active: np.ndarray  # (n,) 1.0 where the parameter is active
    k_all: np.ndarray  # (n, G)
    k_top: np.ndarray  # (n, G)
    pseudo: float  # pseudo-count added to every support point (categoricals)


def _bandwidth(x: np.ndarray, min_bw: float) -> float:
    """Scott's rule on the [0, 1] scale, floored so a tight cluster stays a bump, not a spike."""
    import numpy as np

    if len(x) < 2:
        return min_bw
    bw = 1.06 * float(np.std(x)) * len(x) ** (-0.2)
    return min(max(bw, min_bw), 1.0)


def _gauss_rows(x: np.ndarray, support: np.ndarray, bw: float) -> np.ndarray:
    """One Gaussian kernel per value, each normalised over ``support`` (full weight near the bounds)."""
    import numpy as np

    k = np.exp(-0.5 * ((support[None, :] - np.nan_to_num(x, nan=0.0)[:, None]) / bw) ** 2)
    k /= k.sum(axis=1, keepdims=True)
    k[np.isnan(x)] = 0.0
    return k


def _kernels(col: _Column, top: np.ndarray) -> _Kernels:
    import numpy as np

    active = ~np.isnan(col.x)
    if col.kind == "categorical":
        onehot = np.zeros((len(col.x), col.n_choices))
        rows = np.flatnonzero(active)
        onehot[rows, col.x[rows].astype(int)] = 1.0
        return _Kernels(active.astype(float), onehot, onehot, 1.0)
    assert col.support is not None
    bw_all = _bandwidth(col.x[active], col.min_bandwidth)
    bw_top = _bandwidth(col.x[active & top], col.min_bandwidth)
    return _Kernels(active.astype(float), _gauss_rows(col.x, col.support, bw_all),
                    _gauss_rows(col.x, col.support, bw_top), 0.0)


def _divergences(kern: _Kernels, w_all: np.ndarray, w_top: np.ndarray) -> np.ndarray:
    """Activity-weighted Pearson divergence for each row of trial weights ``w_all``/``w_top`` (B, n)."""
    import numpy as np

    n_all = w_all @ kern.active
    n_top = w_top @ kern.active
    p_all = w_all @ kern.k_all + kern.pseudo
    p_top = w_top @ kern.k_top + kern.pseudo
    p_all /= np.maximum(p_all.sum(axis=1, keepdims=True), 1e-300)
    p_top /= np.maximum(p_top.sum(axis=1, keepdims=True), 1e-300)
    d = np.sum(p_top * p_top / np.maximum(p_all, 1e-12), axis=1) - 1.0
    d = np.maximum(d, 0.0)
    d[(n_top < 2) | (n_all < 2)] = 0.0
    return d * n_all / np.maximum(w_all.sum(axis=1), 1.0)


def top_count(n: int, quantile: float) -> int:
    """Size of the top set: the best ``quantile``, but at least ``MIN_TOP`` (and at most half the trials)."""
    want = max(int(math.ceil(quantile * n)), min(MIN_TOP, n // 2))
    return max(2, min(want, n))


def _top_weights(counts: np.ndarray, order: np.ndarray, n_top: int) -> np.ndarray:
    """For each row of trial counts, the counts that fall in the best ``n_top`` (ties by trial order)."""
    import numpy as np

    sorted_counts = counts[:, order]
    before = np.cumsum(sorted_counts, axis=1) - sorted_counts
    top_sorted = np.clip(n_top - before, 0.0, sorted_counts)
    out = np.empty_like(counts)
    out[:, order] = top_sorted
    return out


def _normalise(raw: np.ndarray) -> np.ndarray:
    """Rows of raw divergences to shares summing to 1 (rows with no signal stay 0)."""
    import numpy as np

    total = raw.sum(axis=-1, keepdims=True)
    return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)


# --- public ---------------------------------------------------------------------------------
def resolve_objective(study: TrialSource, objective: int | str) -> int:
    """An objective index from an index or a metric name; ConfigError listing the valid ones."""
    names = metric_names(study.settings, len(study.directions))
    n = len(study.directions)
    if isinstance(objective, str) and not objective.lstrip("-").isdigit():
        if objective in names:
            return names.index(objective)
        raise ConfigError(f"unknown objective '{objective}'", hint="the study's objectives are: " + ", ".join(names))
    i = int(objective)
    if not 0 <= i < n:
        raise ConfigError(
            f"objective index {i} is out of range",
            hint=f"the study has {n} objective(s): " + ", ".join(f"{k}={nm}" for k, nm in enumerate(names)),
        )
    return i


def usable_trials(study: TrialSource, objective: int = 0) -> list[Trial]:
    """Complete and pruned trials with a finite value for ``objective``, in trial-number order."""
    out = []
    for t in study.trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED) or not t.values or objective >= len(t.values):
            continue
        v = t.values[objective]
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append(t)
    return out


def compute_importance(
    study: TrialSource,
    *,
    n_bootstrap: int = 100,
    seed: int = 0,
    objective: int | str = 0,
    quantile: float = 0.1,
) -> ImportanceResult:
    """PED-ANOVA importance of every searchable parameter of ``study`` for one objective.

    ``objective`` is an index or a metric name. ``quantile`` is the share of trials in the top set
    (at least :data:`MIN_TOP` of them, at most half). ``n_bootstrap`` resamples give ``std`` and a
    5-95% interval per parameter (0 skips them: the fast path for terminal summaries). The result
    is ``reliable=False`` with a ``message`` when fewer than :data:`RELIABLE_TRIALS` trials are
    usable; below :data:`MIN_TRIALS` (or with nothing to compare) ``params`` is empty.
    """
    import numpy as np

    if not 0 < quantile <= 1:
        raise ConfigError(f"quantile must be in (0, 1], got {quantile}")
    if n_bootstrap < 0:
        raise ConfigError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    obj = resolve_objective(study, objective)
    direction = study.directions[obj]
    metric = metric_names(study.settings, len(study.directions))[obj]
    trials = usable_trials(study, obj)
    n = len(trials)
    sign = 1.0 if direction == "minimize" else -1.0
    y = np.array([sign * t.values[obj] for t in trials if t.values], dtype=float)
    n_top = top_count(n, quantile) if n >= 2 else n

    def result(params: list[ParamImportance], message: str | None, total: float = 0.0) -> ImportanceResult:
        reliable = message is None and n >= RELIABLE_TRIALS
        if message is None and not reliable:
            message = f"only {n} usable trials: treat the ranking as rough ({RELIABLE_TRIALS}+ give a steadier one)"
        return ImportanceResult(params, n, n_top, obj, metric, direction, reliable, message,
                                n_bootstrap if params else 0, total_raw=total)

    cols = _columns(study.space, trials)
    if not cols:
        return result([], "the space has no parameter that varies")
    if n < MIN_TRIALS:
        return result([], f"need at least {MIN_TRIALS} complete or pruned trials with a value, have {n}")
    if float(np.ptp(y)) == 0.0:
        return result([], f"all {n} trials have the same {metric}: nothing separates good from bad")

    order = np.argsort(y, kind="stable")
    ones = np.ones((1, n))
    top = _top_weights(ones, order, n_top)
    kernels = [_kernels(c, top[0] > 0) for c in cols]
    raw = np.array([_divergences(k, ones, top)[0] for k in kernels])
    shares = _normalise(raw)
    boot = _bootstrap(kernels, order, n_top, n_bootstrap, seed) if n_bootstrap else None
    params = []
    for j, c in enumerate(cols):
        n_active = int((~np.isnan(c.x)).sum())
        std: float | None
        lo: float | None
        hi: float | None
        if boot is not None:
            std, lo, hi = float(boot[:, j].std()), *map(float, np.percentile(boot[:, j], [5, 95]))
        else:
            std = lo = hi = None
        params.append(ParamImportance(c.name, float(shares[j]), std, lo, hi, n_active, float(raw[j])))
    params.sort(key=lambda p: (-p.importance, p.name))
    total = float(raw.sum())
    msg = None if total > 0 else "no parameter separates the top trials from the rest"
    return result(params, msg, total)


def _bootstrap(kernels: Sequence[_Kernels], order: np.ndarray, n_top: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """Normalised importances on ``n_bootstrap`` resamples of the trials, shape (n_bootstrap, n_params).

    A resample is a row of multinomial counts over the trials; its top set is the best ``n_top`` of
    the resampled trials (duplicates included), exactly as if the analysis ran on the resample.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(order)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(float)
    top = _top_weights(counts, order, n_top)
    raw = np.stack([_divergences(k, counts, top) for k in kernels], axis=1)
    return _normalise(raw)
