"""A trial's command line and environment, built from the user's command and the trial's params.

How parameters reach the program
--------------------------------
* ``args`` (default): ``--name=value`` is appended for each active parameter, in space order.
* ``hydra``: ``name=value`` is appended (Hydra overrides; strings with special characters quoted).
* ``none``: nothing is appended; the program reads ``HPOSWEEP_PARAMS`` (JSON) or the JSON file at
  ``HPOSWEEP_PARAMS_FILE``.
* **placeholders**: when any token of the command holds ``{name}`` (a parameter name) or one of
  ``{trial}``, ``{trial_dir}``, ``{args}``, ``{args_no_hyphens}``, ``{args_json}``, the command is a *template*:
  placeholders are substituted and nothing is appended, whatever the mode. ``{args}`` and
  ``{args_no_hyphens}`` must be whole tokens and expand to several tokens (``--name=value`` /
  ``name=value``); ``{args_json}`` is one JSON object. In a template ``{{`` and ``}}`` stand for
  literal braces. Braces that do not enclose a name (``{}``, ``{"a": 1}``, ``${HOME}``) are left
  alone. Reserved placeholder names win over parameters of the same name.
* A placeholder naming no parameter of the space is an error listing the valid names. A
  conditional parameter that is inactive in this trial drops the *whole token* that names it (so
  ``--momentum={momentum}`` disappears and the program uses its default; write such options as one
  token). In shell mode (one command string) it becomes an empty string instead.

Values are written by :func:`format_value`.

Bool parameters declared ``pass: flag`` (argparse ``store_true``, click ``is_flag``) are appended as
``--name`` when true and not at all when false; ``pass: flag_no`` gives ``--name`` / ``--no-name``.
That applies wherever ``--name=value`` tokens are written (``args`` mode and ``{args}``); Hydra
overrides, ``{name}``, ``{args_json}`` and the params file keep the value (``true``/``false``).
:func:`flag_styles` reads which parameters are flags from the space.

``{seed}`` is the trial's seed (``HPOSWEEP_SEED``, see :func:`hposweep.study.repeats.trial_seed`): a
parameter named ``seed`` wins over it, so a space that sweeps its own seed keeps working.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from hposweep.core.params import BoolParam, Param
from hposweep.errors import ConfigError
from hposweep.execution.safefiles import open_nofollow

PARAM_MODES = ("args", "hydra", "none")
RESERVED = ("trial", "trial_dir", "args", "args_no_hyphens", "args_json", "args_json_file", "args_no_boolean_flags")
#: placeholders that a parameter of the same name overrides (added later than the reserved ones)
SOFT_RESERVED = ("seed",)
_WHOLE_TOKEN = ("args", "args_no_hyphens", "args_no_boolean_flags")
#: ``{{``, ``}}``, or ``{name}`` not preceded by ``$`` (``${HOME}`` is the shell's)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][\w.\-/]*)\}")
_HYDRA_SAFE = re.compile(r"[\w\-+./:@%~*$]+")


def format_value(value: Any) -> str:
    """A parameter value as command-line text that reads back as the same value.

    * floats: Python's shortest round-trip form (``0.001``, ``1e-05``, ``0.1``); whole floats keep
      their ``.0`` (``2.0``) so the program can tell them from ints; ``nan``/``inf``/``-inf``.
    * ints as ints; booleans as ``true``/``false`` (as YAML, JSON and Hydra write them; argparse
      needs a converter, see the README); ``None`` as ``null``; strings unchanged.
    * lists and dicts (categorical choices may be) as compact JSON.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    if hasattr(value, "item"):  # numpy scalars
        return format_value(value.item())
    return str(value)


def params_json(params: Mapping[str, Any]) -> str:
    """The params as one JSON object (``HPOSWEEP_PARAMS``, ``{args_json}``)."""
    return json.dumps(dict(params), separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _hydra_value(value: Any) -> str:
    text = format_value(value)
    if isinstance(value, str) and not _HYDRA_SAFE.fullmatch(text):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def flag_styles(params: Iterable[Param]) -> dict[str, str]:
    """``{name: "flag" | "flag_no"}`` for the bool parameters passed as bare flags (iterate a SearchSpace)."""
    return {p.name: p.pass_as for p in params if isinstance(p, BoolParam) and p.pass_as != "value"}


def _arg_token(name: str, value: Any, style: str | None) -> str | None:
    if style is not None and isinstance(value, bool):
        if value:
            return f"--{name}"
        return f"--no-{name}" if style == "flag_no" else None
    return f"--{name}={format_value(value)}"


def args_tokens(params: Mapping[str, Any], style: str = "args", *, flags: Mapping[str, str] | None = None) -> list[str]:
    """``--name=value`` tokens (``style="args"``) or ``name=value`` ones (``"hydra"``).

    ``flags`` (from :func:`flag_styles`) turns those bools into bare flags in the ``args`` style.
    """
    if style == "hydra":
        return [f"{name}={_hydra_value(v)}" for name, v in params.items()]
    flags = flags or {}
    tokens = (_arg_token(name, v, flags.get(name)) for name, v in params.items())
    return [t for t in tokens if t is not None]


def _check_mode(mode: str) -> None:
    if mode not in PARAM_MODES:
        raise ConfigError(f"unknown parameter passing mode '{mode}'", hint="valid modes: " + ", ".join(PARAM_MODES))


def _placeholders(text: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1)]


def is_template(command: Iterable[str] | str) -> bool:
    """True if the command holds a ``{name}`` placeholder (and so gets nothing appended)."""
    tokens = [command] if isinstance(command, str) else command
    return any(_placeholders(t) for t in tokens)


class _Substituter:
    """Resolves placeholder names for one trial; raises the unknown-name error."""

    def __init__(self, params: Mapping[str, Any], trial_number: int, known: Iterable[str] | None,
                 flags: Mapping[str, str] | None = None, seed: int | None = None,
                 trial_dir: str | None = None, params_file: str | None = None) -> None:
        self.params_file = params_file
        self.params = params
        self.trial_number = trial_number
        self.trial_dir = trial_dir
        self.known = set(known) if known is not None else set(params)
        self.known |= set(params)
        self.flags = flags
        self.seed = seed

    def tokens(self, name: str) -> list[str]:
        """The tokens of ``{args}`` (``--name=value``) or ``{args_no_hyphens}`` (``name=value``)."""
        if name == "args_no_hyphens":
            return args_tokens(self.params, "hydra")
        if name == "args_no_boolean_flags":  # W&B's: a true boolean is a bare ``--name``, a false one nothing
            bools = {k: "flag" for k, v in self.params.items() if isinstance(v, bool)}
            return args_tokens(self.params, "args", flags={**(self.flags or {}), **bools})
        return args_tokens(self.params, "args", flags=self.flags)

    def lookup(self, name: str) -> str | None:
        """The text of ``{name}``; None when the parameter is inactive in this trial."""
        if name == "trial":
            return str(self.trial_number)
        if name == "seed" and name not in self.known:
            return str(self.seed if self.seed is not None else self.trial_number)
        if name == "trial_dir":
            # no folder given: a preview (the preflight check); the runner always passes the trial's
            return self.trial_dir if self.trial_dir is not None else f"hposweep.trials/{self.trial_number:06d}"
        if name == "args_json":
            return params_json(self.params)
        if name == "args_json_file":  # the trial's params file (``HPOSWEEP_PARAMS_FILE``), W&B's ${args_json_file}
            if self.params_file is not None:
                return self.params_file
            folder = self.trial_dir if self.trial_dir is not None else f"hposweep.trials/{self.trial_number:06d}"
            return f"{folder}/hposweep.params.json"
        if name in self.params:
            return format_value(self.params[name])
        if name in self.known:
            return None
        valid = sorted(self.known) + [r for r in RESERVED + SOFT_RESERVED if r not in self.known]
        raise ConfigError(
            f"the command names an unknown placeholder '{{{name}}}'",
            hint="valid placeholders: " + ", ".join("{" + v + "}" for v in valid)
            + "; write {{ and }} for literal braces",
        )


def build_argv(
    command: list[str],
    params: Mapping[str, Any],
    trial_number: int,
    mode: str = "args",
    *,
    known: Iterable[str] | None = None,
    flags: Mapping[str, str] | None = None,
    seed: int | None = None,
    trial_dir: str | None = None,
    params_file: str | None = None,
) -> list[str]:
    """The trial's argv: the user's command with params substituted or appended (see module doc).

    ``known`` are all the space's parameter names (active or not in this trial), so that a
    placeholder of an inactive conditional parameter is told apart from a typo. ``flags``
    (:func:`flag_styles`) are the bools written as bare flags; ``seed`` is ``{seed}``.
    """
    _check_mode(mode)
    if not command:
        raise ConfigError("no command to run", hint="put the training command after `--`")
    if not is_template(command):
        if mode == "none":
            return list(command)
        return list(command) + args_tokens(params, "hydra" if mode == "hydra" else "args", flags=flags)
    sub = _Substituter(params, trial_number, known, flags, seed, trial_dir, params_file)
    argv: list[str] = []
    for token in command:
        names = _placeholders(token)
        whole = [n for n in names if n in _WHOLE_TOKEN]
        if whole:
            if token != "{" + whole[0] + "}":
                raise ConfigError(
                    f"{{{whole[0]}}} must be a token of its own, found in '{token}'",
                    hint="separate it with spaces, or use {args_json} to pass all params in one token",
                )
            argv.extend(sub.tokens(whole[0]))
            continue
        text = _substitute(token, sub, quote=None)
        if text is not None:
            argv.append(text)
    return argv


def build_shell_command(
    command: str,
    params: Mapping[str, Any],
    trial_number: int,
    mode: str = "args",
    *,
    known: Iterable[str] | None = None,
    flags: Mapping[str, str] | None = None,
    seed: int | None = None,
    trial_dir: str | None = None,
    params_file: str | None = None,
) -> str:
    """The trial's shell command line: like :func:`build_argv`, every value ``shlex.quote``-d.

    An inactive parameter's placeholder becomes an empty string (a shell string has no tokens
    to drop); ``{args}`` may appear anywhere.
    """
    _check_mode(mode)
    if not command.strip():
        raise ConfigError("no command to run", hint="put the training command after `--`")
    if not is_template(command):
        if mode == "none":
            return command
        extra = args_tokens(params, "hydra" if mode == "hydra" else "args", flags=flags)
        return " ".join([command] + [shlex.quote(t) for t in extra])
    check_shell_template(command)
    sub = _Substituter(params, trial_number, known, flags, seed, trial_dir, params_file)
    text = _substitute(command, sub, quote=shlex.quote)
    assert text is not None
    return text


def _quote_states(text: str) -> list[str]:
    """The shell's quoting state before each character of ``text``: ``""`` (none), ``"'"`` or ``'"'``.

    Enough of the POSIX shell's lexer for placeholders: single quotes, double quotes, backslashes
    (outside single quotes). ``$'...'`` is read as a single-quoted word too.
    """
    states: list[str] = []
    state = ""
    escaped = False
    for ch in text:
        states.append("\\" if escaped else state)
        if escaped:
            escaped = False
        elif ch == "\\" and state != "'":
            escaped = True
        elif state == "" and ch in "'\"":
            state = ch
        elif state == ch:
            state = ""
    return states


def check_shell_template(command: str) -> None:
    """Refuse a placeholder inside quotes (or after a backslash) in a ``--shell`` template.

    Each substituted value is shell-quoted as a whole word (``'it''s'``), which is safe only outside
    quotes: inside ``"c={c}"`` or ``'{c}'`` the quoting would close the user's quotes and a value
    such as ``$(touch pwned)`` would run. So such a template is an error, with the fix.
    """
    states = _quote_states(command)
    for m in _PLACEHOLDER.finditer(command):
        if not m.group(1):
            continue
        state = states[m.start()]
        if state:
            where = {"'": "inside single quotes", '"': "inside double quotes"}.get(state, "right after a backslash")
            name = m.group(0)
            raise ConfigError(
                f"the --shell command has the placeholder {name} {where}",
                hint=f"hposweep quotes every value for the shell itself: write {name} bare (c={name}, not "
                     f"\"c={name}\" or '{name}'); quoted again, a value's $(...) or backticks would run",
            )


def _substitute(text: str, sub: _Substituter, quote: Any) -> str | None:
    """Expand one template string; None when it names an inactive parameter (argv mode)."""
    dropped = False

    def repl(m: re.Match[str]) -> str:
        nonlocal dropped
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        name = m.group(1)
        if quote is not None and name in _WHOLE_TOKEN:
            return " ".join(quote(t) for t in sub.tokens(name))
        value = sub.lookup(name)
        if value is None:
            dropped = True
            return ""
        return quote(value) if quote is not None else value

    out = _PLACEHOLDER.sub(repl, text)
    if dropped and quote is None:
        return None
    return out


def trial_env(
    base_env: Mapping[str, str],
    *,
    trial_number: int,
    params: Mapping[str, Any],
    params_file: str | os.PathLike[str] | None = None,
    metrics_file: str | os.PathLike[str] | None = None,
    study_path: str | os.PathLike[str] | None = None,
    slot: int | None = None,
    gpus: Iterable[int | str] | str | None = None,
    seed: int | None = None,
    trial_dir: str | os.PathLike[str] | None = None,
    user_cwd: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """The trial's environment: ``base_env`` plus the ``HPOSWEEP_*`` variables.

    ``HPOSWEEP_*`` variables inherited from ``base_env`` are removed first (hposweep run from a
    trial must not leak the outer trial's files). ``PYTHONUNBUFFERED=1`` makes Python trials stream
    their output live instead of in 8 KiB blocks, which is what lets metrics arrive as they are
    printed. ``CUDA_VISIBLE_DEVICES`` is set only when ``gpus`` is given, ``HPOSWEEP_SEED`` when
    ``seed`` is (the seed a repeat of a trial differs by). ``HPOSWEEP_TRIAL_DIR`` is the trial's own folder
    (``<study>.trials/000007``) and ``HPOSWEEP_CWD`` the folder hposweep was started in, which is where
    relative paths of the user's point to even when ``--trial-cwd`` runs the trial elsewhere.
    """
    env = {k: v for k, v in base_env.items() if not k.startswith("HPOSWEEP_")}
    env["HPOSWEEP_TRIAL"] = str(trial_number)
    env["HPOSWEEP_PARAMS"] = params_json(params)
    for key, value in (
        ("HPOSWEEP_PARAMS_FILE", params_file),
        ("HPOSWEEP_METRICS_FILE", metrics_file),
        ("HPOSWEEP_STUDY", study_path),
        ("HPOSWEEP_TRIAL_DIR", trial_dir),
        ("HPOSWEEP_CWD", user_cwd),
    ):
        if value is not None:
            env[key] = os.fspath(value)
    if slot is not None:
        env["HPOSWEEP_SLOT"] = str(slot)
    if seed is not None:
        env["HPOSWEEP_SEED"] = str(seed)
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus if isinstance(gpus, str) else ",".join(str(g) for g in gpus)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def resolve_command_paths(command: list[str], user_cwd: str) -> list[str]:
    """The user's command with every argument that names an existing path of ``user_cwd`` made absolute.

    Used by ``--trial-cwd``, which runs the trial inside its own folder: ``./train.sh``, ``python
    train.py`` or ``--config conf.yaml`` must still find the user's files, while a path that does not
    exist yet (an output such as ``out/``) stays relative and so lands in the trial's folder. Options
    (``-x``, ``--name=value``), placeholders and plain program names (``python``, found on PATH) are left
    as they are; a path inside ``--name=value`` is not rewritten (use ``$HPOSWEEP_CWD`` or an absolute
    path there). The rule is applied to the user's tokens before the trial's params are added, so a
    parameter value is never rewritten.
    """
    out: list[str] = []
    for i, token in enumerate(command):
        if (not token or token.startswith("-") or os.path.isabs(token) or _placeholders(token)
                or (i == 0 and "/" not in token)):
            out.append(token)
            continue
        where = os.path.join(user_cwd, token)
        out.append(os.path.normpath(where) if os.path.lexists(where) else token)
    return out


def write_params_file(path: str | os.PathLike[str], params: Mapping[str, Any]) -> None:
    """Write the params JSON a trial finds at ``HPOSWEEP_PARAMS_FILE``.

    Written in place, before the trial starts: nobody reads it earlier, so a temporary file and a
    rename would only add a few milliseconds to every trial. A symlink planted at ``path`` is refused,
    never followed (it would overwrite its target).
    """
    with open_nofollow(path) as fh:
        fh.write((json.dumps(dict(params), indent=2, default=_json_default) + "\n").encode("utf-8"))
