"""girder_worker plugins on plugyard's app: found, loaded and contained.

Active only when girder-worker is installed. Importing ``girder_worker.app`` has three side
effects that plugyard contains (:func:`contain`):

- it creates girder_worker's own Celery app and makes it ``celery.current_app``: the current
  app is put back, and ``girder_worker.app.app`` becomes a :class:`GirderApp` over plugyard's
  app, so that ``from girder_worker.app import app`` and ``@app.task`` register on the app
  plugyard's worker runs;
- it calls every installed plugin's ``task_imports()``, so one broken plugin makes the import
  raise: that call is skipped, and plugyard loads each plugin on its own instead (a broken
  one is ``failed``, the others load);
- it connects girder_worker's Celery signal handlers for every task of the process: they are
  disconnected, and :mod:`._girder_signals` runs them again for girder_worker tasks only;
- it makes its jsonpickle serializer the decoder of every JSON message of the process:
  :mod:`._girder_io` keeps jsonpickle for the messages that need it, ``json`` for the rest.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
import threading
from typing import Any

__all__ = [
    "GIRDER_GROUP",
    "GirderApp",
    "contain",
    "installed",
    "is_girder_plugin",
]

logger = logging.getLogger("plugyard.adapters.celery.compat")

GIRDER_GROUP = "girder_worker_plugins"
"""girder_worker's entry-point group: ``name = module:PluginClass``."""

_lock = threading.Lock()
_facade: GirderApp | None = None


def installed() -> bool:
    """Whether girder-worker is importable (without importing it)."""
    try:
        return importlib.util.find_spec("girder_worker") is not None
    except (ImportError, ValueError):
        return False


def is_girder_plugin(obj: Any) -> bool:
    """Whether ``obj`` is a ``girder_worker.GirderWorkerPluginABC`` subclass (only possible
    once ``girder_worker`` is imported, which the class's own module does)."""
    gw = sys.modules.get("girder_worker")
    base = getattr(gw, "GirderWorkerPluginABC", None)
    return base is not None and inspect.isclass(obj) and issubclass(obj, base) and obj is not base


class GirderApp:
    """What ``girder_worker.app.app`` is inside plugyard: plugyard's shared app, whose
    ``task`` decorator gives tasks girder_worker's task base (with plugyard's cancellation
    and job manager on top). Every other attribute is the shared app's."""

    def __init__(self, app: Any, base: type) -> None:
        self._plugyard_app = app
        self._task_base = base

    def task(self, *args: Any, **opts: Any) -> Any:
        """``@app.task`` and ``@app.task(bind=True, ...)``, as girder_worker's app has them."""
        opts.setdefault("base", self._task_base)
        return self._plugyard_app.task(*args, **opts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plugyard_app, name)

    def __repr__(self) -> str:
        return f"<GirderApp over {self._plugyard_app!r}>"


def _import_girder_app() -> Any:
    """Import ``girder_worker.app`` without its plugin discovery and without letting its app
    become the current one."""
    from celery import _state  # type: ignore[import-untyped]

    module = sys.modules.get("girder_worker.app")
    if module is not None:
        return module
    entrypoint: Any = importlib.import_module("girder_worker.entrypoint")
    discover = entrypoint.discover_tasks
    current, default = _state._tls.current_app, _state.default_app

    def skip_discovery(app: Any) -> None:
        """plugyard loads each girder_worker plugin itself."""

    entrypoint.discover_tasks = skip_discovery
    try:
        return importlib.import_module("girder_worker.app")
    finally:
        entrypoint.discover_tasks = discover
        _state._tls.current_app, _state.default_app = current, default


def contain(app: Any) -> GirderApp:
    """Import ``girder_worker.app`` contained, and point it at plugyard's ``app``; returns the
    :class:`GirderApp` girder_worker plugins are constructed with. Idempotent."""
    global _facade
    with _lock:
        if _facade is not None and _facade._plugyard_app is app:
            return _facade
        module = _import_girder_app()
        from . import _girder_io, _girder_signals
        from ._girder_task import girder_task_base

        _girder_signals.install(module)
        _girder_io.install(module)
        _facade = GirderApp(app, girder_task_base())
        module.app = _facade
        app.set_current()
        logger.debug("girder_worker.app contained: its app is plugyard's %r", app)
        return _facade
