"""What the runner tells whoever watches a sweep: the interface the live view and the plain log implement.

The runner (layer 3) must not know how progress is shown (layer 4: a rich live view, plain lines for CI,
nothing for ``--quiet``), so it talks to this interface and the CLI hands it an implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hposweep.core.trial import Trial


class Progress:
    """Every method is a no-op here: a silent sweep (the Python API, ``--quiet``) needs nothing more."""

    def start(self, header: str) -> None:
        """The sweep starts; ``header`` says what it will do (target, sampler, pruner, checkpoint)."""

    def trial_started(self, trial: Trial, slot: int | None) -> None:
        """A trial's process started (``slot``: the parallel slot or GPU it runs in)."""

    def trial_reported(self, trial: Trial, step: int, value: float) -> None:
        """A running trial reported an intermediate objective value."""

    def trial_finished(self, trial: Trial, log_tail: list[str] | None = None) -> None:
        """A trial reached a final state; ``log_tail`` holds its last output lines when it failed."""

    def message(self, text: str) -> None:
        """A line worth the user's attention (a stop reason, a lost worker)."""

    def stop(self) -> None:
        """The sweep is over: release the terminal."""
