"""The search space: an ordered set of parameters, and when each one is active.

This module is the *model* of a space and knows nothing about file syntaxes. The space-file layer
(``hposweep.spacefile``, one layer up) turns a file or a ``parameters:`` mapping in native, W&B or
one-line prior syntax into the normalized spec dicts :func:`~hposweep.core.params.param_from_spec`
reads, and adds file/line locations to the errors raised here.

:meth:`SearchSpace.from_dict` must accept every syntax, yet the core may not import the layer above
it. So the reader is injected: ``hposweep.spacefile`` calls :func:`register_spec_reader` when it is
imported, and ``hposweep.SearchSpace`` is handed out through ``hposweep.spacefile``, so the reader is
always in place for users. Without a registered reader, ``from_dict`` reads normalized specs only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hposweep.core.params import (
    PARAM_TYPES,
    BoolParam,
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    NumericParam,
    Param,
    param_from_spec,
    value_key,
)
from hposweep.errors import ConfigError, did_you_mean

__all__ = [
    "PARAM_TYPES",
    "BoolParam",
    "CategoricalParam",
    "Condition",
    "FixedParam",
    "FloatParam",
    "IntParam",
    "NumericParam",
    "Param",
    "SearchSpace",
    "param_from_spec",
    "register_spec_reader",
    "value_key",
]

#: a syntax reader: (``parameters:`` mapping, source) -> normalized specs, name -> ``param_from_spec`` dict
SpecReader = Callable[[Mapping[str, Any], "str | None"], dict[str, Any]]

_spec_reader: list[SpecReader] = []

#: most grid points :meth:`SearchSpace.grid` enumerates; each becomes a trial, and the grid sampler holds them all
GRID_LIMIT = 1_000_000


def register_spec_reader(reader: SpecReader) -> None:
    """Make :meth:`SearchSpace.from_dict` read ``parameters:`` mappings with ``reader``.

    ``hposweep.spacefile`` registers its reader (native, W&B and prior syntax) when it is imported;
    the core cannot import it, being the layer below. The last registration wins.
    """
    _spec_reader[:] = [reader]


def _read_specs(parameters: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    if _spec_reader:
        return _spec_reader[0](parameters, source)
    if not isinstance(parameters, Mapping):
        raise ConfigError("parameters must be a mapping of name -> spec", source=source)
    for name, spec in parameters.items():
        if isinstance(spec, str) or isinstance(spec, Mapping) and "type" not in spec:
            raise ConfigError(
                "only normalized specs ({type: ..}) are read before hposweep.spacefile is imported",
                param=str(name),
                source=source,
                hint="use hposweep.SearchSpace (it reads native, W&B and prior syntax), or import hposweep.spacefile",
            )
    return dict(parameters)


class SearchSpace:
    """An ordered set of parameters, parents before the parameters that depend on them."""

    def __init__(self, params: list[Param] | Mapping[str, Param], *, source: str | None = None) -> None:
        plist = list(params.values()) if isinstance(params, Mapping) else list(params)
        self.source = source
        seen: set[str] = set()
        dupes: set[str] = set()
        for p in plist:  # a set, not names.count: 10,000 parameters must not take quadratic time
            (dupes if p.name in seen else seen).add(p.name)
        if dupes:
            raise ConfigError(f"parameter(s) defined twice: {', '.join(sorted(dupes))}", source=source)
        by_name = {p.name: p for p in plist}
        self._check_conditions(by_name)
        self.params: dict[str, Param] = {p.name: p for p in _topological(by_name, source)}
        #: parameters a sampler must choose a value for (fixed ones are filled in by the space)
        self.searchable: list[Param] = [p for p in self.params.values() if not p.is_fixed]

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, parameters: Mapping[str, Any], *, source: str | None = None) -> SearchSpace:
        """Build from a ``parameters:`` mapping in any syntax a space file accepts (native, W&B, priors).

        The syntaxes are read by the reader ``hposweep.spacefile`` registers (see
        :func:`register_spec_reader`); ``hposweep.SearchSpace`` always comes with it. Reached through
        ``hposweep.core.space`` alone, before anything imported ``hposweep.spacefile``, only normalized
        specs (``{"type": "float", "low": .., "high": ..}``) are understood.
        A space file is read with ``hposweep.load_space(path)``.
        """
        specs = _read_specs(parameters, source)
        params = []
        for name, spec in specs.items():
            try:
                params.append(param_from_spec(name, spec))
            except ConfigError as err:
                if err.source is None and source is not None:
                    raise ConfigError(_strip_param(err), source=source, param=err.param, hint=err.hint) from None
                raise
        return cls(params, source=source)

    def to_json(self) -> dict[str, Any]:
        return {name: p.to_json() for name, p in self.params.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_json` (the checkpoint form, always normalized)."""
        return cls([param_from_spec(name, spec) for name, spec in data.items()])

    # --- queries ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params.values())

    def __getitem__(self, name: str) -> Param:
        return self.params[name]

    def __contains__(self, name: object) -> bool:
        return name in self.params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.params)})"

    @property
    def is_conditional(self) -> bool:
        return any(p.when for p in self.params.values())

    def complete(self, chosen: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the active chosen values, add fixed values, in space order.

        Samplers produce a value for every parameter they like; this drops the ones whose condition
        does not hold given the others, so a trial's params are exactly its active parameters.
        """
        out: dict[str, Any] = {}
        for p in self.params.values():
            if not p.is_active(out):
                continue
            if isinstance(p, FixedParam):
                out[p.name] = p.value
            elif p.name in chosen:
                out[p.name] = chosen[p.name]
        return out

    def check(self, params: Mapping[str, Any]) -> None:
        """Raise ConfigError unless ``params`` is a legal, complete set of active values."""
        seen: dict[str, Any] = {}
        for p in self.params.values():
            active = p.is_active(seen)
            if active and p.name not in params:
                raise ConfigError("missing value for an active parameter", param=p.name)
            if not active and p.name in params:
                raise ConfigError("value given but the parameter's condition does not hold", param=p.name)
            if active:
                if not p.contains(params[p.name]):
                    raise ConfigError(f"value {params[p.name]!r} is outside the space", param=p.name)
                seen[p.name] = params[p.name]
        extra = set(params) - set(self.params)
        if extra:
            raise ConfigError(f"unknown parameter(s): {', '.join(sorted(extra))}")

    def contains(self, params: Mapping[str, Any]) -> bool:
        try:
            self.check(params)
        except ConfigError:
            return False
        return True

    def n_configs(self, limit: int = 10**7) -> int | None:
        """Number of distinct configurations, or None when infinite or above ``limit``."""
        if any(p.n_values() is None for p in self.searchable):
            return None
        total = 0
        for _, weight in self._decision_assignments(limit):
            total += weight
            if total > limit:
                return None
        return total

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every configuration, conditions respected, in a stable order (space order, choices order).

        Refused beyond :data:`GRID_LIMIT` points: a grid that large is never searched to the end, and
        enumerating it would hang (a float step of 1e-300) or fill the memory.
        """
        for p in self.searchable:
            if p.n_values() is None:
                p.values()  # raises the clear "no finite grid" error
        if self.n_configs(limit=GRID_LIMIT) is None:
            raise ConfigError(
                f"the grid has more than {GRID_LIMIT:,} points, too many to enumerate",
                source=self.source,
                hint="use larger steps or fewer choices, or a sampler that does not enumerate (random, tpe)",
            )
        for current, _ in self._walk(lambda p: p.values()):
            yield dict(current)

    def _decision_assignments(self, limit: int) -> Iterator[tuple[dict[str, Any], int]]:
        """Enumerate values of parameters that others depend on; weight = product of the rest."""
        parents = {c.parent for p in self.params.values() for c in p.when}
        for count, item in enumerate(self._walk(lambda p: p.values() if p.name in parents else None), 1):
            if count > limit + 1:  # one past the limit, so n_configs can tell "more than limit"
                return
            yield item

    def _walk(self, branch: Callable[[Param], list[Any] | None]) -> Iterator[tuple[dict[str, Any], int]]:
        """Depth first over the active parameters, in space order, with an explicit stack.

        ``branch(p)`` lists the values to branch on, or None to count ``p``'s values into the weight
        instead. A loop rather than recursion, so 10,000 parameters do not hit Python's recursion
        limit. The yielded dict is reused: copy it to keep it.
        """
        plist = list(self.params.values())
        current: dict[str, Any] = {}
        stack: list[tuple[int, Iterator[Any], int]] = []  # (parameter index, its remaining values, weight before it)
        i, weight = 0, 1
        while True:
            while i < len(plist):
                p = plist[i]
                i += 1
                if not p.is_active(current):
                    continue
                values = branch(p)
                if values is None:
                    weight *= int(p.n_values() or 1)
                    continue
                remaining = iter(values)
                stack.append((i - 1, remaining, weight))
                current[p.name] = next(remaining)  # a parameter has at least one value
            yield current, weight
            while stack:
                j, remaining, before = stack[-1]
                name = plist[j].name
                nxt = next(remaining, _END)
                if nxt is _END:
                    del current[name]
                    stack.pop()
                    continue
                current[name] = nxt
                i, weight = j + 1, before
                break
            else:
                return

    # --- checks --------------------------------------------------------------------------
    def _check_conditions(self, by_name: Mapping[str, Param]) -> None:
        for p in by_name.values():
            for c in p.when:
                if c.parent == p.name:
                    raise ConfigError("`when:` refers to the parameter itself", param=p.name, source=self.source)
                parent = by_name.get(c.parent)
                if parent is None:
                    hint = did_you_mean(c.parent, by_name)
                    raise ConfigError(
                        f"`when:` names unknown parameter '{c.parent}'",
                        param=p.name,
                        source=self.source,
                        hint=hint or "conditions must name another parameter of the space",
                    )
                for v in c.values:
                    if not parent.contains(v):
                        raise ConfigError(
                            f"`when: {{{c.parent}: {v!r}}}` can never hold: '{c.parent}' never takes {v!r}",
                            param=p.name,
                            source=self.source,
                            hint=_values_hint(parent),
                        )


def _values_hint(parent: Param) -> str:
    if isinstance(parent, CategoricalParam):
        return "its choices are: " + ", ".join(map(repr, parent.choices))
    if isinstance(parent, FixedParam):
        return f"it is fixed at {parent.value!r}"
    if isinstance(parent, NumericParam):
        return f"its range is {parent.low}..{parent.high}"
    return ""


_END = object()


def _strip_param(err: ConfigError) -> str:
    """The message of a parameter error without the ``parameter 'x': `` prefix ConfigError put in front."""
    prefix = f"parameter '{err.param}': " if err.param else ""
    return err.message[len(prefix):] if prefix and err.message.startswith(prefix) else err.message


def _topological(by_name: Mapping[str, Param], source: str | None) -> list[Param]:
    """Parents before children, otherwise the user's order; a cycle is a clear error.

    Depth first with an explicit stack, so a chain of 10,000 conditions does not hit the recursion limit.
    """
    order: list[Param] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = placed
    for root in by_name:
        if root in state:
            continue
        path, pending = [root], [iter(by_name[root].when)]
        state[root] = 1
        while pending:
            cond = next(pending[-1], None)
            if cond is None:
                name = path.pop()
                pending.pop()
                state[name] = 2
                order.append(by_name[name])
                continue
            parent = cond.parent
            if state.get(parent) == 2:
                continue
            if state.get(parent) == 1:
                cycle = path[path.index(parent):] + [parent]
                raise ConfigError(
                    "conditions form a cycle: " + " -> ".join(cycle),
                    param=parent,
                    source=source,
                    hint="a parameter's `when:` must not depend, directly or not, on the parameter itself",
                )
            state[parent] = 1
            path.append(parent)
            pending.append(iter(by_name[parent].when))
    return order
