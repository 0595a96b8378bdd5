"""Terminal-sized views of a study: a convergence sparkline, the top importances.

The trial-row schema lives in :mod:`hposweep.study.rows`; ``metric_names``, ``trial_columns`` and
``trial_rows`` are re-exported here because the report imports them from this module.
Nothing here imports numpy at module import; ``importance_lines`` does (lazily) because it runs
the importance analysis, which is why it refuses to do so on tiny studies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hposweep.core.trial import Trial, TrialState
from hposweep.study.retry import is_retired, retry_links
from hposweep.study.rows import metric_names, trial_columns, trial_rows, value_columns

if TYPE_CHECKING:
    from hposweep.analysis.recommend import Recommendation
    from hposweep.study.api import Study

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
#: below this many complete trials an importance estimate is noise, so the summary leaves it out
MIN_TRIALS_FOR_IMPORTANCE = 10

__all__ = ["best_so_far", "convergence_sparkline", "importance_lines", "luck_line", "metric_names",
           "no_feasible_line", "recommend_line", "recommended_trial",
           "prior_lines", "retry_lines", "sparkline", "study_notes", "trial_columns", "trial_rows", "value_columns"]
#: how many retried trials the summary names one by one
MAX_RETRIES_NAMED = 10


def best_so_far(study: Study, objective: int = 0) -> list[tuple[int, float]]:
    """``(trial number, best value so far)`` at each complete trial, in trial-number order.

    Only complete trials count, as for ``study.best_trial``: a pruned trial's value is a partial one, and
    a complete trial that breaks a constraint (infeasible) is never the best.
    """
    direction = study.directions[objective]
    sign = 1.0 if direction == "minimize" else -1.0
    out: list[tuple[int, float]] = []
    best: float | None = None
    for t in sorted(study.trials, key=lambda t: t.number):
        v = _value(t, objective)
        if t.state is not TrialState.COMPLETE or v is None or not study.is_feasible(t):
            continue
        if best is None or sign * v < sign * best:
            best = v
        out.append((t.number, best))
    return out


def _value(t: Trial, objective: int) -> float | None:
    if t.values is None or objective >= len(t.values):
        return None
    v = t.values[objective]
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """Unicode block sparkline of ``values``, at most ``width`` characters (later points win a bucket)."""
    if not values or width <= 0:
        return ""
    if len(values) > width:
        # Keep the last value of each bucket: for a best-so-far curve, that is the bucket's best.
        values = [values[min(len(values) - 1, ((i + 1) * len(values)) // width - 1)] for i in range(width)]
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-12 * max(1.0, abs(hi), abs(lo)):
        return SPARK_BLOCKS[len(SPARK_BLOCKS) // 2] * len(values)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - lo) / (hi - lo) * top)] for v in values)


def convergence_sparkline(study: Study, width: int = 40) -> str:
    """Best-so-far of the first objective over complete trials, as a line of block characters.

    Taller blocks are larger values, so a minimisation that improves reads as a falling line and a
    maximisation as a rising one. Empty when no trial completed.
    """
    return sparkline([v for _, v in best_so_far(study, 0)], width)


def importance_lines(study: Study, top: int = 3, *, n_bootstrap: int = 0, bar_width: int = 20) -> list[str]:
    """The ``top`` most important parameters as aligned text lines (name, share, bar), for the terminal.

    Empty when fewer than :data:`MIN_TRIALS_FOR_IMPORTANCE` trials completed or the space has fewer
    than two searchable parameters (one parameter is trivially 100%). ``n_bootstrap=0`` by default
    keeps ``hposweep best`` fast (no error bars are shown here anyway). When the estimate rests on
    few trials, a last line says so.
    """
    complete = sum(1 for t in study.trials if t.state is TrialState.COMPLETE)
    if complete < MIN_TRIALS_FOR_IMPORTANCE or len(study.space.searchable) < 2:
        return []
    from hposweep.analysis.importance import compute_importance

    result = compute_importance(study, n_bootstrap=n_bootstrap)
    shown = [p for p in result.params[: max(0, top)]]
    if not shown or result.total_raw <= 0:
        return []
    width = max(len(p.name) for p in shown)
    lines = []
    for p in shown:
        filled = int(round(p.importance * bar_width))
        bar = "█" * filled + "░" * (bar_width - filled)
        lines.append(f"{p.name:<{width}}  {p.importance * 100:5.1f}%  {bar}")
    if not result.reliable:
        lines.append(f"(rough estimate: {result.n_trials} trials; 20 or more give a steadier ranking)")
    return lines


def digest_lines(study: Study, convergence_label: str = "convergence") -> list[str]:
    """The convergence sparkline and the top importances as printed lines: what ``best`` and the end of a
    sweep show under the best trial (empty parts are left out)."""
    lines: list[str] = []
    spark = convergence_sparkline(study)
    if spark:
        lines.append(f"{convergence_label}: {spark}")
    top = importance_lines(study)
    if top:
        lines.append("most important parameters:")
        lines += ["  " + text for text in top]
    return lines


def prior_lines(study: Study) -> list[str]:
    """``warm start: 40 prior observations from old.json (not counted as trials)``: one line per source, so a
    reader of the summary knows the sampler started from more than this study's trials."""
    by_source: dict[str, int] = {}
    for t in study.prior_trials:
        where = t.info.get("warm_start")
        source = str(where.get("source")) if isinstance(where, dict) and where.get("source") else "an earlier study"
        by_source[source] = by_source.get(source, 0) + 1
    return [f"warm start: {n} prior observation{'s' if n != 1 else ''} from {source} (not counted as trials)"
            for source, n in by_source.items()]


def retry_lines(study: Study) -> list[str]:
    """``retried 3 failed trials (resume --retry-failed): #1 as #6 (complete), ...``; empty when none was."""
    retired = [t for t in study.trials if is_retired(t)]
    if not retired:
        return []
    links = retry_links(study.trials)
    parts = []
    for t in retired[:MAX_RETRIES_NAMED]:
        number = links.get(t.number)
        parts.append(f"#{t.number} as #{number} ({study.trials[number].state.value})" if number is not None
                     else f"#{t.number} (queued)")
    more = f", and {len(retired) - MAX_RETRIES_NAMED} more" if len(retired) > MAX_RETRIES_NAMED else ""
    noun = "failed trial" if len(retired) == 1 else "failed trials"
    return [f"retried {len(retired)} {noun} (they no longer count toward the target): {', '.join(parts)}{more}"]


def study_notes(study: Study) -> list[str]:
    """What the end-of-sweep summary says beyond the counts and the best: that no trial is feasible,
    that the best is likely luck, warm-start priors, retried trials."""
    infeasible = no_feasible_line(study)
    luck = luck_line(study)
    robust = recommend_line(study)
    return ([infeasible] if infeasible else []) + ([luck] if luck else []) + ([robust] if robust else []) \
        + prior_lines(study) + retry_lines(study)


#: below this many complete trials the noise estimate has too few near pairs to mean anything
MIN_TRIALS_FOR_LUCK = 20
#: the estimate pairs each trial with its nearest neighbour (quadratic): beyond this, the best ones only
MAX_TRIALS_FOR_LUCK = 1000


def _luck_trials(study: Study) -> list[Trial]:
    """The complete, feasible, valued trials the noise is judged on (the best :data:`MAX_TRIALS_FOR_LUCK`)."""
    trials = [t for t in study.trials_in(TrialState.COMPLETE)
              if t.value is not None and math.isfinite(t.value) and study.is_feasible(t)]
    if len(trials) > MAX_TRIALS_FOR_LUCK:  # the near pairs that matter are around the best: keep it fast
        sign = 1.0 if study.direction == "minimize" else -1.0
        trials = sorted(trials, key=lambda t: sign * float(t.value or 0.0))[:MAX_TRIALS_FOR_LUCK]
    return trials


def recommended_trial(study: Study) -> tuple[Trial, Recommendation] | None:
    """The trial to take when the values are noisy (:func:`hposweep.analysis.recommend.recommend`) and the
    recommendation itself; None for several objectives, without complete trials, or once repeats were run
    (then the mean over the repeats decides, as ``best`` does)."""
    from hposweep.study.repeats import has_repeats

    if study.is_multi_objective or has_repeats(study.trials):
        return None
    trials = _luck_trials(study)
    if not trials:
        return None
    from hposweep.analysis.recommend import recommend

    rec = recommend(study.space, [t.params for t in trials], [float(t.value or 0.0) for t in trials],
                    minimize=study.direction == "minimize", seed=study.seed or 0)
    return trials[rec.index], rec


def recommend_line(study: Study) -> str | None:
    """``recommended under noise: #31 (estimated 0.412; the best observed, #12's 0.398, is estimated 0.431):
    `hposweep best --robust` prints it`` when the noise-aware recommendation is not the best observed trial;
    None otherwise."""
    if study.is_multi_objective or len(_luck_trials(study)) < MIN_TRIALS_FOR_LUCK:
        return None
    found = recommended_trial(study)
    if found is None or not found[1].differs:
        return None
    trial, rec = found
    best = _luck_trials(study)[rec.best_index]
    return (f"recommended under noise: #{trial.number} (estimated {rec.estimate:.4g}; the best observed, "
            f"#{best.number}'s {best.value:.4g}, is estimated {rec.best_estimate:.4g}); "
            f"`hposweep best --robust` prints it")


def luck_line(study: Study, *, top: int = 5) -> str | None:
    """``the best may be luck: 4 other trials are within the noise (sd ~ 0.012, from 9 pairs of near-identical
    trials) of #12's 0.341; `hposweep repeat STUDY --top 5` tells them apart`` when
    :func:`hposweep.analysis.luck.best_luck` says so; None otherwise (several objectives, repeats already
    run, too few trials, or no near pairs to tell the noise from)."""
    from hposweep.study.repeats import has_repeats

    if study.is_multi_objective or has_repeats(study.trials):
        return None
    trials = _luck_trials(study)
    if len(trials) < MIN_TRIALS_FOR_LUCK:
        return None
    from hposweep.analysis.luck import best_luck
    from hposweep.core.codec import SpaceCodec

    x = SpaceCodec(study.space).encode([t.params for t in trials])
    luck = best_luck(x, [float(t.value) for t in trials if t.value is not None],
                     minimize=study.direction == "minimize")
    if luck is None or not luck.likely:
        return None
    best = study.best_trial
    where = f"#{best.number}'s {best.value:.4g}" if best is not None and best.value is not None else "the best"
    path = study.path or study.loaded_from or "STUDY"
    return (f"the best may be luck: {luck.level} other trials are within the noise (sd ~ {luck.noise_sd:.3g}, "
            f"from {luck.pairs} pairs of near-identical trials) of {where}; "
            f"`hposweep repeat {path} --top {min(top, luck.level + 1)}` tells them apart")


def no_feasible_line(study: Study) -> str | None:
    """``no feasible trial: 5 complete trials all violate a constraint; the closest is #3 (memory_gb <= 10:
    12.3)`` when the study has constraints and complete trials, none feasible; else None (``best`` exits 1
    with it; the end-of-sweep summary prints it where the best trial would be)."""
    if not study.settings.get("constraints"):
        return None
    complete = study.trials_in(TrialState.COMPLETE)
    if not complete or any(study.is_feasible(t) for t in complete):
        return None
    feasibility = study.feasibility
    closest = min(complete, key=lambda t: (feasibility.violation(t), t.number))
    broken = []
    for c in feasibility.constraints:
        v = feasibility.metric(closest, c.metric)
        if c.violation(v) > 0:
            broken.append(f"{c}: {'never reported' if v is None or math.isnan(v) else format(v, 'g')}")
    noun = "complete trial" if len(complete) == 1 else "complete trials"
    every = "violates" if len(complete) == 1 else "all violate"
    return (f"no feasible trial: {len(complete)} {noun} {every} a constraint; the closest is "
            f"#{closest.number} ({'; '.join(broken)})")
