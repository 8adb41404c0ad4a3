"""No import cycles between the project's modules (orchestrator, rooms, mixer), and the planes'
direction: the media plane (mixer) imports neither the edge (rooms) nor the control plane
(orchestrator), and the edge does not import the control plane.

Every module's imports are read with ``ast`` (top-level and inside functions alike: a lazy
import only hides a cycle), then the import graph is searched for a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchestrator", "rooms", "mixer")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the project modules it imports (``from a import b`` counts ``a.b`` if it is a module)."""
    files = {_module_name(p, root): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                while target and target not in files:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (iterative DFS with colours)."""
    colour = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 done
    for start in sorted(graph):
        if colour[start]:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        colour[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if colour[nxt] == 1:
                return [*path[path.index(nxt) :], nxt]
            if colour[nxt] == 0:
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph[nxt])))
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_lazy_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "orchestrator"
    pkg.mkdir()
    (tmp_path / "rooms").mkdir()
    (tmp_path / "mixer").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from orchestrator import b\n")
    (pkg / "b.py").write_text("def f():\n    from orchestrator.a import x\n")
    assert find_cycle(import_graph(tmp_path)) == ["orchestrator.a", "orchestrator.b", "orchestrator.a"]


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["orchestrator.app"], "the walk found the project's modules"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


# package -> the project packages it must not import (lazily included).
FORBIDDEN = {"mixer": ("rooms", "orchestrator"), "rooms": ("orchestrator",)}


def plane_violations(graph: dict[str, set[str]]) -> list[str]:
    """``"a -> b"`` for every import from a package into one it must not import."""
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], ())
    )


def test_the_checker_finds_a_plane_violation() -> None:
    graph = {"mixer.a": {"rooms.b", "mixer.c"}, "rooms.b": {"mixer.c"}, "mixer.c": set(), "rooms.d": {"orchestrator.e"}}
    assert plane_violations(graph) == ["mixer.a -> rooms.b", "rooms.d -> orchestrator.e"]


def test_the_planes_import_in_one_direction() -> None:
    assert plane_violations(import_graph()) == []
