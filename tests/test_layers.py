"""The package's shape, enforced: layers, no cycles, no private names across modules, short modules.

Every ``import`` in ``hposweep/`` is read with :mod:`ast`, the ones inside functions (lazy imports) and
under ``TYPE_CHECKING`` included, so a shortcut taken "just this once" fails here instead of decaying
the structure README's "How the code is organised" describes.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "hposweep"

#: the layers, lowest first; a module may import its own layer or lower ones only
LAYERS: dict[str, int] = {
    "errors": 0,
    "core": 0,
    "samplers": 1,
    "pruners": 1,
    "analysis": 1,
    "spacefile": 1,
    "study": 2,
    "execution": 3,
    "integrations": 3,
    "cli": 4,
    "report": 4,
    "dashboard": 4,
    "entry": 5,
    "__main__": 5,
}

#: a module longer than this says why in its docstring, with the words "one job"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str, path: Path) -> list[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every hposweep import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "hposweep" or alias.name.startswith("hposweep."):
                    out.append((node.lineno, alias.name, None))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, is_pkg, node)
            if target != "hposweep" and not target.startswith("hposweep."):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # ``from hposweep.samplers import _gp`` imports a module
                    out.append((node.lineno, sub, None))
                else:
                    out.append((node.lineno, target, alias.name))
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package itself: hposweep/__init__.py re-exports every layer
    return LAYERS.get(parts[1])


def test_every_module_belongs_to_a_layer() -> None:
    stray = [m for m in MODULES if m != "hposweep" and _layer(m) is None]
    assert stray == [], f"modules outside the layer table: {stray}"


def test_nothing_imports_upward() -> None:
    bad = []
    for name, path in MODULES.items():
        own = _layer(name)
        if own is None:
            continue
        for line, target, _ in _imports(name, path):
            theirs = _layer(target)
            if target == "hposweep":
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: imports the package root (import the module)")
            elif theirs is not None and theirs > own:
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: layer {own} imports {target} (layer {theirs})")
    assert bad == [], "\n".join(bad)


def test_no_private_names_across_modules() -> None:
    bad = []
    for name, path in MODULES.items():
        for line, target, imported in _imports(name, path):
            if imported is None or not imported.startswith("_") or imported.startswith("__"):
                continue
            if target != name:
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: imports private {imported} from {target}")
    assert bad == [], "\n".join(bad)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for _, target, _ in _imports(name, path):
            # a submodule reaching its own package's __init__ (``from . import SAMPLERS``) is the package
            # asking itself: only an edge when the __init__ imports the submodule back at import time
            if target in MODULES and target != name:
                graph[name].add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(MODULES):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_are_short_or_say_why(name: str) -> None:
    path = MODULES[name]
    text = path.read_text()
    n = text.count("\n")
    if n <= MAX_LINES:
        return
    doc = ast.get_docstring(ast.parse(text)) or ""
    where = path.relative_to(PKG.parent)
    assert "one job" in doc, f"{where} has {n} lines: split it, or say in its docstring why it is one job"


def test_the_layer_table_names_real_packages() -> None:
    for pkg in LAYERS:
        if pkg == "dashboard":
            continue  # arrives with the dashboard
        assert (PKG / pkg).is_dir() or (PKG / f"{pkg}.py").is_file(), pkg
