"""A W&B sweep file's ``program:`` and ``command:`` (with W&B's macros) as a hposweep trial command.

W&B's agent builds each run's command from a list of words in which ``${...}`` macros expand; with no
``command:`` it runs ``${env} ${interpreter} ${program} ${args}``. hposweep runs the same words as a
template, so a sweep file runs unchanged (no ``--`` needed); a command after ``--`` still overrides it.

| W&B macro | becomes |
| --- | --- |
| ``${env}`` | nothing (W&B writes ``/usr/bin/env``; hposweep runs with the environment as it is) |
| ``${interpreter}`` | ``python`` (``python3`` where only that is on PATH) |
| ``${program}`` | the ``program:`` value (an error when there is none) |
| ``${args}`` | ``{args}``: ``--name=value`` per parameter |
| ``${args_no_hyphens}`` | ``{args_no_hyphens}``: ``name=value`` per parameter |
| ``${args_json}`` | ``{args_json}``: the params as one JSON word |
| ``${args_json_file}`` | ``{args_json_file}``: the path of a JSON file holding the params |
| ``${args_no_boolean_flags}`` | ``{args_no_boolean_flags}``: ``--name=value``; true is ``--name``, false nothing |
"""

from __future__ import annotations

import re
import shutil
from typing import Any

#: W&B macro → the hposweep placeholder it becomes (None: dropped; see the module doc for the others)
MACROS: dict[str, str | None] = {
    "env": None,
    "args": "{args}",
    "args_no_hyphens": "{args_no_hyphens}",
    "args_json": "{args_json}",
    "args_json_file": "{args_json_file}",
    "args_no_boolean_flags": "{args_no_boolean_flags}",
}
#: what W&B's agent runs when a sweep file has ``program:`` and no ``command:``
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
_MACRO = re.compile(r"\$\{([A-Za-z_]+)\}")


class MacroError(ValueError):
    """A macro hposweep cannot expand (the caller adds the file and line)."""


def interpreter() -> str:
    """W&B's ``${interpreter}``: ``python``, else ``python3`` when only that is on PATH."""
    if shutil.which("python") is None and shutil.which("python3") is not None:
        return "python3"
    return "python"


def has_macros(words: list[str]) -> bool:
    return any(_MACRO.search(w) for w in words)


def expand(words: list[str], program: Any) -> list[str]:
    """The hposweep template for a W&B ``command:`` list (``program`` is the ``program:`` value or None).

    Text around the macros is kept literally (its braces are escaped, so ``{`` in a word stays a brace).
    """
    out: list[str] = []
    for word in words:
        whole = _MACRO.fullmatch(word)
        if whole and whole.group(1) == "env":
            continue
        pieces: list[str] = []
        pos = 0
        for m in _MACRO.finditer(word):
            pieces.append(_literal(word[pos:m.start()]))
            pieces.append(_macro(m.group(1), program))
            pos = m.end()
        pieces.append(_literal(word[pos:]))
        out.append("".join(pieces))
    if not out:
        raise MacroError("expands to nothing")
    return out


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _macro(name: str, program: Any) -> str:
    if name == "interpreter":
        return _literal(interpreter())
    if name == "program":
        if not isinstance(program, str) or not program.strip():
            raise MacroError("uses ${program}, but the file has no `program:`")
        return _literal(program)
    target = MACROS.get(name)
    if target is not None:
        return target
    known = ", ".join("${" + n + "}" for n in ["interpreter", "program", *MACROS])
    raise MacroError(f"has the W&B macro ${{{name}}}, which hposweep does not know (known: {known})")
