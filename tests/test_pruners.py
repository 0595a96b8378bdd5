"""Pruners: decisions on hand-made curves, the registry, and the caches against recomputation."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import ConfigError
from hposweep.pruners import DEFAULT_PRUNER, PRUNERS, Pruner, make_pruner, pruner_class
from hposweep.pruners.base import percentile_excluding, percentile_of_sorted
from hposweep.pruners.halving import HyperbandPruner, SuccessiveHalvingPruner, bracket_for
from hposweep.pruners.nop import NopPruner
from hposweep.pruners.percentile import MedianPruner, PercentilePruner, first_in_interval, spearman

C, P, R = TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING


def tr(number: int, curve: list[float] | dict[int, float], state: TrialState = C, seq: int | None = None) -> Trial:
    inter = dict(enumerate(curve)) if isinstance(curve, list) else dict(curve)
    t = Trial(number=number, params={}, state=state, intermediate={k: float(v) for k, v in inter.items()})
    if state == C:
        t.values = [t.intermediate[max(t.intermediate)]]
        t.finish_seq = number if seq is None else seq
    return t


def bound(p: Pruner, direction: str = "minimize", seed: int | None = 0) -> Pruner:
    p.bind(seed=seed, direction=direction)
    return p


# five completed trials; at step 2 their values are 1, 2, 3, 4, 5 (median 3, 25th percentile 2)
FIVE = [tr(i, [10.0, 8.0, v, v]) for i, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])]


# ---------------------------------------------------------------------------------------------
# registry


def test_registry_names_and_default() -> None:
    assert DEFAULT_PRUNER == "none"
    assert set(PRUNERS) == {"none", "median", "percentile", "asha", "hyperband"}
    for name in PRUNERS:
        assert pruner_class(name).name == name


@pytest.mark.parametrize("spec", [None, "none"])
def test_none_never_prunes(spec: str | None) -> None:
    p = bound(make_pruner(spec))
    assert isinstance(p, NopPruner)
    assert not p.should_prune(tr(9, [float("nan")], R), FIVE)
    assert p.bracket_of(3) is None


def test_make_pruner_forms() -> None:
    m = make_pruner({"name": "median", "n_startup_trials": 7, "n_warmup_steps": 2})
    assert isinstance(m, MedianPruner) and m.n_startup_trials == 7 and m.n_warmup_steps == 2
    assert m.percentile == 50.0
    ready = PercentilePruner(10.0)
    assert make_pruner(ready) is ready
    assert isinstance(make_pruner("asha"), SuccessiveHalvingPruner)
    assert isinstance(make_pruner({"name": "hyperband", "max_resource": 27}), HyperbandPruner)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        make_pruner("medain")
    assert "medain" in str(err.value)
    for name in PRUNERS:
        assert name in str(err.value)


def test_unknown_option_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        make_pruner({"name": "median", "n_warmup": 3})
    assert "n_warmup" in str(err.value) and "n_warmup_steps" in str(err.value) and "interval_steps" in str(err.value)
    with pytest.raises(ConfigError, match=r"\(none\)"):
        make_pruner({"name": "none", "x": 1})


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "median", "interval_steps": 0},
        {"name": "median", "n_warmup_steps": "soon"},
        {"name": "median", "n_startup_trials": True},
        {"name": "percentile", "percentile": 150},
        {"name": "asha", "reduction_factor": 1},
        {"name": "asha", "min_resource": 0},
        {"name": "hyperband", "min_resource": 10, "max_resource": 5},
        {"n_startup_trials": 3},
        ["median"],
    ],
)
def test_bad_specs_are_config_errors(spec: object) -> None:
    with pytest.raises(ConfigError):
        make_pruner(spec)  # type: ignore[arg-type]


def test_pruners_do_not_import_numpy() -> None:
    code = (
        "import sys, hposweep.pruners as p\n"
        "[p.make_pruner(n) for n in p.PRUNERS]\n"
        "assert 'numpy' not in sys.modules and 'scipy' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bind_rejects_bad_direction() -> None:
    with pytest.raises(ValueError):
        MedianPruner().bind(seed=0, direction="up")


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.mark.parametrize("p", [0.0, 10.0, 25.0, 50.0, 73.0, 100.0])
def test_percentile_matches_numpy(p: float) -> None:
    rng = random.Random(p)
    for n in (1, 2, 5, 8):
        xs = sorted(rng.uniform(-5, 5) for _ in range(n))
        assert percentile_of_sorted(xs, p) == pytest.approx(float(np.percentile(xs, p)))
        if n > 1:
            rest = xs[:2] + xs[3:] if n > 2 else xs[:2]
            drop = xs[2] if n > 2 else None
            if drop is not None:
                assert percentile_excluding(xs, drop, p) == pytest.approx(float(np.percentile(rest, p)))
    assert math.isnan(percentile_excluding([1.0], 1.0, 50))


def test_first_in_interval_postpones_skipped_checks() -> None:
    # interval 2, no warm-up: checks at 0, 2, 4 ...
    assert first_in_interval(0, None, 0, 2)
    assert not first_in_interval(1, 0, 0, 2)
    assert first_in_interval(2, 1, 0, 2)
    # reports every 3 steps: the check for 2 happens at 3, the one for 4 at... 6 (which is a check itself)
    assert first_in_interval(3, 0, 0, 2)
    assert first_in_interval(6, 3, 0, 2)
    assert not first_in_interval(7, 6, 0, 2)
    # warm-up 5, interval 3: checks at 5, 8, 11
    assert first_in_interval(5, 4, 5, 3)
    assert not first_in_interval(6, 5, 5, 3)
    assert first_in_interval(9, 7, 5, 3)


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0


# ---------------------------------------------------------------------------------------------
# median / percentile (n_warmup_steps=0: Optuna's exact rule)


def median0(**kw: object) -> Pruner:
    return bound(MedianPruner(n_warmup_steps=0, **kw))  # type: ignore[arg-type]


def test_median_minimize() -> None:
    p = median0()
    assert p.should_prune(tr(9, [10.0, 8.0, 3.5], R), FIVE)
    assert not p.should_prune(tr(9, [10.0, 8.0, 2.5], R), FIVE)


def test_median_tie_keeps_the_trial() -> None:
    assert not median0().should_prune(tr(9, [10.0, 8.0, 3.0], R), FIVE)


def test_median_maximize() -> None:
    others = [tr(i, [0.0, 0.1, v, v]) for i, v in enumerate([0.1, 0.2, 0.3, 0.4, 0.5])]
    p = median0()
    p.bind(seed=0, direction="maximize")
    assert p.should_prune(tr(9, [0.0, 0.1, 0.25], R), others)
    assert not p.should_prune(tr(9, [0.0, 0.1, 0.35], R), others)
    assert not p.should_prune(tr(9, [0.0, 0.1, 0.3], R), others)  # tie


def test_median_uses_the_trials_best_value_so_far() -> None:
    # bad now (4.5 at step 2) but it reached 2.0 at step 1: its best so far beats the median 3
    assert not median0().should_prune(tr(9, [10.0, 2.0, 4.5], R), FIVE)


def test_median_compares_with_others_values_at_this_step_not_their_best() -> None:
    # others were excellent at step 0 (0.0) and got worse: at step 1 they hold 5.0
    others = [tr(i, [0.0, 5.0]) for i in range(5)]
    assert not median0().should_prune(tr(9, [6.0, 4.0], R), others)


def test_percentile_is_stricter_than_median() -> None:
    trial = tr(9, [10.0, 8.0, 2.5], R)  # between the 25th percentile (2) and the median (3)
    assert not median0().should_prune(trial, FIVE)
    assert bound(PercentilePruner(25.0, n_warmup_steps=0)).should_prune(trial, FIVE)
    assert not bound(PercentilePruner(25.0, n_warmup_steps=0)).should_prune(tr(9, [10.0, 8.0, 2.0], R), FIVE)
    maxi = bound(PercentilePruner(25.0, n_warmup_steps=0), "maximize")
    others = [tr(i, [v, v, v]) for i, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])]
    assert maxi.should_prune(tr(9, [3.5, 3.5], R), others)  # 75th percentile is 4
    assert not maxi.should_prune(tr(9, [4.0, 4.0], R), others)


def test_too_few_completed_trials() -> None:
    trial = tr(9, [10.0, 8.0, 5.0], R)
    assert not median0().should_prune(trial, FIVE[:4])
    # running and pruned trials do not count towards n_startup_trials, nor towards the median
    extra = [tr(20, [10.0, 8.0, 9.0], P), tr(21, [10.0, 8.0, 9.0], R)]
    assert not median0().should_prune(trial, FIVE[:4] + extra)
    assert median0(n_startup_trials=4).should_prune(trial, FIVE[:4] + extra)
    assert median0(n_startup_trials=0).should_prune(trial, FIVE[:1])
    assert not median0(n_startup_trials=0).should_prune(trial, [])


def test_missing_steps_in_other_trials() -> None:
    # only two completed trials reported step 4
    others = FIVE + [tr(5, {0: 9.0, 4: 1.0, 5: 1.0}), tr(6, {0: 9.0, 1: 5.0, 4: 2.0, 5: 2.0})]
    trial = tr(9, {0: 9.0, 4: 3.0}, R)
    assert median0().should_prune(trial, others)
    assert not median0(n_min_trials=3).should_prune(trial, others)
    # nobody reported step 7: nothing to compare with
    assert not median0().should_prune(tr(9, {0: 9.0, 7: 99.0}, R), others)


def test_warmup_steps() -> None:
    trial = tr(9, [10.0, 8.0, 5.0], R)
    assert median0().should_prune(tr(9, [10.5], R), FIVE)
    assert not bound(MedianPruner(n_warmup_steps=3)).should_prune(trial, FIVE)
    assert bound(MedianPruner(n_warmup_steps=2)).should_prune(trial, FIVE)


def test_interval_steps() -> None:
    others = [tr(i, [float(v)] * 6) for i, v in enumerate([1, 2, 3, 4, 5])]
    p = median0(interval_steps=2)
    assert p.should_prune(tr(9, [9.0], R), others)  # step 0 is a check
    assert not p.should_prune(tr(9, [9.0, 9.0], R), others)  # step 1 is not
    assert p.should_prune(tr(9, [9.0, 9.0, 9.0], R), others)
    assert p.should_prune(tr(9, {0: 9.0, 3: 9.0}, R), others)  # the check for step 2 happens at 3
    assert not p.should_prune(tr(9, {0: 9.0, 2: 9.0, 3: 9.0}, R), others)  # ... unless 2 was reported


def test_nan() -> None:
    assert median0().should_prune(tr(9, [float("nan"), float("nan")], R), FIVE)
    others = FIVE + [tr(5, [float("nan")] * 4), tr(6, [float("nan")] * 4)]  # ignored, so the median stays 3
    assert not median0().should_prune(tr(9, [10.0, 8.0, 3.0], R), others)
    assert median0().should_prune(tr(9, [10.0, 8.0, 3.1], R), others)


def test_cache_matches_a_fresh_pruner() -> None:
    """The incremental per-step lists give the same decisions as recomputing from scratch."""
    rng = random.Random(1)
    trials: list[Trial] = []
    long_lived = median0()
    for number in range(40):
        curve = {s: rng.uniform(0, 10) for s in range(8) if rng.random() < 0.8}
        if not curve:
            continue
        t = tr(number, {}, R)
        for s in sorted(curve):
            t.intermediate[s] = curve[s]
            assert long_lived.should_prune(t, trials) == median0().should_prune(t, trials)
        t.state = rng.choice([C, C, P])
        if t.state == C:
            t.values = [t.intermediate[max(t.intermediate)]]
        trials.append(t)


def test_bind_resets_caches() -> None:
    p = median0()
    assert p.should_prune(tr(9, [10.0, 8.0, 3.5], R), FIVE)
    p.bind(seed=0, direction="maximize")
    assert not p.should_prune(tr(9, [0.0, 0.0, 3.5], R), FIVE)
    assert p.should_prune(tr(9, [0.0, 0.0, 2.5], R), FIVE)


# ---------------------------------------------------------------------------------------------
# auto warm-up


def slow_best_study() -> list[Trial]:
    """Six completed curves from the same start; the best final one (0) is the slowest starter:
    it is worse than the median until step 4 and best from step 6."""
    return [
        tr(0, [2.3, 2.2, 2.0, 1.8, 1.2, 0.6, 0.3, 0.2, 0.1, 0.1]),
        tr(1, [2.3, 1.0, 0.8, 0.7, 0.7, 0.65, 0.6, 0.6, 0.6, 0.6]),
        tr(2, [2.31, 1.2, 0.9, 0.8, 0.75, 0.7, 0.7, 0.7, 0.7, 0.7]),
        tr(3, [2.29, 1.4, 1.0, 0.9, 0.85, 0.8, 0.8, 0.8, 0.8, 0.8]),
        tr(4, [2.3, 1.6, 1.2, 1.0, 0.95, 0.9, 0.9, 0.9, 0.9, 0.9]),
        tr(5, [2.32, 1.8, 1.5, 1.3, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ]


def test_auto_warmup_protects_slow_starters() -> None:
    study = slow_best_study()
    # The learned warm-up without a cap (the percentile pruner's defaults, here at the median)
    # waits past the step where the slow starter would have been cut.
    p = bound(PercentilePruner(50.0))
    slow = tr(9, [2.3, 2.2, 2.0, 1.8], R)  # looks like trial 0 so far
    assert not p.should_prune(slow, study)
    warm = p.warmup()  # type: ignore[attr-defined]
    assert warm is not None and warm >= 5  # trial 0 would have been pruned at step 4
    assert median0().should_prune(slow, study)  # Optuna's default kills it
    # MedianPruner trades that for savings on real curves: its auto warm-up is capped at a quarter
    # of the longest completed run (documented; set n_warmup_steps for slow-starting curves).
    capped = bound(MedianPruner())
    capped.should_prune(slow, study)
    assert capped.warmup() <= 10 // 4  # type: ignore[attr-defined]
    # past the warm-up the rule applies: a trial still at 1.5 after all steps is pruned
    assert p.should_prune(tr(9, [2.3] + [1.5] * 8, R), study)


def test_auto_warmup_ignores_step0_noise_but_prunes_when_ranking_is_stable() -> None:
    # the ranking is fixed from step 1; step 0 is noise around the same start
    finals = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2]
    starts = [2.31, 2.29, 2.32, 2.3, 2.28, 2.33]
    study = [tr(i, [s] + [f + 0.5, f + 0.2, f]) for i, (s, f) in enumerate(zip(starts, finals, strict=True))]
    p = bound(MedianPruner())
    assert not p.should_prune(tr(9, [2.35], R), study)  # worse than the median at step 0, but step 0 is noise
    assert p.warmup() == 1  # type: ignore[attr-defined]  # step 0 unsafe -> 1 (the median takes no stretch)
    assert p.should_prune(tr(9, [2.35, 1.5, 1.5], R), study)
    # a strict percentile still learns a usable warm-up (its replay guards only the trials it would keep)
    strict = bound(PercentilePruner(10.0))
    assert strict.should_prune(tr(9, [2.35, 0.9, 0.9], R), study)
    assert strict.warmup() == 2  # type: ignore[attr-defined]


def test_auto_warmup_waits_for_enough_completed_trials() -> None:
    p = bound(MedianPruner(n_startup_trials=1))
    study = slow_best_study()[:2]
    assert not p.should_prune(tr(9, [2.3, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0], R), study)
    assert p.warmup() is None  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# asha


def asha(**kw: object) -> SuccessiveHalvingPruner:
    return bound(SuccessiveHalvingPruner(**{"min_resource": 1, **kw}))  # type: ignore[arg-type, return-value]


def test_asha_rungs_and_promotion() -> None:
    p = asha()
    assert [p.rung_step(k) for k in range(4)] == [1, 3, 9, 27]
    # the first trial has nobody to compete with: promoted
    assert not p.should_prune(tr(0, [5.0, 5.0], R), [])
    # with fewer than 3 competitors (itself included) only the best is promoted
    two = [tr(0, [5.0, 2.0, 2.0, 2.0]), tr(1, [5.0, 4.0, 4.0, 4.0], P)]
    assert p.should_prune(tr(9, [5.0, 3.0], R), two)
    assert not p.should_prune(tr(9, [5.0, 1.0], R), two)
    assert not p.should_prune(tr(9, [5.0, 2.0], R), two)  # tie with the best: promoted
    # six competitors: the best 6 // 3 = 2 are promoted
    five = [tr(i, [5.0, v, v, v]) for i, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])]
    assert not asha().should_prune(tr(9, [5.0, 1.5], R), five)
    assert asha().should_prune(tr(9, [5.0, 2.5], R), five)


def test_asha_only_judges_at_rungs_and_never_twice() -> None:
    five = [tr(i, [5.0, v, v, v, v]) for i, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])]
    p = asha()
    assert not p.should_prune(tr(9, [5.0, 1.5, 9.0], R), five)  # step 2 is no rung
    # step 3 is rung 1: rung-1 values of others are 1..5 at step 3
    assert p.should_prune(tr(9, [5.0, 1.5, 9.0, 9.0], R), five)
    # promoted at step 1 when it was alone; many better trials arrived since: not re-judged
    assert not asha().should_prune(tr(9, [5.0, 1.5, 1.5], R), five)


def test_asha_value_at_rung_is_first_report_past_it() -> None:
    # the other trial skipped step 1: its rung-0 value is its value at step 2
    other = [tr(0, {0: 5.0, 2: 1.0, 3: 1.0})]
    assert asha().should_prune(tr(9, [5.0, 2.0], R), other)
    assert not asha().should_prune(tr(9, [5.0, 0.5], R), other)


def test_asha_jump_over_several_rungs() -> None:
    five = [tr(i, {0: 5.0, 1: v, 3: 9.0 + v, 9: v, 10: v}) for i, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])]
    # rung 0 (value 1.5 is 2nd of 6), rung 1 (1.5 beats 10..14), rung 2 (1.5 is 2nd of 6): promoted
    assert not asha().should_prune(tr(9, {0: 5.0, 9: 1.5}, R), five)
    # 2.5 passes rung 1 but fails rung 0 already
    assert asha().should_prune(tr(9, {0: 5.0, 9: 2.5}, R), five)


def test_asha_maximize_and_min_early_stopping_rate() -> None:
    five = [tr(i, [0.0, v, v, v]) for i, v in enumerate([0.1, 0.2, 0.3, 0.4, 0.5])]
    p = bound(SuccessiveHalvingPruner(min_resource=1), "maximize")
    assert p.should_prune(tr(9, [0.0, 0.35], R), five)
    assert not p.should_prune(tr(9, [0.0, 0.45], R), five)
    late = asha(min_early_stopping_rate=1)
    assert late.rung_step(0) == 3
    assert not late.should_prune(tr(9, [5.0, 9.0], R), [tr(i, [5.0, 1.0, 1.0, 1.0]) for i in range(5)])


def test_asha_running_trials_compete_interrupted_ones_do_not() -> None:
    running = [tr(i, [5.0, 1.0], R) for i in range(3)]
    assert asha().should_prune(tr(9, [5.0, 2.0], R), running)
    interrupted = [tr(i, [5.0, 1.0], TrialState.INTERRUPTED) for i in range(3)]
    assert not asha().should_prune(tr(9, [5.0, 2.0], R), interrupted)
    assert asha().should_prune(tr(9, [5.0, float("nan")], R), [])


def test_asha_auto_min_resource() -> None:
    p = bound(SuccessiveHalvingPruner())
    assert not p.should_prune(tr(9, [5.0, 99.0], R), [tr(0, [5.0, 1.0], R)])  # nothing completed yet
    first = tr(0, [1.0] * 30, seq=0)  # last step 29: a run is 30 steps, first rung at 30 // 3 = 10
    longer = tr(1, [1.0] * 90, seq=1)  # completed later: ignored, so a resume settles the same way
    assert not p.should_prune(tr(9, [5.0] * 10, R), [longer, first])
    assert p.rung_step(0) == 10
    assert p.should_prune(tr(9, [5.0] * 11, R), [longer, first])


def test_asha_cache_matches_a_fresh_pruner() -> None:
    rng = random.Random(2)
    trials: list[Trial] = []
    long_lived = asha()
    for number in range(40):
        t = tr(number, {}, R)
        for s in range(10):
            if rng.random() < 0.7:
                t.intermediate[s] = rng.uniform(0, 10)
                decision = long_lived.should_prune(t, trials)
                assert decision == asha().should_prune(t, trials)
                if decision:
                    t.state = P
                    break
        if t.state == R:
            t.state = C
        if t.intermediate:
            trials.append(t)


# ---------------------------------------------------------------------------------------------
# hyperband


def hyperband(seed: int | None = 0, **kw: object) -> HyperbandPruner:
    p = HyperbandPruner(**{"min_resource": 1, "max_resource": 27, **kw})  # type: ignore[arg-type]
    p.bind(seed=seed, direction="minimize")
    p.observe([])
    return p


def test_hyperband_brackets_and_budgets() -> None:
    p = hyperband()
    assert p.n_brackets == 4
    assert p._budgets == [27, 12, 6, 4]  # ceil(4 * 3**s / (s + 1)) for s = 3, 2, 1, 0
    assert [sha.rung_step(0) for sha in p._brackets] == [1, 3, 9, 27]
    assert hyperband(max_resource=26).n_brackets == 3


def test_hyperband_assignment_is_deterministic_and_covers_all_brackets() -> None:
    a, b = hyperband(seed=7), hyperband(seed=7)
    assert [a.bracket_of(n) for n in range(300)] == [b.bracket_of(n) for n in range(300)]
    counts = Counter(a.bracket_of(n) for n in range(300))
    assert set(counts) == {0, 1, 2, 3}
    assert counts[0] > counts[1] > counts[3]  # shares follow the budgets 27 : 12 : 6 : 4
    other = hyperband(seed=8)
    assert [a.bracket_of(n) for n in range(300)] != [other.bracket_of(n) for n in range(300)]
    assert [hyperband(seed=None).bracket_of(n) for n in range(50)] == [hyperband(0).bracket_of(n) for n in range(50)]
    assert a.bracket_of(12) == bracket_for(7, 12, [27, 12, 6, 4])


def test_hyperband_auto_max_resource_waits_for_a_completed_trial() -> None:
    p = bound(HyperbandPruner(min_resource=1))
    assert p.bracket_of(0) is None
    assert not p.should_prune(tr(5, [9.0, 9.0], R), [tr(0, [1.0, 1.0], R)])
    p.observe([tr(1, [1.0] * 50, seq=1), tr(0, [1.0] * 9, seq=0)])  # first completed ran 9 steps
    assert p.n_brackets == 3  # max_resource 9: brackets start at 1, 3, 9
    assert p.bracket_of(0) is not None


def test_hyperband_trials_compete_only_within_their_bracket() -> None:
    p = hyperband(seed=3)
    by_bracket: dict[int, list[int]] = {}
    for n in range(200):
        by_bracket.setdefault(p.bracket_of(n), []).append(n)  # type: ignore[arg-type]
    b0, b1 = by_bracket[0], by_bracket[1]
    strong_elsewhere = [tr(n, [5.0, 0.1, 0.1, 0.1, 0.1]) for n in b1[:5]]
    assert not p.should_prune(tr(b0[0], [5.0, 3.0], R), strong_elsewhere)
    strong_here = [tr(n, [5.0, 0.1, 0.1, 0.1, 0.1]) for n in b0[1:6]]
    assert p.should_prune(tr(b0[0], [5.0, 3.0], R), strong_here)
    # bracket 1 is judged first at step 3, not 1
    same1 = [tr(n, [5.0, 0.1, 0.1, 0.1, 0.1]) for n in b1[1:6]]
    assert not p.should_prune(tr(b1[0], [5.0, 3.0], R), same1)
    assert p.should_prune(tr(b1[0], [5.0, 3.0, 3.0, 3.0], R), same1)


def test_hyperband_cache_matches_a_fresh_pruner() -> None:
    rng = random.Random(3)
    trials: list[Trial] = []
    long_lived = hyperband(seed=1, max_resource=9)
    for number in range(60):
        t = tr(number, {}, R)
        for s in range(10):
            t.intermediate[s] = rng.uniform(0, 10)
            decision = long_lived.should_prune(t, trials)
            assert decision == hyperband(seed=1, max_resource=9).should_prune(t, trials)
            if decision:
                t.state = P
                break
        if t.state == R:
            t.state = C
        trials.append(t)
    assert any(t.state == P for t in trials) and any(t.state == C for t in trials)


# ---------------------------------------------------------------------------------------------
# never at the last step


def test_never_pruned_where_complete_trials_ended() -> None:
    # FIVE end at step 3 (values 1..5 at steps 2 and 3): a bad trial is cut at 2, kept at 3 and later
    for p in (median0(), bound(PercentilePruner(25.0, n_warmup_steps=0)), asha(min_resource=2, reduction_factor=2)):
        bad = tr(9, [10.0, 8.0, 9.0], R)
        assert p.should_prune(bad, FIVE), p.name
        assert not p.should_prune(tr(9, [10.0, 8.0, 9.0, 9.0], R), FIVE), p.name
        assert not p.should_prune(tr(9, [10.0, 8.0, 9.0, 9.0, 9.0], R), FIVE), p.name


def test_runs_of_different_lengths_protect_each_end_step() -> None:
    # complete runs of 4 steps (0..3) and of 7 steps (0..6): steps 3 and >= 6 are protected, 4 and 5 are not
    short = [tr(i, [5.0, v, v, v]) for i, v in enumerate([1.0, 2.0, 3.0])]
    long = [tr(3 + i, [5.0, v, v, v, v, v, v]) for i, v in enumerate([1.0, 2.0, 3.0])]
    p = median0()
    assert p.should_prune(tr(9, [5.0, 9.0, 9.0], R), short + long)
    assert not p.should_prune(tr(9, [5.0, 9.0, 9.0, 9.0], R), short + long)
    assert p.should_prune(tr(9, [5.0, 9.0, 9.0, 9.0, 9.0], R), short + long)
    assert p.should_prune(tr(9, [5.0] + [9.0] * 5, R), short + long)
    assert not p.should_prune(tr(9, [5.0] + [9.0] * 6, R), short + long)
    assert not p.should_prune(tr(9, [5.0] + [9.0] * 7, R), short + long)


def test_max_resource_protects_the_last_step_before_any_trial_completed() -> None:
    # rungs at 1 and 3 with reduction factor 3; max_resource 4 means steps 0..3: rung 3 is the last step
    running = [tr(i, [5.0, 1.0, 1.0, 1.0], R) for i in range(3)]
    assert asha().should_prune(tr(9, [5.0, 9.0, 9.0, 9.0], R), running)  # rung 1 is crossed too
    assert asha().should_prune(tr(9, {0: 5.0, 3: 9.0}, R), running)
    assert not asha(max_resource=4).should_prune(tr(9, {0: 5.0, 3: 9.0}, R), running)
    assert asha(max_resource=5).should_prune(tr(9, {0: 5.0, 3: 9.0}, R), running)
    hb = hyperband(seed=0, max_resource=4)
    b0 = next(n for n in range(100) if hb.bracket_of(n) == 0)
    same = [tr(n, [5.0, 1.0, 1.0, 1.0], R) for n in range(100, 200) if hb.bracket_of(n) == 0][:3]
    assert hb.should_prune(tr(b0, [5.0, 9.0], R), same)
    assert not hb.should_prune(tr(b0, {0: 5.0, 3: 9.0}, R), same)
    with pytest.raises(ValueError):
        SuccessiveHalvingPruner(max_resource=0)


@pytest.mark.parametrize("spec", ["median", "percentile", {"name": "median", "n_warmup_steps": 0},
                                  {"name": "asha", "min_resource": 1}, {"name": "hyperband", "min_resource": 1},
                                  "asha", "hyperband"])
def test_simulated_sweeps_never_prune_at_the_last_step(spec: object) -> None:
    """Crossing noisy curves, 2 trials at a time: every pruned trial was cut before its last epoch."""
    rng = np.random.default_rng(7)
    n_epochs = 12
    p = make_pruner(spec)  # type: ignore[arg-type]
    p.bind(seed=1, direction="minimize")
    trials: list[Trial] = []
    running: list[Trial] = []
    for number in range(40):
        t = Trial(number=number, params={})
        a, tau = rng.uniform(0.1, 1.0), rng.uniform(0.5, 8.0)
        t.user_attrs["curve"] = [a + 2.0 * math.exp(-e / tau) + rng.normal(0, 0.05) for e in range(n_epochs)]
        trials.append(t)
        running.append(t)
        while len(running) >= 2 or (number == 39 and running):
            for r in list(running):
                e = len(r.intermediate)
                r.intermediate[e] = r.user_attrs["curve"][e]
                if p.should_prune(r, [o for o in trials if o is not r]):
                    assert e < n_epochs - 1 or not any(o.state == C for o in trials), (spec, r.number, e)
                    r.state = P
                elif e == n_epochs - 1:
                    r.state, r.values = C, [r.intermediate[e]]
                else:
                    continue
                r.finish_seq = number
                running.remove(r)
    assert any(t.state == P for t in trials) and any(t.state == C for t in trials)


@pytest.mark.parametrize("pruner", ["asha", "hyperband", "median", "percentile"])
def test_every_pruner_judges_fractional_steps(pruner: str) -> None:
    # epochs reported as 0.5, 1.0, 1.5 ...: hyperband's "auto" resources came out as floats and failed an assertion
    from hposweep import SearchSpace, Study

    s = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), sampler="random", pruner=pruner,
              seed=0)
    for _ in range(12):
        t = s.ask()
        for i in range(1, 8):
            s.report(t, i * 0.5, t.params["x"] + 1.0 / i)
            if s.should_prune(t):
                s.tell(t, state="pruned")
                break
        else:
            s.tell(t, t.params["x"])
    states = [t.state.value for t in s.trials]
    assert "complete" in states and set(states) <= {"complete", "pruned"}
