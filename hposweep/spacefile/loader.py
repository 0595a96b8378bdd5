"""A space file in, a :class:`SpaceConfig` out: the space, the study settings, warnings, and lines.

The model (:mod:`hposweep.core`) raises errors that name a parameter but not the file; this module
relocates them to the file and to the line of the spec key at fault, so every problem reads
``space.yaml:7:5: parameter 'lr': ...``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hposweep.core.params import Param, param_from_spec
from hposweep.core.space import SearchSpace
from hposweep.errors import ConfigError
from hposweep.spacefile.parameters import normalize
from hposweep.spacefile.settings import StudySettings
from hposweep.spacefile.source import check_duplicates, key_mark, kind, parse_yaml, read_text
from hposweep.spacefile.specs import Where


@dataclass
class SpaceConfig:
    """A loaded space file: the space, the study settings written next to it, and where it came from."""

    space: SearchSpace
    settings: dict[str, Any]
    source: str
    #: line of each parameter's key in the file (for later messages about a parameter)
    param_lines: dict[str, int] = field(default_factory=dict)
    #: located notes on how the file was read (e.g. a W&B ``q`` rounded), for the CLI to print; not errors
    warnings: list[str] = field(default_factory=list)


def load_config(path: str) -> SpaceConfig:
    """Read and check a space file. Every problem is a :class:`ConfigError` with file and line."""
    source = str(path)
    data = parse_yaml(read_text(source), source)
    if data is None:
        raise ConfigError(
            "file is empty", source=source, hint="a space file needs at least a `parameters:` mapping"
        )
    check_duplicates(data, source)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"the top level must be a mapping of `key: value` lines, got a {kind(data)}",
            source=source,
            line=1,
            hint="start with `parameters:` and indent the parameters under it",
        )
    settings = StudySettings(data, source).normalize()
    normalized = normalize(data["parameters"], source, key_mark(data, "parameters"))
    space = build_space(normalized.specs, normalized.wheres, source)
    lines = {name: w.name_mark[0] for name, w in normalized.wheres.items() if w.name_mark}
    return SpaceConfig(space=space, settings=settings, source=source, param_lines=lines,
                       warnings=normalized.warnings)


def load_space(path: str) -> SearchSpace:
    """The search space of a space file (its study settings are read by :func:`load_config`)."""
    return load_config(path).space


def build_space(specs: Mapping[str, Any], wheres: Mapping[str, Where], source: str) -> SearchSpace:
    """The space of normalized ``specs``; errors are relocated to the line of the key at fault."""
    params: list[Param] = []
    for name, spec in specs.items():
        try:
            params.append(param_from_spec(name, spec))
        except ConfigError as err:
            raise relocate(err, source, wheres.get(name)) from None
    try:
        return SearchSpace(params, source=source)
    except ConfigError as err:
        raise relocate(err, source, wheres.get(err.param or "")) from None


#: first word of a core message -> spec keys (native, W&B) that the message is about
_SUBJECTS: dict[str, tuple[str, ...]] = {
    "low": ("low", "min"),
    "high": ("high", "max"),
    "step": ("step", "q"),
    "log": ("log", "distribution"),
    "choice": ("choices", "values"),
    "choices": ("choices", "values"),
    "when": ("when",),
    "conditions": ("when",),
    "unknown": ("type",),
    "fixed": ("value",),
    "range": ("low", "min"),
}


def relocate(err: ConfigError, source: str, where: Where | None) -> ConfigError:
    """The core's error with the file, and the line of the parameter or of the sub-key at fault."""
    bare = _bare_message(err)
    mark = None
    if where is not None:
        first = re.match(r"[`]?(\w+)", bare)
        subject = first.group(1) if first else ""
        if bare.startswith("log scale needs low"):
            subject = "low"
        mark = where.find(*_SUBJECTS.get(subject, ()))
    line, column = mark or (None, None)
    return ConfigError(bare, source=source, line=line, column=column, param=err.param, hint=err.hint)


def _bare_message(err: ConfigError) -> str:
    """The message without the ``file:line: parameter 'x': `` prefix that ConfigError put in front."""
    where = ""
    if err.source:
        where = str(err.source)
        if err.line is not None:
            where += f":{err.line}"
            if err.column is not None:
                where += f":{err.column}"
        where += ": "
    prefix = where + (f"parameter '{err.param}': " if err.param else "")
    return err.message[len(prefix):] if err.message.startswith(prefix) else err.message
