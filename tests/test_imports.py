"""The package's shape: no import cycle between its modules, and the answer's stages in order."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

from conftest import ROOT

PACKAGES = ("rag", "ui")


def module_name(path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imported_modules(tree: ast.Module, known: set[str]) -> set[str]:
    """The package modules a module imports when it runs: anywhere in it, at the top or in a
    function, but not under `if TYPE_CHECKING:` (read by type checkers only)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names
            )  # `from rag import owner`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found & known


def import_graph() -> dict[str, set[str]]:
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    known = {module_name(p) for p in paths if p.name != "__init__.py"}
    return {
        module_name(p): imported_modules(ast.parse(p.read_text()), known) - {module_name(p)}
        for p in paths
        if p.name != "__init__.py"
    }


def test_no_module_imports_itself_back():
    graph = import_graph()
    assert "rag.export" in graph["rag.answer"] and "rag.cli.common" in graph["rag.cli.ask"]
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_a_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError:
        return
    raise AssertionError("the cycle a -> b -> c -> a was not found")


def test_each_stage_imports_only_the_stages_before_it():
    """validate → condense → retrieve → decide → generate: a stage knows its predecessors'
    values, never a later stage's; the chain knows them all and nothing imports the chain
    but the API."""
    graph = import_graph()
    stages = ["rag.question", "rag.condense", "rag.retrieve", "rag.decide", "rag.generate"]
    for index, stage in enumerate(stages):
        later = set(stages[index + 1 :]) | {"rag.chain"}
        assert not graph[stage] & later, f"{stage} imports {graph[stage] & later}"
    assert {m for m, imports in graph.items() if "rag.chain" in imports} == {"rag.api"}
