"""Data flows one way (text -> operations -> findings -> plan -> rendered or executed): the import
graph, read with ``ast`` from the sources (every ``import``, also inside functions and under
TYPE_CHECKING), must not point backwards.

- ``migspec.execute`` runs a plan file; it never imports the planner (``migspec.plan``): what both
  need (the plan's objects, its file format, the SQL a step runs) lives in ``migspec.planfile``.
- ``migspec.planfile`` sits below the planner: it never imports ``migspec.plan`` either.
- ``migspec.ops`` describes operations; it never imports the parser (``migspec.parse``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(package: str) -> list[tuple[str, int, str]]:
    """(file, line, imported module) for every import in ``package``'s files, relative ones
    resolved (``from ..plan import x`` counts as migspec.plan)."""
    found: list[tuple[str, int, str]] = []
    root = SRC / package.replace(".", "/")
    files = [root.with_suffix(".py")] if root.with_suffix(".py").exists() else sorted(root.rglob("*.py"))
    for path in files:
        mod = _module(path)
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(SRC)), node.lineno, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".")
                    base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # ``from migspec import plan`` imports the package migspec.plan.
                names = [f"{target}.{a.name}" for a in node.names]
                found += [(str(path.relative_to(SRC)), node.lineno, n) for n in [target, *names]]
    return found


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def backward(importer: str, forbidden: str) -> list[str]:
    return sorted({f"{f}:{line} imports {m}" for f, line, m in imports(importer) if _inside(m, forbidden)})


def test_the_walker_sees_imports() -> None:
    """The check can fail: the planner does import migspec.planfile, in every form it uses."""
    assert backward("migspec.plan", "migspec.planfile")
    assert backward("migspec.cli", "migspec.plan")


@pytest.mark.parametrize("importer", ["migspec.execute", "migspec.planfile"])
def test_executor_and_plan_file_never_import_the_planner(importer: str) -> None:
    assert backward(importer, "migspec.plan") == []


def test_ops_never_import_the_parser() -> None:
    assert backward("migspec.ops", "migspec.parse") == []
