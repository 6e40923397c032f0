"""The house's rules, checked from the source: imports point one way and never in a circle.

apps -> flows -> stage Protocols <- engines. `pipelines` outside `apps/` and `flows/` never imports `voices`
or `avatar` (those are engines and helpers the flows and apps call); nothing imports `pipelines.apps`.
Every import counts, including the lazy ones inside functions.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "voices", "avatar")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module of ours that `path` imports, resolved to full dotted names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports_of(path):
            while imported and imported not in modules:  # "pkg.mod.func" -> "pkg.mod"
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)  # a package's own __init__ seen from inside it is not an edge
        edges[name] = targets
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circles():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_spine_does_not_import_engines_packages():
    bad = []
    for module, targets in graph().items():
        if not module.startswith("pipelines") or module.startswith(("pipelines.apps", "pipelines.flows")):
            continue
        bad += [f"{module} imports {t}" for t in targets if t.split(".")[0] in ("voices", "avatar")]
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_apps_and_flows_do_not_import_apps():
    bad = [f"{m} imports {t}" for m, targets in graph().items() if not m.startswith("pipelines.apps")
           for t in targets if t.startswith("pipelines.apps")]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_circle_and_a_lazy_import():
    """The rules above must be able to fail: a circle is found, and imports inside functions are seen."""
    assert find_cycle({"a": {"b"}, "b": {"a"}, "c": set()}) in (["a", "b", "a"], ["b", "a", "b"])
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    cli = imports_of(ROOT / "pipelines" / "apps" / "cli.py")
    assert "voices.profiles" in cli  # imported lazily inside a command function
    assert "pipelines.text" in imports_of(ROOT / "pipelines" / "flows" / "conversation.py")
