"""What a sweep shows while it runs: a rich live view on a terminal, plain lines everywhere else.

Everything here writes to stderr: stdout is kept for data (the final summary, ``--json``), so
``hposweep run ... | jq`` and CI logs stay clean. The runner calls the same few hooks on every
display; which one is used is decided once, from the flags and whether stderr is a terminal.

Two threads read what is shown: the runner's (the hooks) and a second one (rich's refresh thread,
or the plain log's heartbeat timer). Everything the second one reads is kept here under a lock and
computed on the runner's thread when a trial finishes: the Pareto front of a 5,000-trial study costs
a fraction of a second, so it is computed once per finished trial, never four times a second.
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from hposweep.cli.format import fmt_duration, fmt_params, fmt_value
from hposweep.core.trial import Trial, TrialState
from hposweep.execution.progress import Progress
from hposweep.study.retry import is_retired

if TYPE_CHECKING:
    from hposweep.study.api import Study

#: the header ``run`` passes says how many trials were done when it started; the live progress line
#: below it says how many are done now, so the live view drops the stale count
_HEADER_COUNTS = re.compile(r"^(\d+ trials) \(\d+ done\)")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 trial``, ``2 trials``, ``0 trials``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def fmt_metrics(names: Sequence[str], values: Sequence[float | None] | None) -> str:
    """``val_acc=0.6367 latency_ms=38.63``: each value named, so a log line can be grepped for one metric."""
    vals = list(values or [])
    if not vals:
        return f"{names[0] if names else 'value'}=-"
    if len(names) == len(vals) or (len(vals) == 1 and names):
        labels = list(names)
    else:
        labels = [f"value_{i}" for i in range(len(vals))]
    return " ".join(f"{name}={fmt_value(v)}" for name, v in zip(labels, vals))


@dataclass
class _Running:
    """What is shown of a running trial; only the display's own copy, so the other thread never reads the study."""

    trial: Trial
    slot: int | None
    started: float  # wall clock (time.time), for the running duration
    step: int | None = None
    value: float | None = None
    last_line: float = field(default_factory=time.monotonic)  # plain log: when this trial was last mentioned


@dataclass
class _Summary:
    """The study's counts and best trials, recomputed only when the number of finished trials changes."""

    n_finished: int = -1
    counts: Counter[TrialState] = field(default_factory=Counter)
    best: Trial | None = None
    front: list[Trial] = field(default_factory=list)


class Display(Progress):
    """The base of the CLI's views: prints nothing (``--quiet``); the others override the hooks."""

    def __init__(self, study: Study, *, metric: str, target: int | None) -> None:
        self.study = study
        self.metric = metric
        #: ``run`` passes the objectives joined by commas (``val_acc,latency_ms``)
        self.names = [m for m in metric.split(",") if m] or ["value"]
        self.target = target
        self.started = time.monotonic()
        #: finished trials before this session (``resume``): the ETA counts only this session's
        self.done_before = study.n_finished
        self._lock = threading.RLock()
        self._summary = _Summary()
        self.summary_updates = 0  # how often the front/best was recomputed (tests, benchmarks)

    def start(self, header: str) -> None:
        self._session_start()

    def _session_start(self) -> None:
        self.started = time.monotonic()
        self.done_before = self.study.n_finished
        self._update_summary()

    # shared helpers -------------------------------------------------------------------------
    def _update_summary(self, finished: Trial | None = None) -> _Summary:
        """Counts, best trial and Pareto front, recomputed on the runner's thread when trials finished
        (ours, or other workers' read from the file); the other thread only reads the result.

        When the one change is ``finished`` (our trial), the front is updated from the previous front
        plus that trial: a trial off the front stays dominated, so nothing else can join it, and the
        cost is the front's size, not the study's.
        """
        prev = self._summary
        n = self.study.n_finished
        if n == prev.n_finished:
            return prev
        multi = self.study.is_multi_objective
        # With constraints the best (or front) follows feasibility, which the study's own lookup applies:
        # recount rather than repeat that rule here.
        incremental = not self.study.settings.get("constraints")
        if (incremental and finished is not None and n == prev.n_finished + 1
                and finished.state is not TrialState.RUNNING):
            counts = prev.counts.copy()
            counts[finished.state] += 1
            if multi:
                from hposweep.analysis.pareto import pareto_front_trials

                best = None
                front = pareto_front_trials([*prev.front, finished], self.study.directions)
            else:
                best = prev.best if not self._better(finished, prev.best) else finished
                front = [best] if best is not None else []
        else:
            # a failed trial retried by `resume --retry-failed` no longer counts (its retry does)
            counts = Counter(t.state for t in self.study.finished_trials if not is_retired(t))
            if multi:
                best = None
                front = self.study.best_trials
            else:
                best = self.study.best_trial
                front = [best] if best is not None else []
        summary = _Summary(n, counts, best, sorted(front, key=lambda t: t.number))
        with self._lock:
            self._summary = summary
            self.summary_updates += 1
        return summary

    def _better(self, trial: Trial, than: Trial | None) -> bool:
        """Whether a finished trial beats the best so far (the rule of :attr:`Study.best_trial`)."""
        value = trial.value
        if trial.state is not TrialState.COMPLETE or value is None or not math.isfinite(value):
            return False
        if than is None or than.value is None:
            return True
        if value == than.value:  # a tie goes to the lower number, as when the study looks them up
            return trial.number < than.number
        return value < than.value if self.study.direction == "minimize" else value > than.value

    def _counts_text(self, summary: _Summary) -> str:
        """``23/30 done`` (or ``23 done``), with the failed and pruned among them."""
        done = summary.n_finished
        text = f"{done}/{self.target} done" if self.target else f"{done} done"
        failed, pruned = summary.counts[TrialState.FAILED], summary.counts[TrialState.PRUNED]
        return f"{text} ({failed} failed, {pruned} pruned)"

    def _best_text(self, summary: _Summary) -> str:
        if self.study.is_multi_objective:
            return f"pareto front: {plural(len(summary.front), 'trial')}"
        best = summary.best
        if best is None:
            return "best: -"
        return f"best {self.names[0]}={fmt_value(best.value)} (trial {best.number})"

    def _end_text(self, trial: Trial) -> str:
        info = trial.info
        dur = fmt_duration(trial.duration)
        if trial.state is TrialState.COMPLETE:
            return f"complete {fmt_metrics(self.names, trial.values)} in {dur}"
        if trial.state is TrialState.PRUNED:
            step = info.get("pruned_at_step", trial.last_step)
            return f"pruned at step {step} {self.names[0]}={fmt_value(trial.value)} in {dur}"
        if trial.state is TrialState.FAILED:
            return f"failed in {dur}: {info.get('reason', 'unknown reason')}"
        return f"interrupted: {info.get('reason', '')}"


class PlainDisplay(Display):
    """One greppable line per event, for CI logs and pipes (no colours, no redraws).

    A trial that runs long is mentioned again every ``log_every`` seconds (its latest value and step):
    CI services kill a job that prints nothing for ten minutes or so, and a person reading the log
    wants to know it is alive. The runner does not call the display periodically, so a timer thread
    does it; the lock keeps its lines whole and its view of the running trials consistent.
    """

    def __init__(self, study: Study, *, metric: str, target: int | None, stream: IO[str] | None = None,
                 log_every: float = 60.0) -> None:
        super().__init__(study, metric=metric, target=target)
        self.stream = stream or sys.stderr
        self.log_every = log_every
        self.running: dict[int, _Running] = {}
        self._stopping = threading.Event()
        self._timer: threading.Thread | None = None

    def _say(self, text: str) -> None:
        with self._lock:
            self.stream.write(f"[hposweep] {text}\n")
            self.stream.flush()

    def start(self, header: str) -> None:
        self._session_start()
        self._say(header)
        if self.log_every > 0 and self._timer is None:
            self._stopping.clear()
            self._timer = threading.Thread(target=self._heartbeats, name="hposweep-log-every", daemon=True)
            self._timer.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
            self._timer = None

    def trial_started(self, trial: Trial, slot: int | None) -> None:
        with self._lock:
            self.running[trial.number] = _Running(trial, slot, trial.started_at or time.time())
        where = f" slot={slot}" if slot is not None else ""
        self._say(f"trial {trial.number} started{where} {fmt_params(trial.params)}")

    def trial_reported(self, trial: Trial, step: int, value: float) -> None:
        with self._lock:
            r = self.running.get(trial.number)
            if r is not None:
                r.step, r.value = step, value

    def trial_finished(self, trial: Trial, log_tail: list[str] | None = None) -> None:
        with self._lock:
            self.running.pop(trial.number, None)
        summary = self._update_summary(trial)
        done = summary.n_finished
        of = f"{done}/{self.target}" if self.target else str(done)
        extra = "".join(f", {n} {state.value}" for state in (TrialState.FAILED, TrialState.PRUNED)
                        if (n := summary.counts[state]))
        self._say(f"trial {trial.number} {self._end_text(trial)} [{of} finished{extra}; {self._best_text(summary)}]")
        if trial.state is TrialState.FAILED and log_tail:
            with self._lock:
                for line in log_tail[-8:]:
                    self.stream.write(f"    | {line}\n")
                self.stream.flush()

    def message(self, text: str) -> None:
        self._say(text)

    def heartbeat_lines(self, now: float | None = None) -> list[str]:
        """The lines due now: one per trial not mentioned for ``log_every`` seconds (marked as mentioned)."""
        now = time.monotonic() if now is None else now
        lines = []
        with self._lock:
            for num, r in sorted(self.running.items()):
                if now - r.last_line < self.log_every:
                    continue
                r.last_line = now
                took = fmt_duration(max(0.0, time.time() - r.started))
                if r.step is None:
                    seen = f"no {self.names[0]} reported yet"
                else:
                    seen = f"{self.names[0]}={fmt_value(r.value)} at step {r.step}"
                lines.append(f"trial {num} running for {took}: {seen}")
        return lines

    def _heartbeats(self) -> None:
        tick = max(0.05, min(1.0, self.log_every / 4))
        while not self._stopping.wait(tick):
            for line in self.heartbeat_lines():
                self._say(line)


class RichDisplay(Display):
    """A live view: progress with elapsed/ETA, the best so far, running and recent trials.

    Each row is laid out here, not by a rich table: on a narrow terminal a table shrinks every column
    and cuts the short ones (number, state, value) while the long params survive. Here the columns
    keep their width in the order that matters (number, state, each objective, duration) and the
    params get what is left of the line, elided with an ellipsis.
    """

    RECENT = 8

    def __init__(self, study: Study, *, metric: str, target: int | None, console: Any = None) -> None:
        super().__init__(study, metric=metric, target=target)
        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        self.console = console
        self.running: dict[int, _Running] = {}
        self.recent: deque[Trial] = deque(maxlen=self.RECENT)
        self._live: Any = None

    def start(self, header: str) -> None:
        from rich.live import Live
        from rich.text import Text

        self._session_start()
        line = Text("hposweep ", style="bold")
        line.append(_HEADER_COUNTS.sub(r"\1", header))
        self.console.print(line)
        self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False,
                          get_renderable=self._render)
        self._live.start()

    def trial_started(self, trial: Trial, slot: int | None) -> None:
        with self._lock:
            self.running[trial.number] = _Running(trial, slot, trial.started_at or time.time())
        self._update_summary()  # other workers' trials may have finished meanwhile

    def trial_reported(self, trial: Trial, step: int, value: float) -> None:
        with self._lock:
            r = self.running.get(trial.number)
            if r is not None:
                r.step, r.value = step, value
        self._update_summary()

    def trial_finished(self, trial: Trial, log_tail: list[str] | None = None) -> None:
        from rich.text import Text

        with self._lock:
            self.running.pop(trial.number, None)
            self.recent.appendleft(trial)
        self._update_summary(trial)
        if trial.state is TrialState.FAILED:
            text = Text(f"trial {trial.number} failed", style="red")
            text.append(f": {trial.info.get('reason', '')}")  # Text, not markup: a log may hold [brackets]
            for line in (log_tail or [])[-5:]:
                text.append(f"\n    | {line}")
            self.console.print(text, highlight=False)

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- the view ---------------------------------------------------------------------------------
    def eta(self, done: int, now: float | None = None) -> float | None:
        """Seconds left at this session's pace: trials finished since it started over the time it ran
        (after ``resume``, the trials of earlier sessions took time that this one did not spend)."""
        if not self.target:
            return None
        elapsed = (time.monotonic() if now is None else now) - self.started
        session_done = done - self.done_before
        if session_done <= 0 or elapsed <= 0:
            return None
        return elapsed / session_done * max(0, self.target - done)

    def _progress_line(self, summary: _Summary, width: int) -> Any:
        from rich.text import Text

        done = summary.n_finished
        elapsed = time.monotonic() - self.started
        with self._lock:
            n_running = len(self.running)
        parts = [self._counts_text(summary), f"{n_running} running", f"elapsed {fmt_duration(elapsed)}"]
        if self.target:
            parts.append(f"ETA {fmt_duration(self.eta(done))}")
        text = "  ".join(parts)
        line = Text(no_wrap=True, overflow="ellipsis")
        bar = min(30, width - len(text) - 1)
        if self.target and bar >= 10:
            filled = int(min(done / self.target, 1.0) * bar)
            line.append("━" * filled, style="green")
            line.append("━" * (bar - filled), style="grey37")
            line.append(" ")
        line.append(text)
        return line

    def _best_line(self, summary: _Summary) -> Any:
        from rich.text import Text

        line = Text(self._best_text(summary), style="bold cyan", no_wrap=True, overflow="ellipsis")
        if self.study.is_multi_objective:
            shown = [f"#{t.number} {fmt_metrics(self.names, t.values)}" for t in summary.front[:10]]
            if shown:
                line.append(": " + " · ".join(shown), style="cyan")
        elif summary.best is not None:
            line.append("  " + fmt_params(summary.best.params), style="cyan")
        return line

    def _rows(self) -> list[tuple[list[str], str]]:
        """(cells, state style) per shown trial: running ones by number, then the latest finished."""
        now = time.time()
        rows: list[tuple[list[str], str]] = []
        with self._lock:
            running = sorted(self.running.items())
            recent = list(self.recent)
        n_values = len(self.names)
        for num, r in running:
            state = "running" + (f" @{r.step}" if r.step is not None else "")
            values = [fmt_value(r.value)] + ["-"] * (n_values - 1)
            rows.append(([str(num), state, *values, fmt_duration(max(0.0, now - r.started)),
                          fmt_params(r.trial.params)], "yellow"))
        styles = {TrialState.COMPLETE: "green", TrialState.PRUNED: "magenta", TrialState.FAILED: "red",
                  TrialState.INTERRUPTED: "yellow"}
        for t in recent:
            state = t.state.value
            if t.state is TrialState.PRUNED:
                state += f" @{t.info.get('pruned_at_step', t.last_step)}"
            vals = list(t.values or [])
            values = [fmt_value(vals[i] if i < len(vals) else None) for i in range(n_values)]
            rows.append(([str(t.number), state, *values, fmt_duration(t.duration), fmt_params(t.params)],
                         styles.get(t.state, "white")))
        return rows

    def _table(self, width: int) -> list[Any]:
        from rich.text import Text

        rows = self._rows()
        headers = ["#", "state", *self.names, "duration", "params"]
        n_fixed = len(headers) - 1
        widths = []
        for i, head in enumerate(headers[:n_fixed]):
            cell_width = max((len(cells[i]) for cells, _ in rows), default=1)
            if 2 <= i < 2 + len(self.names):  # an objective: its name may be cut, never its values
                widths.append(max(cell_width, min(len(head), max(cell_width, 10))))
            else:
                widths.append(max(cell_width, len(head)))
        right = {0, *range(2, 2 + len(self.names)), n_fixed - 1}  # numbers line up on the right

        def line(cells: list[str], style: str | None, head: bool = False) -> Any:
            text = Text(no_wrap=True, overflow="ellipsis", style="bold" if head else "")
            for i, cell in enumerate(cells[:n_fixed]):
                w = widths[i]
                cell = cell if len(cell) <= w else cell[: w - 1] + "…"
                text.append(cell.rjust(w) if i in right else cell.ljust(w), style=style if i == 1 and style else "")
                text.append("  ")
            text.append(cells[n_fixed])
            text.truncate(width, overflow="ellipsis")
            return text

        return [line(headers, None, head=True)] + [line(cells, style) for cells, style in rows]

    def _render(self) -> Any:
        from rich.console import Group

        width = self.console.width
        with self._lock:
            summary = self._summary
        return Group(self._progress_line(summary, width), self._best_line(summary), *self._table(width))


def make_display(study: Study, *, metric: str, target: int | None, mode: str, log_every: float = 60.0) -> Display:
    """``mode``: "auto" (rich on a terminal, plain otherwise), "rich", "plain" or "quiet".

    ``log_every``: seconds between the plain log's lines about a trial that is still running (0: never).
    """
    if mode == "quiet":
        return Display(study, metric=metric, target=target)
    if mode == "auto":
        mode = "rich" if sys.stderr.isatty() else "plain"
    if mode == "rich":
        return RichDisplay(study, metric=metric, target=target)
    return PlainDisplay(study, metric=metric, target=target, log_every=log_every)
