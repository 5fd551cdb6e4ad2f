"""Telling LUNA plugin files from others: they import LUNA's module names."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

__all__ = ["LUNA_TOP_LEVEL", "is_luna_plugin", "luna_imports"]

LUNA_TOP_LEVEL = frozenset({"crutches_on_wheels", "classes", "luna_plugins"})
"""The top-level module names LUNA plugin files import from."""


def _sources(path: Path) -> Iterable[Path]:
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path]


def luna_imports(path: Path) -> list[str]:
    """The LUNA modules that the plugin file (or package folder) ``path`` imports.

    The file is parsed, not imported; a file that does not parse imports nothing here (its
    import then fails with Python's own error).
    """
    found: list[str] = []
    for source in _sources(path):
        try:
            tree = ast.parse(source.read_bytes(), filename=str(source))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [n for n in names if n.partition(".")[0] in LUNA_TOP_LEVEL]
    return found


def is_luna_plugin(path: Path) -> bool:
    """Whether ``path`` is a LUNA plugin file (it imports LUNA's module names)."""
    return bool(luna_imports(path))
