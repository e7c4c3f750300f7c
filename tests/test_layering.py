"""No import cycle among the modules of finerouter/ and serve_app/ (the layers themselves: `make lint`, import-linter).

Only imports that run when a module is imported count: those at module level. An import inside a function (an
optional heavy dependency loaded on first use) or under `if TYPE_CHECKING:` (grimp leaves these out) makes no cycle.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import grimp

PACKAGES = ("finerouter", "serve_app")
REPO = Path(__file__).resolve().parents[1]


@cache
def function_local_lines(module_file: Path) -> frozenset[int]:
    """Line numbers of the import statements inside a function or lambda of `module_file`."""
    lines = set()
    for node in ast.walk(ast.parse(module_file.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    lines.add(inner.lineno)
    return frozenset(lines)


def module_file(module: str) -> Path:
    path = REPO / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def module_level_imports() -> dict[str, set[str]]:
    """importer -> the project modules it imports at module level."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for importer in graph.modules:
        local = function_local_lines(module_file(importer))
        for imported in graph.find_modules_directly_imported_by(importer):
            details = graph.get_import_details(importer=importer, imported=imported)
            if any(d["line_number"] not in local for d in details):
                edges[importer].add(imported)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    edges = module_level_imports()
    found = cycles(edges)
    assert not found, "import cycles (module-level imports):\n" + "\n".join(
        f"  {' <-> '.join(c)}: " + "; ".join(f"{a} -> {b}" for a in c for b in sorted(edges[a]) if b in c)
        for c in found
    )


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
