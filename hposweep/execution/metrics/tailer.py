"""The trial's metrics file (``HPOSWEEP_METRICS_FILE``, JSON lines), followed as it grows.

One class reads the file for both executors: a local trial's runner parses what it reads
(:meth:`MetricsFileTailer.poll`), the Ray actor forwards the raw new bytes to the driver
(:meth:`MetricsFileTailer.read_new`), which appends them to a local copy and polls that.
"""

from __future__ import annotations

import os

from hposweep.execution.metrics.lines import MAX_LINE, LineRefused, MetricReport, parse_json_metrics_line
from hposweep.execution.metrics.parser import REFUSAL_REASONS


class MetricsFileTailer:
    """Follows a JSON-lines metrics file the trial appends to; each poll returns the new reports.

    Only complete lines (ending with ``\\n``) are read, so a line being written is picked up on the
    next poll. The file may not exist yet (or ever): that is not an error. If it shrinks (the
    program truncated and rewrote it), reading restarts at the beginning. Lines outside the parser's
    bounds are counted (:meth:`notes`), and a partial line never grows beyond ``MAX_LINE``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._offset = 0
        self._partial = b""
        self._skipping = False
        self.refused: dict[str, int] = {}

    def read_new(self) -> tuple[bytes, bool]:
        """The bytes appended since the last call, and whether the file shrank (restart from the top)."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return b"", False
        reset = size < self._offset
        if reset:
            self._offset = 0
        if size == self._offset:
            return b"", reset
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read(size - self._offset)
        except OSError:
            return b"", reset
        self._offset += len(data)
        return data, reset

    def poll(self) -> list[MetricReport]:
        data, reset = self.read_new()
        if reset:
            self._partial, self._skipping = b"", False
        if not data:
            return []
        data = self._partial + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._keep_partial(data)
            return []
        self._keep_partial(data[cut + 1:])
        lines = data[:cut].split(b"\n")
        if self._skipping:
            lines[0] = b""
            self._skipping = False
        out: list[MetricReport] = []
        for raw in lines:
            out.extend(self._parse(raw))
        return out

    def _keep_partial(self, data: bytes) -> None:
        if len(data) > MAX_LINE:
            self.refused["long"] = self.refused.get("long", 0) + 1
            self._partial, self._skipping = b"", True
        else:
            self._partial = data

    def _parse(self, raw: bytes) -> list[MetricReport]:
        try:
            return parse_json_metrics_line(raw)
        except LineRefused as exc:
            self.refused[exc.kind] = self.refused.get(exc.kind, 0) + 1
            return []

    def flush(self) -> list[MetricReport]:
        """After the trial ended: also read a last line written without its newline."""
        out = self.poll()
        if self._partial.strip() and not self._skipping:
            out.extend(self._parse(self._partial))
        self._partial = b""
        return out

    def notes(self) -> list[str]:
        return [f"{n} metrics-file line{'s' if n != 1 else ''} ignored: {REFUSAL_REASONS.get(kind, kind)}"
                for kind, n in self.refused.items()]
