"""The import hook that supplies LUNA's module names to plugin files, only while active.

It sits at the end of ``sys.meta_path``, so an installed package of the same name wins. Each
host that finds LUNA plugin files activates it and deactivates it at shutdown; once no host
uses it, the hook and the modules it made are gone and ``import crutches_on_wheels`` fails
again.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence

__all__ = ["LUNA_MODULES", "LunaFinder", "activate", "active", "deactivate"]

_HERE = __name__.rpartition(".")[0]

_PLUGINS = ("._plugins", ("BaseEventPlugin", "BaseBackgroundPlugin", "BasePlugin"))
_APPLICATION = ("._application", ("LunaApplication",))
_HANDLERS = ("._handlers", ("BaseHandler",))
_LOG = ("._log", ("Logger",))
_POINTS = (
    "._points",
    ("BaseMonitoringPoint", "BaseRequestMonitoringPoint", "RequestMonitoringPoint"),
)

LUNA_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "classes.event": ("._events", ("Event",)),
    "classes.schemas.event_raw": ("._events", ("RawEvent",)),
    "luna_plugins.base.plugins_meta.base_plugins": _PLUGINS,
}
"""Each LUNA module name supplied: the implementing module here and the names it gives."""

for _prefix in ("crutches_on_wheels", "crutches_on_wheels.cow"):
    LUNA_MODULES.update(
        {
            f"{_prefix}.plugins.plugins_meta.base_plugins": _PLUGINS,
            f"{_prefix}.web.application": _APPLICATION,
            f"{_prefix}.web.handlers": _HANDLERS,
            f"{_prefix}.utils.log": _LOG,
            f"{_prefix}.monitoring.points": _POINTS,
        }
    )

_PACKAGES = frozenset(
    name.rsplit(".", depth)[0] for name in LUNA_MODULES for depth in range(1, name.count(".") + 1)
)


class LunaFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads LUNA's module names (packages empty, modules re-exporting names)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in LUNA_MODULES:
            return importlib.machinery.ModuleSpec(fullname, self, origin="plugyard (LUNA)")
        if fullname in _PACKAGES:
            return importlib.machinery.ModuleSpec(
                fullname, self, origin="plugyard (LUNA)", is_package=True
            )
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        entry = LUNA_MODULES.get(module.__name__)
        if entry is None:
            module.__doc__ = f"LUNA's package {module.__name__}, as plugyard supplies it."
            return
        source, names = entry
        implementation = importlib.import_module(source, _HERE)
        module.__doc__ = f"LUNA's {module.__name__}, as plugyard supplies it."
        for name in names:
            setattr(module, name, getattr(implementation, name))
        module.__all__ = list(names)  # type: ignore[attr-defined]


_finder = LunaFinder()
_lock = threading.Lock()
_users = 0


def activate() -> None:
    """Supply LUNA's module names (one more user)."""
    global _users
    with _lock:
        _users += 1
        if _finder not in sys.meta_path:
            sys.meta_path.append(_finder)


def deactivate() -> None:
    """One user fewer; with none left, remove the hook and the modules it made."""
    global _users
    with _lock:
        _users = max(0, _users - 1)
        if _users:
            return
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        for name, module in list(sys.modules.items()):
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is _finder:
                del sys.modules[name]
        importlib.invalidate_caches()


def active() -> bool:
    """Whether the hook is installed."""
    return _finder in sys.meta_path
