"""The layers, enforced: sdk <- host <- adapters, no adapter leans on another or on the host's
private modules, examples use public names only, and no package has an import cycle."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "plugyard.host": ROOT / "host/src/plugyard/host",
    "plugyard.sdk": ROOT / "sdk/src/plugyard/sdk",
    "plugyard.demo": ROOT / "demo/src/plugyard/demo",
    "plugyard.console": ROOT / "console/src/plugyard/console",
    **{
        f"plugyard.adapters.{folder.name}": folder / "src/plugyard/adapters" / folder.name
        for folder in sorted((ROOT / "adapters").iterdir())
        if (folder / "src/plugyard/adapters" / folder.name).is_dir()
    },
}
HOST_OR_ADAPTER = re.compile(r"plugyard\.(host|adapters)(\.[\w.]+)?(:[\w.]+)?")


@dataclass(frozen=True)
class Import:
    """One import statement: what it imports, where, and whether only a type checker runs it."""

    module: str
    names: tuple[str, ...]
    file: Path
    line: int
    type_checking: bool
    top_level: bool


def module_name(package: str, folder: Path, file: Path) -> str:
    parts = list(file.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(file: Path, current: str) -> Iterator[Import]:
    """Every import in ``file``, relative ones resolved against module ``current``."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    is_package = file.name == "__init__.py"

    def walk(node: ast.AST, type_checking: bool, top: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from walk(child, True, top)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(alias.name, (), file, child.lineno, type_checking, top)
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(current, is_package, child.level, child.module)
                names = tuple(a.name for a in child.names)
                yield Import(target, names, file, child.lineno, type_checking, top)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, type_checking, False)
            else:
                yield from walk(child, type_checking, top and not isinstance(child, ast.ClassDef))

    yield from walk(tree, False, True)


def all_imports(package: str) -> Iterator[Import]:
    folder = SOURCES[package]
    for file in sorted(folder.rglob("*.py")):
        yield from imports_of(file, module_name(package, folder, file))


def _where(imp: Import) -> str:
    return f"{imp.file.relative_to(ROOT)}:{imp.line} imports {imp.module}"


def test_the_sdk_imports_neither_the_host_nor_adapters_not_even_by_name() -> None:
    bad = [_where(i) for i in all_imports("plugyard.sdk") if HOST_OR_ADAPTER.fullmatch(i.module)]
    for file in SOURCES["plugyard.sdk"].rglob("*.py"):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and HOST_OR_ADAPTER.fullmatch(node.value):
                bad.append(f"{file.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
    assert bad == []


def test_the_host_imports_no_adapter() -> None:
    bad = [
        _where(i) for i in all_imports("plugyard.host") if i.module.startswith("plugyard.adapters")
    ]
    assert bad == []


@pytest.mark.parametrize(
    "package",
    sorted(p for p in SOURCES if p.startswith("plugyard.adapters") or p == "plugyard.console"),
)
def test_an_adapter_imports_no_other_adapter_and_no_private_host_module(package: str) -> None:
    """The console is an adapter too: it reaches every model through the host alone."""
    bad = []
    for imp in all_imports(package):
        if imp.module.startswith("plugyard.adapters.") and not (
            imp.module == package or imp.module.startswith(package + ".")
        ):
            bad.append(_where(imp))
        if imp.module.startswith("plugyard.host") and any(
            part.startswith("_") for part in imp.module.split(".")[2:]
        ):
            bad.append(_where(imp))
    assert bad == []


def test_examples_import_public_names_only() -> None:
    bad = []
    for file in sorted((ROOT / "examples").rglob("*.py")):
        if ".venv" in file.parts:
            continue
        for imp in imports_of(file, "example"):
            if not imp.module.startswith("plugyard"):
                continue
            private = [p for p in imp.module.split(".") if p.startswith("_")]
            private += [n for n in imp.names if n.startswith("_")]
            if private:
                bad.append(f"{_where(imp)} ({', '.join(private)})")
    assert bad == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_no_package_has_an_import_cycle(package: str) -> None:
    """Module-level imports that run (not those only a type checker reads) form no cycle."""
    folder = SOURCES[package]
    modules = {module_name(package, folder, f) for f in folder.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for file in folder.rglob("*.py"):
        current = module_name(package, folder, file)
        edges = graph.setdefault(current, set())
        for imp in imports_of(file, current):
            if imp.type_checking or not imp.top_level:
                continue
            targets = [imp.module, *(f"{imp.module}.{n}" for n in imp.names)]
            edges.update(t for t in targets if t in modules and t != current)
    assert _cycle(graph) is None


def test_the_host_modules_never_import_the_facade() -> None:
    """The façade composes the host's modules; none of them imports it back, not even for
    type checking (they see the host through small protocols). The command line, which
    runs hosts, is a user of the façade, not a part of it."""
    folder = SOURCES["plugyard.host"]
    bad = []
    for file in sorted(folder.glob("_*.py")):
        if file.stem in ("_host", "__init__", "_cli"):
            continue
        for imp in imports_of(file, f"plugyard.host.{file.stem}"):
            if imp.module == "plugyard.host._host" or (
                imp.module == "plugyard.host" and "Host" in imp.names
            ):
                bad.append(_where(imp))
    assert bad == []


def test_the_host_facade_stays_small() -> None:
    lines = (SOURCES["plugyard.host"] / "_host.py").read_text(encoding="utf-8").count("\n")
    assert lines < 350
