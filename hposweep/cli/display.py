"""What a sweep shows while it runs: a rich live view on a terminal, plain lines everywhere else.

Everything here writes to stderr: stdout is kept for data (the final summary, ``--json``), so
``hposweep run ... | jq`` and CI logs stay clean. The runner calls the same few hooks on every
display; which one is used is decided once, from the flags and whether stderr is a terminal.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Any

from hposweep.cli.format import fmt_duration, fmt_params, fmt_value
from hposweep.core.trial import Trial, TrialState
from hposweep.execution.progress import Progress

if TYPE_CHECKING:
    from hposweep.study.api import Study


class Display(Progress):
    """The base of the CLI's views: prints nothing (``--quiet``); the others override the hooks."""

    def __init__(self, study: Study, *, metric: str, target: int | None) -> None:
        self.study = study
        self.metric = metric
        self.target = target
        self.started = time.monotonic()

    # shared helpers -------------------------------------------------------------------------
    def _best_text(self) -> str:
        if self.study.is_multi_objective:
            front = self.study.best_trials
            return f"pareto front: {len(front)} trial(s)"
        best = self.study.best_trial
        if best is None:
            return "best: -"
        return f"best {self.metric}={fmt_value(best.value)} (trial {best.number})"

    def _end_text(self, trial: Trial) -> str:
        info = trial.info
        dur = fmt_duration(trial.duration)
        if trial.state is TrialState.COMPLETE:
            vals = ", ".join(fmt_value(v) for v in trial.values or [])
            return f"complete {self.metric}={vals} in {dur}"
        if trial.state is TrialState.PRUNED:
            step = info.get("pruned_at_step", trial.last_step)
            return f"pruned at step {step} {self.metric}={fmt_value(trial.value)} in {dur}"
        if trial.state is TrialState.FAILED:
            return f"failed in {dur}: {info.get('reason', 'unknown reason')}"
        return f"interrupted: {info.get('reason', '')}"


class PlainDisplay(Display):
    """One greppable line per event, for CI logs and pipes (no colours, no redraws)."""

    def __init__(self, study: Study, *, metric: str, target: int | None, stream: IO[str] | None = None) -> None:
        super().__init__(study, metric=metric, target=target)
        self.stream = stream or sys.stderr

    def _say(self, text: str) -> None:
        self.stream.write(f"[hposweep] {text}\n")
        self.stream.flush()

    def start(self, header: str) -> None:
        self._say(header)

    def trial_started(self, trial: Trial, slot: int | None) -> None:
        where = f" slot={slot}" if slot is not None else ""
        self._say(f"trial {trial.number} started{where} {fmt_params(trial.params)}")

    def trial_finished(self, trial: Trial, log_tail: list[str] | None = None) -> None:
        done = self.study.n_finished
        of = f"{done}/{self.target}" if self.target else str(done)
        self._say(f"trial {trial.number} {self._end_text(trial)} [{of} finished; {self._best_text()}]")
        if trial.state is TrialState.FAILED and log_tail:
            for line in log_tail[-8:]:
                self.stream.write(f"    | {line}\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        self._say(text)


class RichDisplay(Display):
    """A live view: progress with elapsed/ETA, the best so far, running and recent trials."""

    def __init__(self, study: Study, *, metric: str, target: int | None) -> None:
        super().__init__(study, metric=metric, target=target)
        from rich.console import Console

        self.console = Console(stderr=True)
        self.running: dict[int, dict[str, Any]] = {}
        self.recent: deque[Trial] = deque(maxlen=8)
        self._live: Any = None

    def start(self, header: str) -> None:
        from rich.live import Live

        self.console.print(f"[bold]hposweep[/] {header}")
        self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False,
                          get_renderable=self._render)
        self._live.start()

    def trial_started(self, trial: Trial, slot: int | None) -> None:
        self.running[trial.number] = {"trial": trial, "slot": slot, "step": None, "value": None}

    def trial_reported(self, trial: Trial, step: int, value: float) -> None:
        if trial.number in self.running:
            self.running[trial.number].update(step=step, value=value)

    def trial_finished(self, trial: Trial, log_tail: list[str] | None = None) -> None:
        self.running.pop(trial.number, None)
        self.recent.appendleft(trial)
        if trial.state is TrialState.FAILED:
            text = f"[red]trial {trial.number} failed[/]: {trial.info.get('reason', '')}"
            if log_tail:
                text += "\n" + "\n".join(f"    | {line}" for line in log_tail[-5:])
            self.console.print(text, markup=True, highlight=False)

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        done = self.study.n_finished
        elapsed = time.monotonic() - self.started
        head = Text()
        if self.target:
            frac = min(done / self.target, 1.0)
            width = 30
            filled = int(frac * width)
            head.append("━" * filled, style="green")
            head.append("━" * (width - filled), style="grey37")
            head.append(f" {done}/{self.target} trials")
            eta = (elapsed / done * (self.target - done)) if done else None
            head.append(f"  elapsed {fmt_duration(elapsed)}  ETA {fmt_duration(eta)}")
        else:
            head.append(f"{done} trials  elapsed {fmt_duration(elapsed)}")
        best_line = Text(self._best_text(), style="bold cyan")
        if not self.study.is_multi_objective and self.study.best_trial is not None:
            best_line.append("  " + fmt_params(self.study.best_trial.params, 150), style="cyan")
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in ("#", "state", self.metric, "duration", "params"):
            table.add_column(col, overflow="ellipsis", no_wrap=True, max_width=90 if col == "params" else None)
        for num, r in sorted(self.running.items()):
            t = r["trial"]
            slot = f" slot {r['slot']}" if r["slot"] is not None else ""
            step = f" @{r['step']}" if r["step"] is not None else ""
            table.add_row(str(num), f"[yellow]running{slot}[/]", fmt_value(r["value"]) + step,
                          fmt_duration(time.time() - (t.started_at or time.time())), fmt_params(t.params))
        styles = {TrialState.COMPLETE: "green", TrialState.PRUNED: "magenta", TrialState.FAILED: "red",
                  TrialState.INTERRUPTED: "yellow"}
        for t in self.recent:
            state = t.state.value
            if t.state is TrialState.PRUNED:
                state += f" @{t.info.get('pruned_at_step', t.last_step)}"
            table.add_row(str(t.number), f"[{styles.get(t.state, 'white')}]{state}[/]",
                          fmt_value(t.value), fmt_duration(t.duration), fmt_params(t.params))
        return Group(head, best_line, table)


def make_display(study: Study, *, metric: str, target: int | None, mode: str) -> Display:
    """``mode``: "auto" (rich on a terminal, plain otherwise), "rich", "plain" or "quiet"."""
    if mode == "quiet":
        return Display(study, metric=metric, target=target)
    if mode == "auto":
        mode = "rich" if sys.stderr.isatty() else "plain"
    if mode == "rich":
        return RichDisplay(study, metric=metric, target=target)
    return PlainDisplay(study, metric=metric, target=target)
