"""The package's import layers: no circle between subpackages, no import from a lower stage to a higher one.

Every ``import`` of ``deeprank_like`` in the package is read with :mod:`ast` (module level and
inside functions, ``if TYPE_CHECKING:`` blocks included, absolute and relative), mapped to its
*unit* (the subpackage, or the top-level module such as ``errors``) and checked against
:data:`LAYERS` (low → high; units on one line form one layer). ``docs/dev/architecture.md`` shows
the same list with each unit's job.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "deeprank_like"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Layers, low → high. A unit may import units of its own layer (no circle) and of lower layers.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("resolve", "geometry"),
    ("domain", "structure"),
    ("graph",),
    ("features", "targets", "enm"),
    ("query",),
    ("grid", "storage"),
    ("processing",),
    ("data",),
    ("nn",),
    ("training",),
    ("pretrained", "quickstart", "cli", "testing", "examples"),
)
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
#: ``deeprank_like/__init__.py``: the public façade, above every layer (imports lazily); only
#: the applications (last layer) import names from it.
FACADE = PACKAGE
#: Façade names any layer may import: plain constants, no code of another unit.
FREE_NAMES = frozenset({"__version__"})
#: ``cli.py`` is the parser and plugin loader of ``cli_commands/``, whose modules register
#: themselves through ``cli.add_command``: one unit.
SAME_UNIT = {"cli_commands": "cli"}


def unit_of_file(path: Path) -> str:
    """``deeprank_like/graph/build.py`` → ``"graph"``; ``deeprank_like/errors.py`` → ``"errors"``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts == ("__init__",):
        return FACADE
    return SAME_UNIT.get(parts[0], parts[0])


def unit_of_module(dotted: str) -> str | None:
    """``deeprank_like.graph.build`` → ``"graph"``; ``deeprank_like`` → the façade; else None."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    return SAME_UNIT.get(parts[1], parts[1]) if len(parts) > 1 else FACADE


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported unit) for every import of the package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            if module == PACKAGE:  # ``from deeprank_like import graph`` names a unit
                targets = [
                    f"{PACKAGE}.{alias.name}"
                    for alias in node.names
                    if alias.name not in FREE_NAMES
                ]
            else:
                targets = [module]
        for target in targets:
            unit = unit_of_module(target)
            if unit is not None:
                if unit != FACADE and unit not in RANK and not (ROOT / unit).exists():
                    unit = FACADE  # ``from deeprank_like import process``: a façade name
                found.append((node.lineno, unit))
    return found


def package_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) → ``file:line`` of every such import (self-imports left out)."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in package_files():
        src = unit_of_file(path)
        for line, dst in imports_of(path):
            if dst != src:
                where = f"{path.relative_to(ROOT.parent)}:{line}"
                edges.setdefault((src, dst), []).append(where)
    return edges


def upward_imports(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    """One line per import of a higher layer (or of the façade) by a lower one."""
    out = []
    for (src, dst), where in sorted(edges.items()):
        if src == FACADE:
            continue
        if src not in RANK:
            out.extend(f"{w}: unit {src!r} is in no layer (add it to LAYERS)" for w in where)
            continue
        if dst == FACADE and RANK[src] == len(LAYERS) - 1:
            continue
        if dst == FACADE or dst not in RANK:
            out.extend(
                f"{w}: {src} imports the package façade / unknown unit {dst!r}" for w in where
            )
        elif RANK[dst] > RANK[src]:
            out.extend(
                f"{w}: {src} (layer {RANK[src]}) imports {dst} (layer {RANK[dst]})" for w in where
            )
    return out


def circles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        if FACADE not in (src, dst):
            graph.setdefault(src, set()).add(dst)
            graph.setdefault(dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def describe_circle(group: list[str], edges: dict[tuple[str, str], list[str]]) -> str:
    members = set(group)
    lines = [f"circle between {', '.join(group)}:"]
    for (src, dst), where in sorted(edges.items()):
        if src in members and dst in members:
            lines.extend(f"    {w}: {src} imports {dst}" for w in where)
    return "\n".join(lines)


def test_every_unit_has_a_layer() -> None:
    units = {unit_of_file(p) for p in package_files()} - {FACADE}
    assert sorted(units - set(RANK)) == []


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    bad = upward_imports(import_edges())
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_import_circle_between_subpackages() -> None:
    edges = import_edges()
    groups = circles(edges)
    assert not groups, "\n".join(describe_circle(g, edges) for g in groups)


# ---- the checker itself -------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_sees_relative_and_function_level_imports(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / PACKAGE
    _write(
        pkg,
        {
            "__init__.py": "",
            "graph/__init__.py": "from . import build\n",
            "graph/build.py": (
                "from ..query import base\n"
                "def f():\n"
                "    import deeprank_like.training.trainer\n"
                "    from deeprank_like import nn\n"
            ),
            "query/__init__.py": "",
            "query/base.py": "from ..graph.build import f\nfrom deeprank_like import __version__\n",
            "errors.py": "from deeprank_like import Query\n",
        },
    )
    monkeypatch.setitem(globals(), "ROOT", pkg)
    assert imports_of(pkg / "graph" / "build.py") == [(1, "query"), (3, "training"), (4, "nn")]
    edges = import_edges()
    bad = upward_imports(edges)
    assert [b.split(":")[0:2] for b in bad] == [
        ["deeprank_like/errors.py", "1"],
        ["deeprank_like/graph/build.py", "4"],
        ["deeprank_like/graph/build.py", "1"],
        ["deeprank_like/graph/build.py", "3"],
    ]
    assert circles(edges) == [["graph", "query"]]
    assert "deeprank_like/query/base.py:1: query imports graph" in describe_circle(
        ["graph", "query"], edges
    )


@pytest.mark.parametrize("unit", sorted(RANK))
def test_layers_are_listed_in_the_architecture_page(unit: str) -> None:
    page = ROOT.parent / "docs" / "dev" / "architecture.md"
    assert f"`{unit}`" in page.read_text(encoding="utf-8")
