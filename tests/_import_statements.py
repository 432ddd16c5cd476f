"""Every import statement of a Python file, read with ast (function-level imports included), with
relative imports resolved: shared by the layering check and the portable collector's import graph."""

from __future__ import annotations

import ast
from pathlib import Path


def import_statements(path: Path, module_name: str) -> list[tuple[str, tuple[str, ...], int]]:
    """(absolute module, names imported from it (empty for 'import X'), line) per statement/alias.

    module_name is the file's dotted name ('triage.parsers.evtx.parser'; a package's __init__ is the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    found: list[tuple[str, tuple[str, ...], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module:
                found.append((module, tuple(alias.name for alias in node.names), node.lineno))
    return found
