"""The import graph of aecore and ui has no circles, counting imports inside functions too."""

from __future__ import annotations

import ast

from tests.browser_support import REPO


def import_graph(*packages: str) -> dict[str, set[str]]:
    """{module: the modules of `packages` it imports, at the top or inside a function}."""
    files = {}
    for package in packages:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {other for other in found if other in files and other != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import path that leads from a module back to itself, one per circle found by a depth-first walk."""
    found, done = [], set()

    def walk(module: str, path: list[str]) -> None:
        for other in sorted(graph[module]):
            if other in path:
                found.append(path[path.index(other) :] + [other])
            elif other not in done:
                walk(other, [*path, other])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    return found


def test_no_module_of_aecore_or_ui_imports_itself_in_a_circle():
    found = circles(import_graph("ui", "aecore"))
    assert not found, " ; ".join(" -> ".join(c) for c in found)


def test_relative_imports_are_not_used_so_the_scan_sees_every_import():
    relative = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for package in ("ui", "aecore")
        for path in (REPO / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level
    ]
    assert not relative, relative


def test_the_scan_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
