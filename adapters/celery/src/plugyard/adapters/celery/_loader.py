"""Loading task plugins: construct the class with the app, import its task modules once."""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from plugyard.host import PluginLoadError, PluginSpec
from plugyard.sdk import HandleBase
from plugyard.sdk.tasks import TaskPlugin

from ._settings import normalize_conf

__all__ = ["TaskPluginHandle", "is_task_plugin", "load_task_plugin", "unload_task_plugin"]

logger = logging.getLogger("plugyard.adapters.celery")

TASKS_GROUP = "plugyard.tasks"


def is_task_plugin(obj: Any) -> bool:
    """Whether ``obj`` is a :class:`~plugyard.sdk.tasks.TaskPlugin` subclass, or (with
    girder-worker installed) a ``girder_worker.GirderWorkerPluginABC`` subclass."""
    if inspect.isclass(obj) and issubclass(obj, TaskPlugin) and obj is not TaskPlugin:
        return True
    from .compat import is_girder_plugin

    return is_girder_plugin(obj)


class TaskPluginHandle(HandleBase):
    """The host's handle on one task plugin (its tasks run in workers, not in the handle)."""

    model = "celery"

    def __init__(self, plugin: TaskPlugin, modules: list[str], tasks: list[str]) -> None:
        self.plugin = plugin
        self.modules = modules
        self.tasks = tasks

    def start(self) -> None:
        """Nothing to start: workers run the tasks."""

    def stop(self) -> None:
        """Nothing to stop."""

    def describe(self) -> Mapping[str, Any]:
        """The plugin's task modules and task names."""
        return {"modules": self.modules, "tasks": self.tasks}


def _failure(spec: PluginSpec, what: str, exc: BaseException) -> PluginLoadError:
    tb = "".join(traceback.format_exception(exc))
    return PluginLoadError(
        f"task plugin {spec.name!r}: {what} raised {type(exc).__name__}: {exc}\n{tb}"
    )


def load_task_plugin(app: Any, spec: PluginSpec) -> TaskPluginHandle:
    """Construct the plugin with ``app`` and import its task modules.

    A failure in ``__init__``, ``task_imports`` or an import raises
    :class:`~plugyard.host.PluginLoadError` with the traceback; the host records the plugin as
    failed and loads the others.
    """
    cls = spec.load()
    if not is_task_plugin(cls):
        raise PluginLoadError(
            f"task plugin {spec.name!r}: {spec.target!r} is {cls!r}, expected a subclass of "
            "plugyard.sdk.tasks.TaskPlugin or girder_worker.GirderWorkerPluginABC"
        )
    try:
        plugin = cls(app, **spec.options)
    except Exception as exc:
        raise _failure(spec, f"{cls.__qualname__}.__init__", exc) from exc
    normalize_conf(app)
    try:
        modules = plugin.task_imports()
        if not isinstance(modules, list | tuple) or not all(isinstance(m, str) for m in modules):
            raise TypeError(f"expected a list of module names, got {modules!r}")
    except Exception as exc:
        raise _failure(spec, f"{cls.__qualname__}.task_imports", exc) from exc
    for module in modules:
        if module in sys.modules:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise _failure(spec, f"importing task module {module!r}", exc) from exc
    include = list(app.conf.include or ())
    app.conf.include = [*include, *(m for m in modules if m not in include)]
    tasks = sorted(
        name for name, task in app.tasks.items() if getattr(task, "__module__", None) in modules
    )
    logger.info("task plugin %r: %d task(s) from %s", spec.name, len(tasks), ", ".join(modules))
    return TaskPluginHandle(plugin, list(modules), tasks)


def unload_task_plugin(app: Any, handle: TaskPluginHandle) -> None:
    """Unregister ``handle``'s tasks and forget its task modules (an unloaded plugin)."""
    for name in handle.tasks:
        if name in app.tasks:
            app.tasks.unregister(name)
    app.conf.include = [m for m in (app.conf.include or ()) if m not in handle.modules]
    for module in handle.modules:
        sys.modules.pop(module, None)
