"""The house: layers import downward only.

Two graphs, read from the source (imports at module level and inside functions; imports under
``if TYPE_CHECKING:`` never run and are left out):

- modules: importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b`` (a package counts as
  what its ``__init__`` imports), except the importer's own ancestors, which are already running;
- packages: a module's package depends on the package of each module it imports. A package and its
  own sub-packages are one unit here (a registry in ``search_spaces/__init__`` naming its spaces, each
  of which implements ``search_spaces.base``, is containment, not a layer cycle).

Neither graph may have a cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nasrlm", "search_spaces", "baselines")


def _modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Fully qualified names this module imports (modules, or attributes of modules)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:  # a submodule, or else an attribute of the module ``base``
                full = f"{base}.{alias.name}"
                names.add(full if full in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return names


def _graphs() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    packages = {name for name, path in modules.items() if path.name == "__init__.py"}

    def owner(name: str) -> str | None:  # the longest known module prefix
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def package_of(module: str) -> str:
        return module if module in packages else module.rpartition(".")[0]

    module_graph: dict[str, set[str]] = {name: set() for name in modules}
    package_graph: dict[str, set[str]] = {name: set() for name in packages}
    for name, path in modules.items():
        own_ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for target in filter(None, map(owner, _imported(path, name, modules))):
            if target == name:
                continue
            ancestors = {".".join(target.split(".")[:i]) for i in range(1, target.count(".") + 1)}
            module_graph[name] |= {target, *(a for a in ancestors if a in modules and a not in own_ancestors)}
            source, dest = package_of(name), package_of(target)
            if not (dest.startswith(source + ".") or source.startswith(dest + ".") or source == dest):
                package_graph[source].add(dest)
    return module_graph, package_graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_no_import_cycle_among_modules():
    modules, _ = _graphs()
    assert _cycles(modules) == []


def test_no_import_cycle_among_packages():
    _, packages = _graphs()
    assert _cycles(packages) == []


def test_the_checker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
