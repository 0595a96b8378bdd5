"""Read a search-space file: YAML in, a :class:`SearchSpace` plus study settings out.

Three parameter syntaxes are accepted and normalized to the spec dicts of
:func:`hposweep.space.param_from_spec`:

* native: ``lr: {type: float, low: 1e-5, high: 1e-1, log: true}``; a plain scalar is a fixed value;
* W&B sweep syntax: ``values:``, ``value:``, ``distribution:`` with ``min``/``max``/``q``, nested
  ``parameters:`` blocks (flattened to dotted names);
* one-line priors: ``lr: loguniform(1e-5, 1e-1)``, ``layers: randint(1, 8)``, ``act: choice([relu, gelu])``.

Users fix their files from the error message alone, so every error is a :class:`ConfigError` that
names the file, the line (and column) and the parameter. PyYAML throws positions away, so the file
is read with a loader that keeps the mark of every mapping key and list item, and that reports
duplicate keys (PyYAML silently keeps the last one).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from hposweep.core.space import (
    PARAM_TYPES,
    CategoricalParam,
    FixedParam,
    NumericParam,
    Param,
    SearchSpace,
    param_from_spec,
    value_key,
)
from hposweep.errors import ConfigError

__all__ = ["SpaceConfig", "load_config", "normalize_parameters", "space_table_rows", "PRIORS"]

#: 1-based (line, column) of a node in the file
Mark = tuple[int, int]

SETTING_KEYS = ("parameters", "metric", "direction", "metrics", "sampler", "pruner", "trials", "seed", "command")
#: W&B sweep keys accepted at the top level so a W&B file loads as it is
WANDB_KEYS = ("program", "method", "name", "description", "project", "entity", "early_terminate", "run_cap")
WANDB_METHODS = {"random": "random", "grid": "grid", "bayes": "tpe"}
DIRECTIONS = ("minimize", "maximize")

_NATIVE_KEYS = {"type", "low", "high", "log", "step", "choices", "value", "when"}
_WANDB_PARAM_KEYS = {"distribution", "min", "max", "q", "values", "value", "probabilities", "mu", "sigma", "when"}
_NUMERIC_TYPES = ("float", "int")


# --------------------------------------------------------------------------------------------
# YAML loading with positions
# --------------------------------------------------------------------------------------------
class LocatedDict(dict):
    """A mapping read from YAML that remembers where each key was written."""

    def __init__(self) -> None:
        super().__init__()
        self.mark: Mark | None = None
        self.key_marks: dict[Any, Mark] = {}
        #: (key, mark of the repeated key, mark of the first one)
        self.duplicates: list[tuple[Any, Mark, Mark]] = []


class LocatedList(list):
    """A sequence read from YAML that remembers where each item was written."""

    def __init__(self) -> None:
        super().__init__()
        self.mark: Mark | None = None
        self.item_marks: list[Mark] = []


def _mark(m: yaml.Mark) -> Mark:
    return (m.line + 1, m.column + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader that records positions, reads ``1e-5`` as a number and leaves dates as strings.

    YAML 1.1 (PyYAML) wants a dot and a signed exponent in floats, so ``1e-5`` and ``1.0e5`` would
    be strings; every user means a number, as YAML 1.2 and JSON say. Dates would become
    ``datetime.date`` objects that cannot be passed to a command or stored as JSON.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Any:
    data = LocatedDict()
    data.mark = _mark(node.start_mark)
    yield data
    first_seen: dict[Any, Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
            ) from None
        here = _mark(key_node.start_mark)
        if key in first_seen:
            data.duplicates.append((key, here, first_seen[key]))
        else:
            first_seen[key] = here
    loader.flatten_mapping(node)  # resolves `<<: *anchor` merges; explicit keys come last and win
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_marks.setdefault(key, first_seen.get(key, _mark(key_node.start_mark)))


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Any:
    data = LocatedList()
    data.mark = _mark(node.start_mark)
    data.item_marks = [_mark(child.start_mark) for child in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _yaml_hint(problem: str) -> str:
    if "\\t" in problem or "tab" in problem:
        return "YAML does not allow tabs for indentation: use spaces"
    if "mapping values are not allowed" in problem:
        return "check the indentation of this line, and quote values that contain ': '"
    if "expected ',' or '}'" in problem or "expected ',' or ']'" in problem:
        return "a { } or [ ] list is not closed, or an item in it needs quotes"
    if "could not find expected ':'" in problem:
        return "a `key: value` line is missing its ':' or a quote is not closed"
    if "expected a single document" in problem:
        return "a space file holds one YAML document: remove the extra '---'"
    return "check the indentation and quoting around this line"


def _parse_yaml(text: str, source: str | None) -> Any:
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or str(exc)
        message = f"YAML syntax error: {problem}"
        if exc.context and exc.context_mark is not None:
            message += f" ({exc.context}, line {exc.context_mark.line + 1})"
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            message,
            source=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint=_yaml_hint(problem),
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", source=source) from None
    finally:
        loader.dispose()


def _read_text(source: str) -> str:
    try:
        with open(source, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ConfigError("file not found", source=source, hint="check the path (e.g. spaces/mlp.yaml)") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a space file", source=source) from None
    except PermissionError:
        raise ConfigError("cannot be read: permission denied", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror or exc}", source=source) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            "is not UTF-8 text", source=source, line=line, hint="save the file as UTF-8 (is it a YAML file?)"
        ) from None


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
@dataclass
class SpaceConfig:
    """A loaded space file: the space, the study settings written next to it, and where it came from."""

    space: SearchSpace
    settings: dict[str, Any]
    source: str
    #: line of each parameter's key in the file (for later messages about a parameter)
    param_lines: dict[str, int] = field(default_factory=dict)


def load_config(path: str) -> SpaceConfig:
    """Read and check a space file. Every problem is a :class:`ConfigError` with file and line."""
    source = str(path)
    data = _parse_yaml(_read_text(source), source)
    if data is None:
        raise ConfigError(
            "file is empty", source=source, hint="a space file needs at least a `parameters:` mapping"
        )
    _check_duplicates(data, source)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"the top level must be a mapping of `key: value` lines, got a {_kind(data)}",
            source=source,
            line=1,
            hint="start with `parameters:` and indent the parameters under it",
        )
    settings = _Settings(data, source).normalize()
    space, wheres = _build_space(data["parameters"], source, _key_mark(data, "parameters"))
    lines = {name: w.name_mark[0] for name, w in wheres.items() if w.name_mark}
    return SpaceConfig(space=space, settings=settings, source=source, param_lines=lines)


def normalize_parameters(parameters: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """Turn a ``parameters:`` mapping in any accepted syntax into ``param_from_spec`` spec dicts.

    Nested W&B ``parameters:`` blocks come back flattened to dotted names (``optimizer.lr``).
    """
    specs, _ = _normalize(parameters, source, None)
    return specs


def space_table_rows(space: SearchSpace) -> list[tuple[str, str, str, str, str]]:
    """(name, type, range/choices, scale, condition) per parameter, for ``hposweep validate``."""
    return [(p.name, p.type, _range_text(p), _scale_text(p), _condition_text(p)) for p in space]


# --------------------------------------------------------------------------------------------
# Study settings
# --------------------------------------------------------------------------------------------
class _Settings:
    """Checks the top-level keys other than ``parameters``; errors point at the offending key."""

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.out: dict[str, Any] = {}

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        line, column = _key_mark(self.data, key) or (None, None)
        return ConfigError(f"`{key}`: {message}", source=self.source, line=line, column=column, hint=hint)

    def normalize(self) -> dict[str, Any]:
        self._check_keys()
        self._metric()
        self._metrics()
        self._sampler_and_pruner()
        self._trials_and_seed()
        self._command()
        return self.out

    def _check_keys(self) -> None:
        known = SETTING_KEYS + WANDB_KEYS
        for key in self.data:
            if not isinstance(key, str) or key not in known:
                hint = _did_you_mean(str(key), known) or (
                    "search parameters go under `parameters:`; other top-level keys: " + ", ".join(SETTING_KEYS[1:])
                )
                line, column = _key_mark(self.data, key) or (None, None)
                raise ConfigError(
                    f"unknown top-level key '{key}'", source=self.source, line=line, column=column, hint=hint
                )
        if "parameters" not in self.data:
            raise ConfigError(
                "missing `parameters:`",
                source=self.source,
                line=1,
                hint="list the search parameters under a top-level `parameters:` mapping",
            )

    def _direction(self, key: str, value: Any) -> str:
        if value not in DIRECTIONS:
            close = _did_you_mean(str(value), DIRECTIONS)
            raise self.error(key, f"must be minimize or maximize, got {value!r}", close or "minimize or maximize")
        return value

    def _metric(self) -> None:
        metric = self.data.get("metric")
        direction = None
        if "direction" in self.data:
            direction = self._direction("direction", self.data["direction"])
        if isinstance(metric, Mapping):  # W&B: {name: val_loss, goal: minimize}
            for k in metric:
                if k not in ("name", "goal", "target"):
                    raise self.error("metric", f"unknown key '{k}'", _did_you_mean(str(k), ("name", "goal")))
            name = metric.get("name")
            if "goal" in metric:
                goal = self._direction("metric", metric["goal"])
                if direction is not None and goal != direction:
                    raise self.error("direction", f"says {direction} but `metric.goal` says {goal}", "keep one")
                direction = goal
            metric = name
        if metric is not None or "metric" in self.data:
            if not isinstance(metric, str) or not metric.strip():
                raise self.error("metric", f"must be a metric name, got {metric!r}", "e.g. metric: val_loss")
            self.out["metric"] = metric
            self.out["direction"] = direction or "minimize"
        elif direction is not None:
            self.out["direction"] = direction

    def _metrics(self) -> None:
        if "metrics" not in self.data:
            return
        if "metric" in self.out:
            raise self.error("metrics", "cannot be combined with `metric:`", "list every objective under `metrics:`")
        items = self.data["metrics"]
        if not isinstance(items, list) or not items:
            raise self.error("metrics", "must be a non-empty list", "e.g. metrics: [{name: loss, direction: minimize}]")
        out: list[dict[str, str]] = []
        for item in items:
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise self.error("metrics", f"each item needs a `name:`, got {item!r}", "e.g. {name: loss}")
            extra = set(item) - {"name", "direction", "goal"}
            if extra:
                raise self.error("metrics", f"unknown key '{sorted(map(str, extra))[0]}'", "keys: name, direction")
            default = self.data.get("direction", "minimize")  # a top-level direction applies to every metric
            direction = self._direction("metrics", item.get("direction", item.get("goal", default)))
            if any(m["name"] == item["name"] for m in out):
                raise self.error("metrics", f"'{item['name']}' is listed twice")
            out.append({"name": item["name"], "direction": direction})
        self.out["metrics"] = out

    def _sampler_and_pruner(self) -> None:
        for key in ("sampler", "pruner"):
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, Mapping):
                if not isinstance(value.get("name"), str):
                    raise self.error(key, "a mapping needs a `name:`", f"e.g. {key}: {{name: NAME, option: value}}")
                value = _plain(value)
            elif not isinstance(value, str) or not value.strip():
                raise self.error(key, f"must be a name or a mapping with `name:`, got {value!r}")
            self.out[key] = value
        method = self.data.get("method")
        if method is not None:
            if method not in WANDB_METHODS:
                hint = _did_you_mean(str(method), WANDB_METHODS) or "W&B methods: " + ", ".join(WANDB_METHODS)
                raise self.error("method", f"unknown W&B method {method!r}", hint)
            self.out.setdefault("sampler", WANDB_METHODS[method])

    def _positive_int(self, key: str) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(key, f"must be a whole number > 0, got {value!r}", f"e.g. {key}: 50")
        return value

    def _trials_and_seed(self) -> None:
        trials, cap = self._positive_int("trials"), self._positive_int("run_cap")
        if trials is not None and cap is not None and trials != cap:
            raise self.error("run_cap", f"({cap}) disagrees with `trials:` ({trials})", "keep one of them")
        if trials or cap:
            self.out["trials"] = trials or cap
        if "seed" in self.data:
            seed = self.data["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise self.error("seed", f"must be a whole number >= 0, got {seed!r}", "e.g. seed: 42")
            self.out["seed"] = seed

    def _command(self) -> None:
        if "command" not in self.data:
            return
        cmd = self.data["command"]
        hint = "e.g. command: python train.py  or  command: [python, train.py]"
        if isinstance(cmd, str):
            if not cmd.strip():
                raise self.error("command", "is empty", hint)
            self.out["command"] = cmd
            return
        if not isinstance(cmd, list) or not cmd:
            raise self.error("command", f"must be a string or a non-empty list of strings, got {cmd!r}", hint)
        words = []
        for word in cmd:
            if isinstance(word, (int, float)) and not isinstance(word, bool):
                word = str(word)
            if not isinstance(word, str):
                raise self.error("command", f"list items must be strings, got {word!r}", "quote the item")
            words.append(word)
        self.out["command"] = words


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
class _Problem(Exception):
    """A problem in one parameter's spec; turned into a located ConfigError by the caller."""

    def __init__(self, message: str, key: str | None = None, hint: str | None = None, mark: Mark | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint
        self.mark = mark


@dataclass
class _Where:
    """Where a parameter and the keys of its spec are written."""

    name_mark: Mark | None = None
    key_marks: dict[str, Mark] = field(default_factory=dict)
    choice_marks: list[Mark] = field(default_factory=list)

    def find(self, *keys: str | None) -> Mark | None:
        for key in keys:
            if key is not None and key in self.key_marks:
                return self.key_marks[key]
        return self.name_mark


def _normalize(
    parameters: Any, source: str | None, mark: Mark | None
) -> tuple[dict[str, Any], dict[str, _Where]]:
    if not isinstance(parameters, Mapping) or not parameters:
        got = "{}" if isinstance(parameters, Mapping) else f"a {_kind(parameters)}"
        if parameters is None:
            got = "nothing"
        raise ConfigError(
            f"`parameters:` must be a non-empty mapping of name -> spec, got {got}",
            source=source,
            line=mark[0] if mark else None,
            hint="e.g.\n  parameters:\n    lr: {type: float, low: 1.0e-5, high: 0.1, log: true}",
        )
    specs: dict[str, Any] = {}
    wheres: dict[str, _Where] = {}
    _collect(parameters, "", source, specs, wheres)
    return specs, wheres


def _collect(
    parameters: Mapping[Any, Any], prefix: str, source: str | None, specs: dict[str, Any], wheres: dict[str, _Where]
) -> None:
    for name, raw in parameters.items():
        where = _Where(name_mark=_key_mark(parameters, name))
        if isinstance(raw, LocatedDict):
            where.key_marks = {str(k): m for k, m in raw.key_marks.items()}
            choices = raw.get("choices", raw.get("values"))
            if isinstance(choices, LocatedList):
                where.choice_marks = choices.item_marks
        full = f"{prefix}{name}"
        try:
            if not isinstance(name, str) or not name.strip():
                raise _Problem(f"parameter names must be non-empty strings, got {name!r}", hint="quote the name")
            if full in specs:
                raise _Problem("is defined twice (once as a dotted name, once nested)", hint="keep one of them")
            if isinstance(raw, Mapping) and "parameters" in raw:
                _collect(_nested(raw), f"{full}.", source, specs, wheres)
                continue
            specs[full] = _normalize_one(raw)
            wheres[full] = where
        except _Problem as problem:
            line, column = problem.mark or where.find(problem.key) or (None, None)
            raise ConfigError(
                problem.message, source=source, line=line, column=column, param=full, hint=problem.hint
            ) from None


def _nested(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """A W&B nested block ``name: {parameters: {...}}``, flattened by the caller to ``name.sub``."""
    extra = set(raw) - {"parameters", "description"}
    if extra:
        raise _Problem(
            f"a nested `parameters:` block cannot also have {', '.join(sorted(map(str, extra)))}",
            key=sorted(map(str, extra))[0],
            hint="move those keys into a parameter inside the block",
        )
    inner = raw["parameters"]
    if not isinstance(inner, Mapping) or not inner:
        raise _Problem("nested `parameters:` must be a non-empty mapping", key="parameters")
    return inner


def _normalize_one(raw: Any) -> dict[str, Any]:
    if raw is None:
        raise _Problem(
            "has no value",
            hint="give a spec, e.g. {type: float, low: 0, high: 1}; for a fixed null write {value: null}",
        )
    if isinstance(raw, str):
        return _parse_prior(raw) or {"type": "fixed", "value": raw}
    if isinstance(raw, list):
        raise _Problem(
            "a bare list is not a parameter spec",
            hint="for a choice write {type: categorical, choices: [...]} (or {values: [...]}); "
            "for a fixed list value write {value: [...]}",
        )
    if isinstance(raw, Mapping):
        return _from_mapping(raw)
    return {"type": "fixed", "value": _plain(raw)}


def _from_mapping(spec: Mapping[Any, Any]) -> dict[str, Any]:
    for key in spec:
        if not isinstance(key, str):
            raise _Problem(f"spec keys must be strings, got {key!r}")
    keys = set(spec)
    if "type" in spec:
        return _native(spec, spec["type"])
    wandb = keys & (_WANDB_PARAM_KEYS - {"when"})
    native = keys & (_NATIVE_KEYS - {"when", "value"})
    if wandb and native:
        raise _Problem(
            f"mixes native keys ({', '.join(sorted(native))}) with W&B keys ({', '.join(sorted(wandb))})",
            key=sorted(native)[0],
            hint="use either type/low/high/choices or W&B's distribution/min/max/values",
        )
    if wandb:
        return _wandb(spec)
    if native:
        if "choices" in spec:
            return _native(spec, "categorical")
        ints = all(isinstance(spec.get(k), int) and not isinstance(spec.get(k), bool) for k in ("low", "high"))
        return _native(spec, "int" if ints else "float")
    if not spec:
        raise _Problem("empty spec {}", hint="e.g. {type: float, low: 0, high: 1}, or a plain value")
    _reject_unknown(spec, _NATIVE_KEYS | _WANDB_PARAM_KEYS)
    raise _Problem("spec has no type", key="when", hint="add `type:` (float, int, categorical) or `value:`")


def _reject_unknown(spec: Mapping[str, Any], valid: set[str], context: str = "") -> None:
    for key in spec:
        if key not in valid:
            hint = _did_you_mean(key, sorted(valid)) or "valid keys: " + ", ".join(sorted(valid))
            if key in _WANDB_PARAM_KEYS and "type" in spec:
                hint = f"`{key}` is W&B syntax; with `type:` use " + ", ".join(sorted(valid - {"type", "when"}))
            raise _Problem(f"unknown key '{key}'{context}", key=key, hint=hint)


def _native(spec: Mapping[str, Any], ptype: Any) -> dict[str, Any]:
    if ptype not in PARAM_TYPES:
        hint = _did_you_mean(str(ptype), PARAM_TYPES) or "type must be one of: " + ", ".join(PARAM_TYPES)
        if ptype in _WANDB_DISTS:
            hint = f"'{ptype}' is a W&B distribution: write `distribution: {ptype}` with min/max, or use type: float"
        raise _Problem(f"unknown type {ptype!r}", key="type", hint=hint)
    valid = {"type", "when"} | {
        "float": {"low", "high", "log", "step"},
        "int": {"low", "high", "log", "step"},
        "categorical": {"choices"},
        "fixed": {"value"},
    }[ptype]
    _reject_unknown(spec, valid, f" for a {ptype} parameter")
    out: dict[str, Any] = {"type": ptype}
    if ptype in _NUMERIC_TYPES:
        for key in ("low", "high"):
            if key not in spec:
                raise _Problem(f"missing '{key}'", key="type", hint=f"a {ptype} parameter needs low and high")
            out[key] = _number(spec[key], key, as_int=ptype == "int")
        if "log" in spec:
            if not isinstance(spec["log"], bool):
                raise _Problem(
                    f"log must be true or false, got {spec['log']!r}", key="log", hint="write log: true (no quotes)"
                )
            out["log"] = spec["log"]
        if spec.get("step") is not None:
            out["step"] = _number(spec["step"], "step", as_int=ptype == "int")
    elif ptype == "categorical":
        out["choices"] = _choices(spec.get("choices"), "choices")
    else:
        if "value" not in spec:
            raise _Problem("missing 'value'", key="type", hint="e.g. {type: fixed, value: 20}")
        out["value"] = _plain(spec["value"])
    return _with_when(out, spec)


def _with_when(out: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    if "when" in spec:
        out["when"] = _plain(spec["when"])
    return out


def _number(value: Any, key: str, *, as_int: bool = False) -> int | float:
    """A numeric field; numeric-looking strings are converted (YAML 1.1 reads some numbers as text)."""
    number: int | float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        for convert in (int, float):
            try:
                number = convert(text)
                break
            except ValueError:
                continue
    if number is None:
        raise _Problem(f"{key} must be a number, got {value!r}", key=key, hint=f"e.g. {key}: 0.5 or {key}: 1.0e-5")
    if as_int:
        if isinstance(number, float) and number.is_integer():
            return int(number)
        if isinstance(number, float):
            raise _Problem(
                f"{key} of an int parameter must be a whole number, got {value!r}",
                key=key,
                hint="use `type: float` for a fractional range",
            )
    return number


def _choices(choices: Any, key: str) -> list[Any]:
    if not isinstance(choices, list):
        raise _Problem(f"{key} must be a list, got {choices!r}", key=key, hint=f"e.g. {key}: [adam, sgd]")
    if not choices:
        raise _Problem(f"{key} is empty", key=key, hint="list at least one value")
    seen: dict[Any, int] = {}
    marks = choices.item_marks if isinstance(choices, LocatedList) else []
    for i, choice in enumerate(choices):
        try:
            k = value_key(_plain(choice))
            hash(k)
        except TypeError:
            continue  # param_from_spec reports it
        if k in seen:
            raise _Problem(
                f"choice {choice!r} is listed twice in {key}",
                key=key,
                mark=marks[i] if i < len(marks) else None,
                hint="remove the duplicate (note: YAML reads yes/no/on/off as true/false; quote them)",
            )
        seen[k] = i
    return _plain(choices)


# --- W&B sweep syntax -------------------------------------------------------------------------
_RANGE = {"min", "max", "distribution", "when"}
_WANDB_DISTS: dict[str, set[str]] = {
    "constant": {"value", "distribution", "when"},
    "categorical": {"values", "distribution", "when", "probabilities"},
    "int_uniform": _RANGE,
    "uniform": _RANGE,
    "q_uniform": _RANGE | {"q"},
    "log_uniform": _RANGE,
    "log_uniform_values": _RANGE,
    "q_log_uniform": _RANGE | {"q"},
    "q_log_uniform_values": _RANGE | {"q"},
    "inv_log_uniform": _RANGE,
    "inv_log_uniform_values": _RANGE,
    "normal": set(),
    "q_normal": set(),
    "log_normal": set(),
    "q_log_normal": set(),
}


def _wandb(spec: Mapping[str, Any]) -> dict[str, Any]:
    if "probabilities" in spec:
        raise _Problem(
            "`probabilities` is not supported: hposweep's samplers weigh all choices equally",
            key="probabilities",
            hint="remove `probabilities:`, or repeat no value; list the choices with `values:`",
        )
    if "mu" in spec or "sigma" in spec:
        raise _Problem(
            "normal distributions (mu/sigma) are not supported",
            key="mu" if "mu" in spec else "sigma",
            hint="use `distribution: uniform` or `log_uniform_values` with min/max bounds",
        )
    dist = spec.get("distribution")
    if dist is None:
        dist = _infer_distribution(spec)
    if not isinstance(dist, str) or dist not in _WANDB_DISTS:
        hint = _did_you_mean(str(dist), _WANDB_DISTS) or "W&B distributions: " + ", ".join(_WANDB_DISTS)
        raise _Problem(f"unknown distribution {dist!r}", key="distribution", hint=hint)
    if not _WANDB_DISTS[dist]:
        raise _Problem(
            f"distribution '{dist}' is not supported (it has no bounds to search within)",
            key="distribution",
            hint="use `uniform` or `log_uniform_values` with min/max bounds",
        )
    _reject_unknown(spec, _WANDB_DISTS[dist], f" for distribution '{dist}'")
    if dist == "constant":
        if "value" not in spec:
            raise _Problem("missing 'value'", key="distribution", hint="e.g. {value: 20}")
        return _with_when({"type": "fixed", "value": _plain(spec["value"])}, spec)
    if dist == "categorical":
        return _with_when({"type": "categorical", "choices": _choices(spec.get("values"), "values")}, spec)
    for key in ("min", "max"):
        if key not in spec:
            raise _Problem(f"missing '{key}'", key="distribution", hint=f"distribution '{dist}' needs min and max")
    return _with_when(_wandb_range(dist, spec), spec)


def _infer_distribution(spec: Mapping[str, Any]) -> str:
    """W&B's rules: values -> categorical, value -> constant, int min/max -> int_uniform, else uniform."""
    if "values" in spec:
        return "categorical"
    if "value" in spec:
        return "constant"
    if "min" in spec or "max" in spec:
        ints = all(isinstance(spec.get(k), int) and not isinstance(spec.get(k), bool) for k in ("min", "max"))
        if "q" in spec:
            return "q_uniform"
        return "int_uniform" if ints else "uniform"
    raise _Problem("spec has no `distribution`, `values`, `value` or min/max", hint="e.g. {min: 0.0, max: 1.0}")


def _wandb_range(dist: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    low, high = _number(spec["min"], "min"), _number(spec["max"], "max")
    if dist == "int_uniform":
        return {"type": "int", "low": _number(low, "min", as_int=True), "high": _number(high, "max", as_int=True)}
    if dist == "uniform":
        return {"type": "float", "low": float(low), "high": float(high)}
    if dist == "q_uniform":
        q = _number(spec.get("q", 1), "q")
        ints = all(isinstance(v, int) for v in (low, high, q)) and "distribution" not in spec
        return {"type": "int" if ints else "float", "low": low, "high": high, "step": q}
    if dist in ("log_uniform_values", "inv_log_uniform_values"):
        return {"type": "float", "low": float(low), "high": float(high), "log": True}
    if dist == "log_uniform":  # bounds are exponents: X = exp(U(min, max))
        return {"type": "float", "low": _exp(low, "min"), "high": _exp(high, "max"), "log": True}
    if dist == "inv_log_uniform":  # log(1/X) ~ U(min, max)  =>  X in [exp(-max), exp(-min)]
        return {"type": "float", "low": _exp(-high, "max"), "high": _exp(-low, "min"), "log": True}
    if dist == "q_log_uniform_values":
        return _quantized_log(low, high, _number(spec.get("q", 1), "q"))
    return _quantized_log(_exp(low, "min"), _exp(high, "max"), _number(spec.get("q", 1), "q"))


def _exp(x: float, key: str) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        hint = "log_uniform bounds are exponents of e"
        raise _Problem(f"exp({key}) overflows: {key}={x}", key=key, hint=hint) from None


def _quantized_log(low: float, high: float, q: float) -> dict[str, Any]:
    """Log scale with a step exists only as a log-scaled int range (step 1)."""
    if q == 1 and float(low).is_integer() and float(high).is_integer():
        return {"type": "int", "low": int(low), "high": int(high), "log": True}
    raise _Problem(
        f"a log scale with a step q={q:g} is not supported (only q=1 with whole-number bounds, as a log int)",
        key="q" if q != 1 else "min",
        hint="use `distribution: log_uniform_values` (continuous), or list the values with `values: [...]`",
    )


# --- one-line priors --------------------------------------------------------------------------
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)


def _prior_range(ptype: str, *, log: bool = False, step: bool = False) -> Callable[[list[Any]], dict[str, Any]]:
    def build(args: list[Any]) -> dict[str, Any]:
        names = ["low", "high"] + (["step"] if step else [])
        if len(args) != len(names):
            raise _Problem(f"takes {len(names)} numbers ({', '.join(names)}), got {len(args)}")
        out: dict[str, Any] = {"type": ptype}
        for name, arg in zip(names, args, strict=True):
            out[name] = _number(arg, name, as_int=ptype == "int")
        if log:
            out["log"] = True
        return out

    return build


def _prior_choice(args: list[Any]) -> dict[str, Any]:
    choices = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return {"type": "categorical", "choices": _choices(list(choices), "choices")}


def _prior_qloguniform(args: list[Any]) -> dict[str, Any]:
    if len(args) != 3:
        raise _Problem(f"takes 3 numbers (low, high, q), got {len(args)}")
    return _quantized_log(_number(args[0], "low"), _number(args[1], "high"), _number(args[2], "q"))


#: prior name -> (signature shown in errors, builder of the normalized spec)
PRIORS: dict[str, tuple[str, Callable[[list[Any]], dict[str, Any]]]] = {
    "uniform": ("uniform(low, high)", _prior_range("float")),
    "loguniform": ("loguniform(low, high)", _prior_range("float", log=True)),
    "quniform": ("quniform(low, high, step)", _prior_range("float", step=True)),
    "qloguniform": ("qloguniform(low, high, 1)  (whole-number bounds only)", _prior_qloguniform),
    "randint": ("randint(low, high)  (both ends included)", _prior_range("int")),
    "qrandint": ("qrandint(low, high, step)", _prior_range("int", step=True)),
    "logint": ("logint(low, high)", _prior_range("int", log=True)),
    "choice": ("choice([a, b, c])", _prior_choice),
}


def _parse_prior(text: str) -> dict[str, Any] | None:
    """``loguniform(1e-5, 0.1)`` -> a spec; None when ``text`` is an ordinary string value."""
    match = _CALL.match(text)
    if not match:
        return None
    fname, inner = match.groups()
    if fname not in PRIORS:
        close = _did_you_mean(fname, PRIORS, cutoff=0.75)
        if close is None:
            return None  # e.g. `activation: relu(x)` is a string the user wants passed as is
        raise _Problem(f"unknown prior '{fname}(...)'", hint=close)
    signature, build = PRIORS[fname]
    try:
        args = _parse_yaml(f"[{inner}]", None)  # data only, never eval
    except ConfigError:
        args = None
    if not isinstance(args, list):
        raise _Problem(f"cannot read the arguments of {fname}({inner})", hint=f"write {signature}")
    try:
        return build(list(args))
    except _Problem as problem:
        raise _Problem(f"{fname}(...): {problem.message}", hint=problem.hint or f"write {signature}") from None


# --------------------------------------------------------------------------------------------
# Building the space with locations
# --------------------------------------------------------------------------------------------
def _build_space(parameters: Any, source: str, mark: Mark | None) -> tuple[SearchSpace, dict[str, _Where]]:
    specs, wheres = _normalize(parameters, source, mark)
    params: list[Param] = []
    for name, spec in specs.items():
        try:
            params.append(param_from_spec(name, spec))
        except ConfigError as err:
            raise _relocate(err, source, wheres.get(name)) from None
    try:
        space = SearchSpace(params, source=source)
    except ConfigError as err:
        raise _relocate(err, source, wheres.get(err.param or "")) from None
    return space, wheres


#: first word of a space.py message -> spec keys (native, W&B) that the message is about
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
}


def _relocate(err: ConfigError, source: str, where: _Where | None) -> ConfigError:
    """Re-raise a space.py error with the file, and the line of the parameter or of the sub-key at fault."""
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


# --------------------------------------------------------------------------------------------
# Duplicate keys
# --------------------------------------------------------------------------------------------
def _check_duplicates(data: Any, source: str) -> None:
    found: list[tuple[Mark, Mark, Any, list[Any]]] = []
    _walk_duplicates(data, [], found)
    if not found:
        return
    here, first, key, path = min(found, key=lambda f: f[0])
    where = "top-level key" if not path else "key"
    raise ConfigError(
        f"{where} '{key}' is defined twice (first on line {first[0]})",
        source=source,
        line=here[0],
        column=here[1],
        param=_param_of(path, key),
        hint="YAML would silently keep only the last one: remove or rename one of them",
    )


def _walk_duplicates(node: Any, path: list[Any], found: list[tuple[Mark, Mark, Any, list[Any]]]) -> None:
    if isinstance(node, LocatedDict):
        found.extend((here, first, key, path) for key, here, first in node.duplicates)
        for key, value in node.items():
            _walk_duplicates(value, path + [key], found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk_duplicates(value, path + [i], found)


def _param_of(path: list[Any], key: Any) -> str | None:
    """The (dotted) parameter a key path is inside, or None outside ``parameters:``."""
    if not path or path[0] != "parameters":
        return None
    rest, parts = list(path[1:]) + [key], []
    while rest:
        parts.append(str(rest.pop(0)))
        if len(rest) > 1 and rest[0] == "parameters":
            rest.pop(0)
            continue
        break
    return ".".join(parts)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
def _key_mark(mapping: Any, key: Any) -> Mark | None:
    return mapping.key_marks.get(key) if isinstance(mapping, LocatedDict) else None


def _did_you_mean(word: str, options: Any, cutoff: float = 0.6) -> str | None:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else None


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "string" if isinstance(value, str) else type(value).__name__


def _plain(value: Any) -> Any:
    """Plain dicts and lists (no position bookkeeping) for specs and settings that get stored."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _range_text(p: Param) -> str:
    if isinstance(p, NumericParam):
        return f"{_fmt(p.low)} .. {_fmt(p.high)}"
    if isinstance(p, CategoricalParam):
        return ", ".join(_fmt(c) for c in p.choices)
    if isinstance(p, FixedParam):
        return _fmt(p.value)
    return ""


def _scale_text(p: Param) -> str:
    if not isinstance(p, NumericParam):
        return "-"
    if p.log:
        return "log"
    if p.step is not None and not (p.type == "int" and p.step == 1):
        return f"step {_fmt(p.step)}"
    return "linear"


def _condition_text(p: Param) -> str:
    parts = []
    for c in p.when:
        if len(c.values) == 1:
            parts.append(f"{c.parent} = {_fmt(c.values[0])}")
        else:
            parts.append(f"{c.parent} in {{{', '.join(_fmt(v) for v in c.values)}}}")
    return " and ".join(parts)
