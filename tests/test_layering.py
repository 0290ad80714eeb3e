"""The package's import structure: declared layers, no cycles, every function-local import explained.

The layers are declared once, in pyproject.toml's ``[tool.importlinter]`` contract (highest
first); import-linter reads function-local and type-checking imports too, so a cycle cannot hide
inside a function.
"""

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_runs_down_the_declared_layers():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_no_two_modules_import_each_other_even_through_others():
    graph = grimp.build_graph("pipeline")
    imports = nx.DiGraph(
        (module, imported) for module in graph.modules for imported in graph.find_modules_directly_imported_by(module)
    )
    cycles = [sorted(c) for c in nx.strongly_connected_components(imports) if len(c) > 1]
    assert cycles == []


def _local_imports(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every import inside a function of ``path`` with no reason beside it: a
    comment on its line, or on the comment line just above a run of imports it belongs to."""
    lines = path.read_text().splitlines()
    found = []
    for fn in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            row = node.lineno - 1
            while row > 0 and lines[row - 1].strip().startswith(("import ", "from ")):
                row -= 1  # the first import of the run this one belongs to
            explained = "#" in lines[node.lineno - 1] or "#" in lines[row] or lines[row - 1].strip().startswith("#")
            if not explained:
                found.append((node.lineno, lines[node.lineno - 1].strip()))
    return found


def test_every_function_local_import_says_why_it_is_there():
    """A function-local import keeps something heavy (torch, numba, plotting) out of a light
    process, or breaks no cycle: the layering above forbids the cycle it would hide."""
    unexplained = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in sorted((ROOT / "pipeline").rglob("*.py"))
        for line, text in _local_imports(path)
    ]
    assert unexplained == []
