"""The package's shape: no import cycles (run time or TYPE_CHECKING), modules of a
readable size, the CLI and ``import planner`` cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "planner"

#: The largest module the layout allows (issue: "each module well under 600 lines").
MAX_MODULE_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports anywhere (top level, functions,
    ``if TYPE_CHECKING:``); ``from pkg import sub`` counts as importing ``pkg.sub``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> nx.DiGraph:
    mods = modules()
    graph = nx.DiGraph()
    for name, path in mods.items():
        graph.add_node(name)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in imported(tree, name, path.name == "__init__.py", set(mods)):
            graph.add_edge(name, target)
    return graph


def test_the_graph_sees_imports():
    """The graph is not trivially acyclic: the pipeline imports the steps it wires."""
    graph = import_graph()
    assert {"planner.steps", "planner.plan", "planner.layers"} <= set(graph["planner.pipeline"])
    assert "planner.network.graph" in nx.descendants(graph, "planner.steps")


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c + c[:1]) for c in cycles)


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_readable(name):
    lines = modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines (at most {MAX_MODULE_LINES})"


def test_import_planner_loads_no_heavy_library():
    code = (
        "import sys, planner; "
        "print(sorted(m for m in ('geopandas', 'shapely', 'pandas', 'folium', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
