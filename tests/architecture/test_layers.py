"""The library imports only downward: the allowed package graph is the table in docs/architecture.md.

Every ``import`` under ``src/lmforge`` (top-level or inside a function; ``TYPE_CHECKING`` blocks too) is
parsed, mapped to the package it lands in, and checked against that table; then no two packages and no two
modules may import each other, directly or through others. A failure names the file and line of the import.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "lmforge"
DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def allowed_graph() -> dict[str, set[str]]:
    """``| `package` | `dep`, `dep` |`` rows of the doc's "may import" table; ``—`` means nothing."""
    graph: dict[str, set[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\|\s*`([a-z_]+)`\s*\|(.*)\|\s*", line)
        if match:
            graph[match[1]] = set(re.findall(r"`([a-z_]+)`", match[2]))
    return graph


def unit(module: str) -> str:
    """``lmforge.models.blocks.attention`` -> ``models``; ``lmforge.io`` -> ``io``."""
    return module.split(".")[1]


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(name: str, src: Path) -> str | None:
    """The module a dotted name refers to (a submodule, else its package), or None if outside ``src``."""
    parts = name.split(".")
    if parts[0] != src.name:
        return None
    while parts:
        path = src.parent.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts)
        parts = parts[:-1]
    return None


def imports(src: Path = SRC) -> list[tuple[str, str, str]]:
    """(importing module, imported module, "file:line") for every import of the package ``src`` inside it."""
    found = []
    for path in sorted(src.rglob("*.py")):
        here = module_name(path, src)
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` imports the submodule pkg.sub when there is one
                names = [f"{base}.{a.name}" if resolve(f"{base}.{a.name}", src) == f"{base}.{a.name}" else base
                         for a in node.names]
            for name in names:
                target = resolve(name, src)
                if target is not None and target != here:
                    found.append((here, target, f"{path.relative_to(src.parents[1])}:{node.lineno}"))
    return found


def cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def _explain(component: list[str], edges: dict[str, dict[str, str]]) -> str:
    members = set(component)
    closing = [f"{a} -> {b} ({where})" for a in component for b, where in edges.get(a, {}).items() if b in members]
    return " <-> ".join(component) + ":\n    " + "\n    ".join(closing)


def test_every_package_and_top_level_module_is_in_the_table():
    graph = allowed_graph()
    units = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    units |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert units - set(graph) == set(), "add these to the table in docs/architecture.md"
    assert set(graph) - units == set(), "the table names packages that do not exist"
    unknown = {dep for deps in graph.values() for dep in deps} - units
    assert unknown == set(), f"the table allows imports of unknown packages: {unknown}"


def test_imports_follow_the_allowed_graph():
    graph = allowed_graph()
    wrong = [f"{where}: {unit(a)} may not import {unit(b)} ({b})"
             for a, b, where in imports() if unit(a) != unit(b) and unit(b) not in graph.get(unit(a), set())]
    assert wrong == [], "imports the graph in docs/architecture.md does not allow:\n" + "\n".join(wrong)


def test_the_allowed_graph_itself_has_no_cycle():
    graph = allowed_graph()
    found = cycles({a: dict.fromkeys(deps, "table") for a, deps in graph.items()})
    assert found == [], f"docs/architecture.md allows circles: {found}"


def test_no_package_or_module_imports_itself_back():
    module_edges: dict[str, dict[str, str]] = defaultdict(dict)
    package_edges: dict[str, dict[str, str]] = defaultdict(dict)
    for a, b, where in imports():
        module_edges[a].setdefault(b, where)
        if unit(a) != unit(b):
            package_edges[unit(a)].setdefault(unit(b), where)
    found = [_explain(c, package_edges) for c in cycles(package_edges)]
    found += [_explain(c, module_edges) for c in cycles(module_edges)]
    assert found == [], "import circles:\n" + "\n".join(found)


def test_the_checker_sees_every_kind_of_import_and_finds_circles(tmp_path):
    """Guards the guard: relative, function-level and ``from pkg import submodule`` imports all count."""
    pkg = tmp_path / "src" / "lmforge"
    files = {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/a.py": "from . import b\n",                      # relative, names a submodule
        "low/b.py": "def f():\n    from lmforge.high.c import g\n",  # inside a function
        "high/__init__.py": "",
        "high/c.py": "import lmforge.low.a\ndef g():\n    pass\n",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    found = {(a, b) for a, b, _ in imports(pkg)}
    assert found == {("lmforge.low.a", "lmforge.low.b"), ("lmforge.low.b", "lmforge.high.c"),
                     ("lmforge.high.c", "lmforge.low.a")}
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for a, b in found:
        edges[a][b] = "here"
    assert cycles(edges) == [["lmforge.high.c", "lmforge.low.a", "lmforge.low.b"]]
