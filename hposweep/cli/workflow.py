"""``enqueue`` and ``repeat``: put chosen configurations into a study's queue, and re-run the best with new seeds.

Both go through :meth:`Study.enqueue`, which appends to the study's journal under its lock, so they work on a
study that workers are running: the next free worker takes the queued params before asking the sampler.
Everything is validated against the space before anything is written (exit 2, nothing queued).
``repeat`` then runs the study with its recorded command, through the same :func:`~hposweep.cli.run.sweep`
that ``resume`` and ``worker`` use.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

from hposweep.cli.format import err, fmt_params, out, plural
from hposweep.cli.options import JsonOut, LogEvery, NoProgress, Quiet, StudyFile
from hposweep.errors import ConfigError, UsageError, did_you_mean

#: params of one queued configuration, and where it came from (kept in the trial's info)
Entry = tuple[dict[str, Any], dict[str, Any]]


def enqueue(
    checkpoint: StudyFile,
    assignments: Annotated[list[str] | None, typer.Argument(
        metavar="[NAME=VALUE]...", help="Parameter values (read as YAML scalars: 1e-3, adam, true).",
        show_default=False)] = None,
    from_file: Annotated[str | None, typer.Option(
        "--from", metavar="FILE", help="A YAML or JSON file: a mapping of params, or a list of them "
        "(`hposweep best --format json` and `trials --format json` output work too).")] = None,
    from_study: Annotated[str | None, typer.Option(
        "--from-study", metavar="STUDY", help="Queue the best complete trials of another study (see --top).")] = None,
    top: Annotated[int, typer.Option("--top", metavar="N", help="With --from-study: how many of its best.")] = 5,
) -> None:
    """Queue configurations for the next trials of a study (parameters left out are sampled).

    Works while workers run the study: the next free worker takes them.
    Examples: hposweep enqueue study.json lr=0.01 depth=3; hposweep enqueue study.json --from best.yaml;
    hposweep enqueue new.json --from-study old.json --top 5
    """
    from hposweep.study.api import Study
    from hposweep.study.discovery import find_checkpoint

    sources = sum(bool(s) for s in (assignments, from_file, from_study))
    if sources != 1:
        raise UsageError("give exactly one of NAME=VALUE arguments, --from FILE or --from-study STUDY",
                         hint="e.g. hposweep enqueue study.json lr=0.01 depth=3")
    if top < 1:
        raise UsageError("--top must be at least 1")
    # recover=False: running trials may belong to live workers; the queue is all this touches.
    study = Study.load(find_checkpoint(checkpoint), recover=False)
    try:
        if assignments:
            entries: list[Entry] = [(parse_assignments(assignments), {})]
        elif from_file:
            entries = [(params, {}) for params in read_params_file(from_file)]
        else:
            entries = from_other_study(study, str(from_study), top)
        checked = [(check_partial(study.space, params, where=_where(i, len(entries))), info)
                   for i, (params, info) in enumerate(entries)]
        with study.batch():
            for params, info in checked:
                study.enqueue(params, **info)
        _report_queued(study, checked)
    finally:
        study.close()


def _where(i: int, n: int) -> str:
    return f"configuration {i + 1} of {n}: " if n > 1 else ""


def parse_scalar(text: str) -> Any:
    """A command-line value read as YAML (``true``, ``null``, ``adam``, ``[1, 2]``), with YAML 1.1's gaps
    filled: ``1e-3`` and ``1E5`` are numbers (PyYAML reads exponents without a dot as text)."""
    import yaml

    try:
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and value == text.strip() and text.strip()[:1] not in ("'", '"'):
        for convert in (int, float):
            try:
                number = convert(value.replace("_", ""))
            except ValueError:
                continue
            return number if not (isinstance(number, float) and not math.isfinite(number)) else value
    return value


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"'{item}' is not NAME=VALUE", hint="e.g. hposweep enqueue study.json lr=0.01 opt=adam")
        if name in params:
            raise UsageError(f"'{name}' is given twice")
        params[name] = parse_scalar(text)
    return params


def read_params_file(path: str) -> list[dict[str, Any]]:
    """The configurations in a YAML/JSON file: a mapping, a list of mappings, or hposweep's own records
    (``best --format json``, ``trials --format json``: their ``params``)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML or JSON: {exc}") from None
    items = data if isinstance(data, list) else [data]
    out_list: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and isinstance(item.get("params"), Mapping) and "number" in item:
            item = item["params"]
        if not isinstance(item, Mapping) or not item:
            raise UsageError(f"{path}: entry {i + 1} is not a mapping of parameter names to values",
                             hint="write `lr: 0.01` lines, or a list of such mappings")
        out_list.append({str(k): v for k, v in item.items()})
    if not out_list:
        raise UsageError(f"{path} holds no configuration")
    return out_list


def from_other_study(study: Any, other_path: str, top: int) -> list[Entry]:
    """The ``top`` best complete trials of another study, restricted to the parameters ``study`` has."""
    from hposweep.study.api import Study
    from hposweep.study.discovery import find_checkpoint

    resolved = find_checkpoint(other_path)
    other = Study.load(resolved, readonly=True)
    if other.is_multi_objective:
        raise UsageError(f"{other_path} has several objectives: --from-study needs a single one")
    ranked = ranked_complete(other)
    if not ranked:
        raise UsageError(f"{other_path} has no complete trial to take")
    entries: list[Entry] = []
    for t in ranked[:top]:
        params = {k: v for k, v in t.params.items() if k in study.space}
        entries.append((params, {"enqueued_from": f"{resolved}#{t.number}"}))
    return entries


def ranked_complete(study: Any) -> list[Any]:
    """Complete trials with a finite value, best first (single objective)."""
    from hposweep.core.trial import TrialState

    sign = 1.0 if study.direction == "minimize" else -1.0
    done = [t for t in study.trials if t.state is TrialState.COMPLETE and t.value is not None
            and math.isfinite(t.value)]
    return sorted(done, key=lambda t: (sign * t.value, t.number))


def check_partial(space: Any, params: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """``params`` as legal values of ``space`` (ints as floats where the range is float), or a ConfigError.

    Refused: an unknown name, a value outside a range, off its step or not a choice, and a conditional
    parameter whose condition does not hold (or whose parent is left out, since a sampled parent could
    switch it off).
    """
    from hposweep.core.params import CategoricalParam, FixedParam, FloatParam, IntParam

    out_params: dict[str, Any] = {}
    for name, value in params.items():
        if name not in space:
            hint = did_you_mean(name, list(space.params)) or "the space has: " + ", ".join(space.params)
            raise ConfigError(f"{where}unknown parameter '{name}'", hint=hint)
        p = space[name]
        if isinstance(p, FloatParam) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(p, IntParam) and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not p.contains(value):
            raise ConfigError(f"{where}value {value!r} {_why_not(p, value)}", param=name,
                              hint=_legal_hint(p, value, CategoricalParam, FixedParam))
        out_params[name] = value
    by_value = dict(out_params)
    for name in out_params:
        for cond in space[name].when:
            if cond.parent not in by_value:
                raise ConfigError(
                    f"{where}is conditional on '{cond.parent}', which is not given",
                    param=name, hint=f"give {cond.parent}=" + "|".join(map(_text, cond.values))
                    + " too (a sampled parent could make it inactive)")
        if not space[name].is_active(by_value):
            conds = ", ".join(f"{c.parent} in [{', '.join(map(_text, c.values))}]" for c in space[name].when)
            given = ", ".join(f"{c.parent}={_text(by_value.get(c.parent))}" for c in space[name].when)
            raise ConfigError(f"{where}is inactive: its condition ({conds}) does not hold for {given}", param=name,
                              hint=f"leave '{name}' out, or change its parent")
    return out_params


def _text(value: Any) -> str:
    from hposweep.execution.argv import format_value

    return format_value(value)


def _why_not(p: Any, value: Any) -> str:
    from hposweep.core.params import NumericParam

    if isinstance(p, NumericParam):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"is not a number ({p.type} {p.low:g}..{p.high:g})"
        if p.type == "int" and not isinstance(value, int):
            return "is not a whole number"
        if not p.low <= value <= p.high:
            return f"is outside the range {p.low:g}..{p.high:g}"
        return f"is off the step {p.step:g} (from {p.low:g})" if p.step is not None else "is not allowed"
    if p.is_fixed:
        return f"differs from the fixed value {_text(p.value)}"
    return "is not one of the choices " + ", ".join(map(_text, p.values()))


def _legal_hint(p: Any, value: Any, categorical: Any, fixed: Any) -> str:
    from hposweep.core.params import NumericParam

    if isinstance(p, NumericParam) and p.step is not None and isinstance(value, (int, float)) \
            and not isinstance(value, bool) and p.low <= value <= p.high:
        k = math.floor((value - p.low) / p.step)
        below, above = p.snap(p.low + k * p.step), p.snap(p.low + (k + 1) * p.step)
        return f"the nearest values on the step are {_text(below)} and {_text(above)}"
    if isinstance(p, categorical):
        return "choices: " + ", ".join(map(_text, p.values())) + " (YAML reads true/false/null unquoted)"
    if isinstance(p, fixed):
        return "a fixed parameter takes only its value; leave it out"
    return f"give a value in {p.low:g}..{p.high:g}" if isinstance(p, NumericParam) else "see hposweep validate"


def _report_queued(study: Any, checked: list[Entry]) -> None:
    missing_note = []
    for params, info in checked:
        sampled = [p.name for p in study.space.searchable if p.name not in params and p.is_active(params)]
        tail = f"  (sampled: {', '.join(sampled)})" if sampled else ""
        src = f"  from {info['enqueued_from']}" if "enqueued_from" in info else ""
        missing_note.append(f"  {fmt_params(params) or '(all sampled)'}{tail}{src}")
    out(f"queued {plural(len(checked), 'configuration')} in {study.path} ({len(study.queue)} in its queue):")
    for line in missing_note:
        out(line)
    target = int(study.meta.get("target_trials") or study.settings.get("trials") or 0)
    busy = study.n_finished + len(study.running_trials)
    if target and busy + len(study.queue) > target:
        err(f"[hposweep] note: the study has {busy} of its {target} trials finished or running, so only "
            f"{max(0, target - busy)} queued trial(s) fit; run more with "
            f"hposweep resume {study.path} --trials {busy + len(study.queue)}")


# --- repeat ------------------------------------------------------------------------------------------
def repeat(
    checkpoint: StudyFile,
    top: Annotated[int, typer.Option("--top", "-k", metavar="K", help="How many of the best configurations.")] = 1,
    repeats: Annotated[int, typer.Option(
        "--repeats", "-r", metavar="R", help="New runs of each, every one with its own seed.")] = 3,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", metavar="N", help="Trials to run at once (default: as recorded).")] = None,
    no_run: Annotated[bool, typer.Option(
        "--no-run", help="Only queue the repeats (workers, or a later resume, run them).")] = False,
    no_progress: NoProgress = False,
    quiet: Quiet = False,
    json_out: JsonOut = False,
    log_every: LogEvery = 60.0,
) -> None:
    """Re-run the best configurations with new seeds, to tell a real best from a lucky one.

    Each repeat is a trial recorded as `repeat_of` its original, with HPOSWEEP_SEED (and {seed}) set to a
    seed of its own; repeats are extra trials, beyond the study's target. `best` and `report` then show
    each repeated configuration's mean and sd, and `best` picks by the mean.
    Example: hposweep repeat study.json --top 3 --repeats 5
    """
    from hposweep.cli.resume import options_from_settings
    from hposweep.cli.run import sweep
    from hposweep.study.api import Study
    from hposweep.study.discovery import find_checkpoint
    from hposweep.study.repeats import new_repeat_seeds, repeat_groups, repeat_of

    if top < 1 or repeats < 1:
        raise UsageError("--top and --repeats must be at least 1")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    study = Study.load(find_checkpoint(checkpoint), recover=not no_run)
    if study.is_multi_objective:
        study.close()
        raise UsageError("repeat needs a single objective; this study has several",
                         hint="pick trials with `hposweep best --pick ...` and queue them with `hposweep enqueue`")
    opts = None
    if not no_run:
        opts, _ = options_from_settings(study, jobs=jobs)  # the recorded command: fails before anything is queued
    chosen = _distinct_best([t for t in ranked_complete(study) if repeat_of(t) is None], top)
    if not chosen:
        study.close()
        raise UsageError(f"{study.path} has no complete trial to repeat")
    groups = {g.number: g for g in repeat_groups(study.trials, study.seed)}
    plan = []
    for t in chosen:
        taken = groups[t.number].seeds if t.number in groups else []
        plan.append((t, new_repeat_seeds(study.seed, t, taken, repeats)))
    target = int(study.meta.get("target_trials") or study.settings.get("trials") or 0)
    added = len(chosen) * repeats
    with study.batch():
        for t, seeds in plan:
            for seed in seeds:
                study.enqueue(t.params, repeat_of=t.number, repeat_seed=seed)
        # repeats are extra trials: the target grows by as many, so the search keeps its own budget
        new_target = max(target, study.n_finished + len(study.running_trials)) + added
        study.update_meta(target_trials=new_target,
                          repeat_trials=int(study.meta.get("repeat_trials") or 0) + added)
    err(f"[hposweep] repeating {plural(len(chosen), 'configuration')} {plural(repeats, 'time')} each "
        f"({plural(added, 'extra trial')}, target now {new_target}):")
    for t, seeds in plan:
        err(f"  trial {t.number} ({study.settings.get('metric', 'value')}={t.value:.6g}): seeds "
            + ", ".join(map(str, seeds)))
    if no_run or opts is None:
        out(json.dumps({"queued": added, "target": new_target}) if json_out else
            f"queued {plural(added, 'repeat')}; run them with: hposweep resume {study.path} (or hposweep worker)")
        study.close()
        return
    sweep(study, opts, new_target, quiet=quiet, no_progress=no_progress, json_out=json_out, log_every=log_every)


def _distinct_best(ranked: list[Any], k: int) -> list[Any]:
    """The first ``k`` trials of ``ranked`` with distinct params (a configuration is repeated once)."""
    from hposweep.core.params import value_key

    seen: set[Any] = set()
    chosen = []
    for t in ranked:
        key = value_key(t.params)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(t)
        if len(chosen) == k:
            break
    return chosen
