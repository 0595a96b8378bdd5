"""What ``best``, ``trials`` and ``importance`` print (``show``: :mod:`hposweep.cli.show`): data on stdout, in formats that pipe on.

Every trial goes through the one schema of :mod:`hposweep.study.rows` (records for JSON/YAML, rows for CSV
and tables). No typer and no numpy here: ``entry.py``'s fast path of ``hposweep best`` imports this module
directly, so it starts fast on a large study; the typer declarations of these commands are in
:mod:`hposweep.cli.app`.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from hposweep.core.trial import Trial, TrialState
from hposweep.errors import EXIT_FAILED, EXIT_OK, UsageError
from hposweep.execution.argv import args_tokens, flag_styles, format_value
from hposweep.study.api import Study
from hposweep.study.discovery import Choice, choose_checkpoint, state_label
from hposweep.study.retry import is_retired
from hposweep.study.rows import (
    HEAD_COLUMNS,
    TIMESTAMP_COLUMNS,
    metric_names,
    state_text,
    trial_columns,
    trial_record,
    trial_records,
    trial_rows,
    value_columns,
)

#: ``trials --state prior`` and the reading table's state of a warm-start prior (not a trial of this study)
PRIOR_STATE = "prior"
BEST_FORMATS = ("table", "json", "yaml", "args", "args0", "env", "csv")
TRIAL_FORMATS = ("table", "tsv", "json", "csv")

#: variables ``eval "$(hposweep best --format env)"`` must never set: the shell, the dynamic linker,
#: Python and hposweep itself depend on them (prefixes end with ``_``)
RESERVED_ENV = frozenset(
    "PATH HOME IFS SHELL PWD OLDPWD USER LOGNAME TERM LANG LANGUAGE ENV BASH_ENV CDPATH TMPDIR TZ DISPLAY "
    "HOSTNAME UID EUID PPID SHLVL OPTIND OPTARG OPTERR PS1 PS2 PS3 PS4 PROMPT_COMMAND MAIL MAILPATH HISTFILE "
    "PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV CUDA_VISIBLE_DEVICES SSH_AUTH_SOCK".split())
RESERVED_ENV_PREFIXES = ("LD_", "DYLD_", "LC_", "BASH", "HPOSWEEP_", "PYTHON")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")



def _pick_one(study: Study, pick: str | None) -> Trial | None:
    if not study.is_multi_objective:
        if pick:
            raise UsageError("--pick is for multi-objective studies; this study has one objective")
        return study.best_trial
    front = study.best_trials
    if not front:
        return None
    from hposweep.analysis.pick import pick as pick_rule

    return pick_rule(front, study.directions, metric_names(study), pick)


def print_best(study: Study, fmt: str, pick: str | None = None, *, prefix: str = "",
               choice: Choice | None = None, robust: bool = False) -> int:
    """Print the best trial in ``fmt``; ``robust``: the trial recommended under noise instead
    (:func:`hposweep.study.summary.recommended_trial`), which is the best observed one when the noise is
    negligible. Returns the exit code."""
    if fmt not in BEST_FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint="choose one of: " + ", ".join(BEST_FORMATS))
    if prefix and fmt != "env":
        raise UsageError("--prefix is for --format env")
    if robust and study.is_multi_objective:
        raise UsageError("--robust is for single-objective studies; this study has "
                         f"{len(study.directions)} objectives",
                         hint="pick one trial of the Pareto front with --pick RULE")
    out = sys.stdout
    if study.is_multi_objective and not pick and fmt in ("table", "json", "csv", "yaml"):
        front = sort_front(study, study.best_trials)
        if not front:
            return _nothing_complete(study, choice)
        _print_front(study, front, fmt)
        return EXIT_OK
    best = _pick_one(study, pick)
    if best is None:
        return _nothing_complete(study, choice)
    from hposweep.study.repeats import best_repeated, repeats_lines

    repeated = None if study.is_multi_objective else best_repeated(study.trials, study.seed, study.direction)
    recommended = None
    if repeated is not None:
        best = study.trial(repeated.number)
    elif robust:
        from hposweep.study.summary import recommended_trial

        found = recommended_trial(study)
        if found is not None:
            best, recommended = found
    if fmt == "args":
        out.write(shlex.join(args_tokens(best.params, "args", flags=flag_styles(study.space))) + "\n")
    elif fmt == "args0":
        out.write("".join(token + "\0" for token in args_tokens(best.params, "args", flags=flag_styles(study.space))))
    elif fmt == "env":
        for name, v in env_assignments(best.params, prefix):
            out.write(f"export {name}={shlex.quote(format_value(v))}\n")
    elif fmt in ("json", "yaml"):
        record = trial_record(study, best)
        if repeated is not None:
            record["repeats"] = repeated.to_json()
            record["picked_by"] = "mean over the original and its repeats"
        elif recommended is not None:
            record["picked_by"] = ("lowest model estimate under noise" if recommended.method == "model"
                                   else "best observed value (noise negligible or unknown)")
            record["estimate"] = recommended.estimate
        if fmt == "json":
            write_json(record)
        else:
            import yaml

            out.write(yaml.safe_dump(record, sort_keys=False))
    elif fmt == "csv":
        write_csv(study, [best])
    elif not sys.stdout.isatty():
        _best_plain(study, best, note=recommended is None)
    else:
        _best_table(study, best, note=recommended is None)
    if repeated is not None and fmt not in ("json", "yaml"):  # picked by the mean: say so, with each mean ± sd
        text = "\n".join(repeats_lines(study.trials, study.seed, study.direction)) + "\n"
        (sys.stdout if fmt == "table" else sys.stderr).write(text)
    elif recommended is not None and fmt not in ("json", "yaml"):  # scripts read stdout: the why goes to stderr
        (sys.stdout if fmt == "table" else sys.stderr).write(_robust_note(study, best, recommended) + "\n")
    return EXIT_OK


def _robust_note(study: Study, trial: Trial, rec: Any) -> str:
    """What ``best --robust`` picked and why, one line."""
    if rec.method != "model":
        why = "noise negligible" if rec.noise_sd is not None else "the noise cannot be told from this sweep"
        return f"--robust: #{trial.number} is the best observed trial ({why})"
    same = " (also the best observed)" if not rec.differs else ""
    return (f"--robust: #{trial.number}{same} has the lowest estimate under noise: {rec.estimate:.4g} "
            f"(noise sd ~ {rec.noise_sd:.3g})")


def _nothing_complete(study: Study, choice: Choice | None) -> int:
    """No best trial: say so, and when hposweep picked this study among others, name the others that
    have results (the newest study of a folder is often a fresh, empty one)."""
    from hposweep.study.summary import no_feasible_line

    infeasible = no_feasible_line(study)
    if infeasible is not None:
        sys.stderr.write(infeasible + "\n")
        return EXIT_FAILED
    states = ", ".join(f"{n} {s}" for s, n in _state_counts(study).items()) or "no trials"
    if choice is not None and choice.chosen and choice.others:
        with_results = []
        for other in choice.others:
            try:
                n = len(Study.load(other, readonly=True).trials_in(TrialState.COMPLETE))
            except Exception:  # noqa: BLE001 - a broken neighbour must not hide the message
                continue
            if n:
                with_results.append(f"{other} ({n} complete)")
        sys.stderr.write(
            f"{choice.path}, which hposweep picked as {choice.why}, has no completed trial yet ({states})\n")
        if with_results:
            sys.stderr.write("  studies here with results: " + ", ".join(with_results[:5]) + "\n")
            sys.stderr.write(f"  name one: hposweep best {with_results[0].split(' (')[0]}\n")
        return EXIT_FAILED
    sys.stderr.write(f"no trial has completed yet ({states})\n")
    return EXIT_FAILED


def _state_counts(study: Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    return counts


def env_assignments(params: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(NAME, value)`` for each parameter: ``PREFIX`` + the name in upper case, ``-``/``.`` as ``_``.

    Refused (UsageError, nothing printed) when a name is not a shell identifier (``2nd-stage``), is a
    variable the shell or the programs it starts depend on (``path`` → ``PATH``), or two parameters give
    the same name: ``eval`` of a half-written list, or one that replaces ``PATH``, breaks the user's
    shell. ``--prefix HPO_`` resolves all three for ordinary names.
    """
    names: dict[str, str] = {}
    problems: list[str] = []
    for key in params:
        name = prefix + re.sub(r"[^A-Za-z0-9_]", "_", key).upper()
        if not _IDENTIFIER.match(name):
            problems.append(f"parameter {key!r} would be {name!r}, not a valid variable name")
        elif name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES):
            problems.append(f"parameter {key!r} would set {name}, which the shell depends on")
        elif name in names:
            problems.append(f"parameters {names[name]!r} and {key!r} would both be {name}")
        names.setdefault(name, key)
    if problems:
        raise UsageError("--format env: " + "; ".join(problems),
                         hint="add a prefix, e.g. --prefix HPO_ (then read $HPO_<NAME>)" if not prefix
                         else "choose another --prefix")
    return [(name, params[key]) for name, key in names.items()]


def sort_front(study: Study, front: Sequence[Trial]) -> list[Trial]:
    """The Pareto front best first by the first metric (whatever its direction), then by trial number."""
    sign = 1.0 if study.directions[0] == "minimize" else -1.0

    def key(t: Trial) -> tuple[float, int]:
        v = t.values[0] if t.values else None
        return (sign * v if v is not None and math.isfinite(v) else math.inf, t.number)

    return sorted(front, key=key)


def plain_cell(v: Any) -> str:
    """A value on one plain line: never a tab or a line break inside a cell."""
    from hposweep.cli.format import fmt_value

    return re.sub(r"[\t\r\n]+", " ", fmt_value(v))


def _best_plain(study: Study, best: Trial, *, note: bool = True) -> None:
    """``best`` without a terminal: ``name<TAB>value`` lines that never wrap."""
    names = metric_names(study)
    lines = [f"trial\t{best.number}"]
    for n, v in zip(names, best.values or []):
        lines.append(f"{n}\t{plain_cell(v)}")
    lines += [f"{k}\t{plain_cell(v)}" for k, v in best.params.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    _summary_lines(study, lambda text: sys.stdout.write(text + "\n"), note=note)


def _summary_lines(study: Study, emit: Any, *, note: bool = True) -> None:
    """The digest under the best trial; with ``note``, also the trial recommended under noise when it is
    another one (``best --robust`` prints that one, so it leaves the note out)."""
    try:
        from hposweep.study.summary import digest_lines, recommend_line

        for text in digest_lines(study):
            emit(text)
        robust = recommend_line(study) if note else None
        if robust:
            emit(robust)
    except ImportError:
        pass


def _best_table(study: Study, best: Trial, *, note: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    from hposweep.cli.format import fmt_value

    console = Console()
    names = metric_names(study)
    title = f"best trial: {best.number}" if note else f"recommended trial (--robust): {best.number}"
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("name")
    table.add_column("value")
    for n, v in zip(names, best.values or []):
        table.add_row(f"{n} ({study.directions[names.index(n)]})", fmt_value(v))
    for k, v in best.params.items():
        table.add_row(k, fmt_value(v))
    console.print(table)
    _summary_lines(study, lambda text: console.print(text, highlight=False), note=note)


def _print_front(study: Study, front: list[Trial], fmt: str) -> None:
    if fmt == "json":
        write_json(trial_records(study, front))
    elif fmt == "csv":
        write_csv(study, front)
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(trial_records(study, front), sort_keys=False))
    else:
        from hposweep.cli.format import plural

        _trials_table(study, front, title=f"Pareto front: {plural(len(front), 'trial')}")


def write_json(obj: Any, indent: int | None = None) -> None:
    sys.stdout.write(json.dumps(obj, indent=indent, default=str) + "\n")


def write_csv(study: Study, trials: Sequence[Trial]) -> None:
    """``trials`` as CSV rows of the schema: a null is an empty cell, other values their exact text."""
    columns = trial_columns(study, trials)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in trial_rows(study, trials):
        writer.writerow(["" if row[c] is None else format_value(row[c]) for c in columns])


def _table_cells(study: Study, trials: list[Trial], n_priors: int = 0) -> tuple[list[str], list[list[Any]]]:
    """Headers and cells of the reading table (rich or plain): the schema's columns minus the timestamps
    and the columns empty in every row, objective columns headed by their metric names; ``reason``
    whenever a trial failed, so why it failed is on its line. The last ``n_priors`` trials are warm-start
    priors: state ``prior`` (``prior (pruned)``), and where they came from in ``reason``."""
    from hposweep.cli.format import fmt_duration

    rows = trial_rows(study, trials)
    for t, row in zip(trials[len(trials) - n_priors:], rows[len(rows) - n_priors:]):
        row["state"] = PRIOR_STATE if t.state is TrialState.COMPLETE else f"{PRIOR_STATE} ({t.state.value})"
        where = t.info.get("warm_start")
        if isinstance(where, dict):
            row["reason"] = f"warm start from {where.get('source')} #{where.get('number')}"
    vcols = value_columns(study)
    any_failed = any(t.state is TrialState.FAILED for t in trials)
    columns = [c for c in trial_columns(study, trials) if c not in TIMESTAMP_COLUMNS
               and (c in HEAD_COLUMNS or c in vcols or (c == "reason" and any_failed)
                    or any(r[c] is not None for r in rows))]
    headers = dict(zip(vcols, metric_names(study), strict=True))
    cells = []
    for t, row in zip(trials, rows, strict=True):
        if t.number < 0:  # a prior: labelled above
            pass
        elif t.state is TrialState.PRUNED and t.info.get("pruned_at_step") is not None:
            row["state"] += f"@{t.info['pruned_at_step']}"
        elif t.state is TrialState.RUNNING:
            row["state"] = state_label(study, t)
        elif is_retired(t):  # the link is in the row already: no scan of the study per row
            row["state"] = state_text(row) if row["retried_as"] is not None else "failed (retry queued)"
        row["duration"] = fmt_duration(row["duration"])
        cells.append([row[c] for c in columns])
    return [headers.get(c, c) for c in columns], cells


def _trials_table(study: Study, trials: list[Trial], title: str, plain: bool | None = None, n_priors: int = 0) -> None:
    """A rich table on a terminal; elsewhere (pipes, CI logs, ``--format tsv``) a header line and one
    tab-separated line per trial, never wrapped or cut, whatever the width. The last ``n_priors`` of
    ``trials`` are warm-start priors, shown with the state ``prior``."""
    from hposweep.cli.format import fmt_value

    headers, cells = _table_cells(study, trials, n_priors)
    if plain is None:
        plain = not sys.stdout.isatty()
    if plain:
        lines = ["\t".join(headers)] + ["\t".join(plain_cell(v) for v in row) for row in cells]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for h in headers:
        table.add_column(escape(h), overflow="fold")
    for row in cells:
        table.add_row(*(escape(fmt_value(v)) for v in row))
    Console().print(table)


_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1}


def _sort_key(study: Study, sort: str | None) -> Any:
    if sort in (None, "number"):
        return lambda t: t.number
    if sort == "value":
        sign = 1.0 if study.directions[0] == "minimize" else -1.0

        def key(t: Trial) -> tuple[int, int, float, int]:
            """complete trials by value, then pruned ones by value, then failed and the rest; a
            missing or non-finite value last within its group."""
            group = _STATE_ORDER.get(t.state, 2)
            v = t.values[0] if t.values else None
            if v is None or not math.isfinite(v):
                return (group, 1, 0.0, t.number)
            return (group, 0, sign * v, t.number)

        return key
    raise UsageError(f"unknown --sort {sort!r}", hint="use number or value")


def _prior_key(study: Study, sort: str | None) -> Any:
    """Priors are numbered -1, -2, ...: in number order that is -1 first, as they were read."""
    return (lambda t: -t.number) if sort in (None, "number") else _sort_key(study, sort)


def print_trials(study: Study, fmt: str, state: str | None, sort: str | None, top: int | None) -> None:
    from hposweep.cli.format import plural

    if fmt not in TRIAL_FORMATS:
        raise UsageError(f"unknown --format {fmt!r}", hint="choose one of: " + ", ".join(TRIAL_FORMATS))
    trials = list(study.trials)
    priors_only = state == PRIOR_STATE
    if priors_only:
        trials = sorted(study.prior_trials, key=_prior_key(study, sort))
    elif state:
        try:
            st = TrialState(state)
        except ValueError:
            raise UsageError(f"unknown --state {state!r}", hint="one of: " + ", ".join(s.value for s in TrialState)
                             + f", or {PRIOR_STATE} (the warm-start priors)") from None
        trials = [t for t in trials if t.state is st]
    if not priors_only:
        trials.sort(key=_sort_key(study, sort))
    if top is not None:
        if top < 0:
            raise UsageError("--top must be a positive number")
        trials = trials[:top]
    if fmt == "json":
        write_json(trial_records(study, trials))
    elif fmt == "csv":
        write_csv(study, trials)
    else:
        # the reading table lists the warm-start priors after the trials (not counted, state "prior");
        # JSON and CSV hold this study's trials only, unless asked for --state prior
        priors = [] if priors_only or state or top is not None else sorted(study.prior_trials, key=_prior_key(study, sort))
        title = plural(len(trials), "warm-start prior" if priors_only else "trial")
        if priors:
            title += f" (and {plural(len(priors), 'warm-start prior')}, not counted)"
        _trials_table(study, trials + priors, title=title, plain=True if fmt == "tsv" else None,
                      n_priors=len(trials) if priors_only else len(priors))


def load_announced(path: str | None) -> Study:
    """The study ``path`` names (or the one here), loaded without taking its lock; when hposweep picked
    it (no path, or a folder), one line on stderr says which file it reads."""
    return open_study(path)[0]


def open_study(path: str | None) -> tuple[Study, Choice]:
    """:func:`load_announced` and how the file was chosen (for messages about the other studies)."""
    choice = choose_checkpoint(path)
    if choice.chosen:
        sys.stderr.write(choice.announcement() + "\n")
    return Study.load(choice.path, readonly=True), choice


def load_readonly(path: str | None) -> Study:
    """The study ``path`` names (or the one here), loaded without taking its lock."""
    return Study.load(choose_checkpoint(path).path, readonly=True)


def print_importance(path: str | None, fmt: str, objective: str, bootstrap: int) -> None:
    """PED-ANOVA importances of the study ``path`` names, as a table or JSON."""
    from hposweep.analysis.importance import compute_importance

    if fmt not in ("table", "json"):
        raise UsageError(f"unknown --format {fmt!r}", hint="choose table or json")
    study = load_announced(path)
    obj: int | str = int(objective) if objective.isdigit() else objective
    result = compute_importance(study, n_bootstrap=max(0, bootstrap), objective=obj)
    if fmt == "json":
        write_json(result.to_json())
    else:
        sys.stdout.write(result.format_table() + "\n")
