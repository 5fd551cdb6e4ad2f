"""Turning an operation mapping (``plugin.module.function``) into a function to call."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plugyard.sdk import did_you_mean

from ._model import PluginDecl

__all__ = ["IsolatedFunction", "MappingError", "did_you_mean", "resolve_operation"]

_path_lock = threading.Lock()


class MappingError(LookupError):
    """An operation mapping does not name an importable function (message says why)."""


class IsolatedFunction:
    """An operation of a plugin installed in a virtual environment of its own: named by
    module and function, imported only in that environment's process."""

    def __init__(self, module: str, qualname: str) -> None:
        self.__module__ = module
        self.__qualname__ = qualname

    def __repr__(self) -> str:
        return f"<operation {self.__module__}.{self.__qualname__} (own environment)>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self!r} runs only in its plugin's virtual environment")


def _add_source(source: Path | None) -> None:
    if source is None:
        return
    entry = str(source)
    with _path_lock:
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _submodules(package: str) -> list[str]:
    try:
        module = importlib.import_module(package)
    except Exception:
        return []
    paths = getattr(module, "__path__", None)
    return [info.name for info in pkgutil.iter_modules(paths)] if paths else []


def resolve_operation(
    mapping: str, plugins: dict[str, PluginDecl]
) -> tuple[str, Callable[..., Any]]:
    """``(plugin name, function)`` for ``plugin.module.function``; MappingError otherwise."""
    parts = mapping.split(".")
    if len(parts) < 2 or not all(parts):
        raise MappingError(f"operation {mapping!r} is not of the form plugin_name.module.function")
    plugin_name, rest, func_name = parts[0], parts[1:-1], parts[-1]
    decl = plugins.get(plugin_name)
    if decl is None:
        from ._plugins import installed_plugin

        decl = installed_plugin(plugin_name)
        if decl is not None:
            plugins[plugin_name] = decl
    if decl is None:
        declared = ", ".join(sorted(plugins)) or "none"
        raise MappingError(
            f"operation {mapping!r}: plugin {plugin_name!r} is not declared under 'plugins' "
            f"(declared: {declared})" + did_you_mean(plugin_name, plugins)
        )
    if not decl.package and not rest:
        raise MappingError(f"operation {mapping!r} is not of the form plugin_name.module.function")
    module_name = ".".join([decl.package, *rest]) if decl.package else ".".join(rest)
    if decl.isolated:
        # Importable only in the plugin's own virtual environment.
        return plugin_name, IsolatedFunction(module_name, func_name)
    _add_source(decl.source)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name) and rest:
            parent = ".".join([p for p in (decl.package, *rest[:-1]) if p])
            options = [
                ".".join([plugin_name, *rest[:-1], sub, func_name]) for sub in _submodules(parent)
            ]
            raise MappingError(
                f"operation {mapping!r} not found: no module {module_name!r}"
                + did_you_mean(mapping, options)
            ) from None
        raise MappingError(
            f"operation {mapping!r}: importing {module_name!r} failed: {exc}"
        ) from exc
    except Exception as exc:
        raise MappingError(
            f"operation {mapping!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [
            ".".join([plugin_name, *rest, name])
            for name, value in vars(module).items()
            if callable(value) and not name.startswith("_")
        ]
        raise MappingError(f"operation {mapping!r} not found" + did_you_mean(mapping, names))
    return plugin_name, func
