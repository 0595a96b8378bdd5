"""Reading a space file's YAML: positions for every key and item, duplicate keys, and bounded work.

Users fix their files from the error message alone, so errors name the line. PyYAML throws
positions away; :class:`SpaceLoader` keeps the mark of every mapping key and list item and notes
duplicate keys (PyYAML silently keeps the last one).

A space file is untrusted input, so everything here is bounded: the bytes read
(:data:`MAX_BYTES`, so ``/dev/zero`` is refused instead of filling the memory), the nesting depth
(:data:`MAX_DEPTH`, so a 10,000-deep list is an error instead of a ``RecursionError``), the keys a
``<<:`` merge may produce, and the values a YAML alias may expand to (:func:`plain`,
:func:`check_duplicates` visit each shared node once), so a 400-byte "billion laughs" file is
refused or read in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from hposweep.errors import ConfigError

#: 1-based (line, column) of a node in the file
Mark = tuple[int, int]

#: bytes read from a space file at most; a space of 10,000 parameters is about 0.5 MiB
MAX_BYTES = 4 * 1024 * 1024
#: nesting levels of mappings and lists; a space file needs fewer than ten
MAX_DEPTH = 64
#: keys of one mapping after ``<<:`` merges, and items of one value after expanding aliases
MAX_ITEMS = 100_000


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


class ValueTooLarge(ValueError):
    """A value expands (through YAML aliases) to more than :data:`MAX_ITEMS` items."""


def _mark(m: yaml.Mark) -> Mark:
    return (m.line + 1, m.column + 1)


class SpaceLoader(yaml.SafeLoader):
    """SafeLoader that records positions, reads ``1e-5`` as a number and leaves dates as strings.

    YAML 1.1 (PyYAML) wants a dot and a signed exponent in floats, so ``1e-5`` and ``1.0e5`` would
    be strings; every user means a number, as YAML 1.2 and JSON say. Dates would become
    ``datetime.date`` objects that cannot be passed to a command or stored as JSON.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """PyYAML composes recursively: refuse deep nesting before Python's recursion limit does."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(
                    problem=f"nesting deeper than {MAX_DEPTH} levels", problem_mark=self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """``<<:`` merges copy keys; nested merges of merges grow exponentially, so cap the result."""
        super().flatten_mapping(node)
        if len(node.value) > MAX_ITEMS:
            raise yaml.MarkedYAMLError(
                problem=f"`<<:` merges produce more than {MAX_ITEMS:,} keys in one mapping",
                problem_mark=node.start_mark,
            )


SpaceLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpaceLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _construct_map(loader: SpaceLoader, node: yaml.MappingNode) -> Any:
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


def _construct_seq(loader: SpaceLoader, node: yaml.SequenceNode) -> Any:
    data = LocatedList()
    data.mark = _mark(node.start_mark)
    data.item_marks = [_mark(child.start_mark) for child in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


SpaceLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
SpaceLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


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
    if "nesting deeper" in problem:
        return "a space file needs only a few levels (parameters -> name -> spec): is this the right file?"
    if "merges produce" in problem:
        return "merge each anchor once; a space file does not need nested `<<:` merges"
    return "check the indentation and quoting around this line"


def parse_yaml(text: str, source: str | None) -> Any:
    """The YAML document in ``text`` as LocatedDict/LocatedList/scalars; errors are located ConfigErrors."""
    loader = SpaceLoader(text)
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


def read_text(source: str) -> str:
    """The file as text, at most :data:`MAX_BYTES` read (a device or a huge file is refused, not slurped)."""
    try:
        with open(source, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", source=source, hint="check the path (e.g. spaces/mlp.yaml)") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a space file", source=source) from None
    except PermissionError:
        raise ConfigError("cannot be read: permission denied", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror or exc}", source=source) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"is larger than {MAX_BYTES // (1024 * 1024)} MiB, the most a space file may be (reading stopped there)",
            source=source,
            hint="is it the right file? a space file of 10,000 parameters is about 0.5 MiB",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            "is not UTF-8 text", source=source, line=line, hint="save the file as UTF-8 (is it a YAML file?)"
        ) from None


def key_mark(mapping: Any, key: Any) -> Mark | None:
    """Where ``key`` of ``mapping`` was written, when the mapping came from a file."""
    return mapping.key_marks.get(key) if isinstance(mapping, LocatedDict) else None


def kind(value: Any) -> str:
    """"mapping", "list", "string" or the type name, for "got a ..." messages."""
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "string" if isinstance(value, str) else type(value).__name__


def plain(value: Any) -> Any:
    """Plain dicts and lists (no position bookkeeping) for specs and settings that get stored.

    Iterative, and counting every item an alias expands to: raises :class:`ValueTooLarge` beyond
    :data:`MAX_ITEMS` items or :data:`MAX_DEPTH` levels (a Python mapping may be as deep as it likes).
    """
    budget = [MAX_ITEMS]

    def convert(v: Any, depth: int) -> Any:
        if isinstance(v, (Mapping, list, tuple)):
            budget[0] -= len(v)
            if budget[0] < 0:
                raise ValueTooLarge(f"more than {MAX_ITEMS:,} items (after expanding YAML aliases)")
            if depth > MAX_DEPTH:
                raise ValueTooLarge(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(v, Mapping):
                return {k: convert(x, depth + 1) for k, x in v.items()}
            return [convert(x, depth + 1) for x in v]
        return v

    return convert(value, 0)


def check_duplicates(data: Any, source: str) -> None:
    """Raise on the first (in file order) key written twice in any mapping of the document.

    Each node is visited once: YAML aliases share nodes, and walking every alias path of a
    "billion laughs" file would take minutes.
    """
    found: list[tuple[Mark, Mark, Any, list[Any]]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, list[Any]]] = [(data, [])]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, (LocatedDict, list)) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, LocatedDict):
            found.extend((here, first, key, path) for key, here, first in node.duplicates)
            stack.extend((value, path + [key]) for key, value in node.items())
        else:
            stack.extend((value, path + [i]) for i, value in enumerate(node))
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
