"""AME's own modules (chalicelib and app.py) import one another without a cycle, lazy imports included.

A function-level import is still a dependency: a cycle through one is as hard to read as any other. Imports
under `if TYPE_CHECKING:` are left out (they never run).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """AME modules that `module` imports anywhere in its body (a `from package import name` that names a
    submodule counts as importing that submodule)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking_block(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    edges = set()
    for name in found:
        while name and name not in known:  # `import chalicelib.adapters.aws.x` -> the module that exists
            name = name.rpartition(".")[0]
        if name and name != module:
            edges.add(name)
    return edges


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]}
    known = set(paths)
    return {module: _imported(module, path, known) for module, path in paths.items()}


def test_the_graph_sees_the_imports_it_must_see():
    graph = import_graph()
    assert "chalicelib.entrypoints.api" in graph["app"]
    assert "chalicelib.domain" not in graph or graph["chalicelib.domain"] == set()
    # a function-level import counts: the composition root builds its adapters lazily
    assert "chalicelib.adapters.aws" in graph["chalicelib.bootstrap"]


def test_no_import_cycle_among_ames_modules():
    try:
        order = list(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as exc:
        pytest.fail("import cycle: " + " -> ".join(exc.args[1]))
    assert "app" in order
