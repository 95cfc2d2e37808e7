"""The package's imports run one way: no module of ``src/ocpp_fast`` imports one that imports it.

A cycle is the sign of a piece on the wrong floor (DESIGN.md: transport -> aio ->
dispatch -> protocol -> codec -> ground floor). Imports under ``TYPE_CHECKING``
count too: a type needed from above is declared below (a ``typing.Protocol``).
Imports inside functions do not count: they are deliberate late bindings.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "ocpp_fast"


def module_name(path: Path) -> str:
    parts = ["ocpp_fast", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, known: set[str]) -> set[str]:
    """The package modules ``path`` imports at module level (``if`` blocks included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    body = list(tree.body)
    while body:
        node = body.pop()
        if isinstance(node, ast.If):
            body += node.body + node.orelse
        elif isinstance(node, ast.Try):
            body += node.body + node.orelse + node.finalbody
            for handler in node.handlers:
                body += handler.body
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    paths = [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]
    known = {module_name(p) for p in paths}
    return {module_name(p): top_level_imports(p, known) - {module_name(p)} for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue  # a package importing its own submodule is no cycle
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if state.get(start) is None and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_no_import_cycle_in_the_package() -> None:
    graph = import_graph()
    assert "ocpp_fast.aio" in graph and "ocpp_fast.dispatch" in graph["ocpp_fast.aio"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lower_floors_never_import_higher_ones() -> None:
    graph = import_graph()
    floors = ["ocpp_fast.transport", "ocpp_fast.aio", "ocpp_fast.dispatch", "ocpp_fast.protocol"]
    for index, floor in enumerate(floors):
        above = floors[:index]
        for module, imported in graph.items():
            if module == floor or module.startswith(floor + "."):
                bad = [m for m in imported if any(m == a or m.startswith(a + ".") for a in above)]
                assert not bad, f"{module} imports {bad} from above it"


def imports_anywhere(path: Path) -> set[str]:
    """Every module ``path`` imports, in functions too (absolute imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_nats_is_imported_only_by_the_cluster_package() -> None:
    """The cluster sits above the transport: nothing below it imports it or NATS, even late."""
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        imported = imports_anywhere(path)
        if not name.startswith("ocpp_fast.cluster"):
            assert not {m for m in imported if m == "nats" or m.startswith("nats.")}, name
        if name.startswith("ocpp_fast.transport"):
            assert not {m for m in imported if m.startswith("ocpp_fast.cluster")}, name
