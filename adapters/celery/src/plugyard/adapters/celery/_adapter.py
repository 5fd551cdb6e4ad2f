"""The adapter object found through ``plugyard.adapters``: light to import (Celery loads only
when a host configures it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Command, Host, PluginSpec

    from ._core import CeleryRuntime
    from ._loader import TaskPluginHandle

__all__ = ["CeleryAdapter", "adapter"]


class CeleryAdapter:
    """Maps task plugins (the girder_worker model) onto plugyard's hooks."""

    name = "celery"

    def __init__(self) -> None:
        self.runtimes: dict[int, CeleryRuntime] = {}

    def runtime(self, host: Host) -> CeleryRuntime:
        """The adapter's state for ``host``."""
        return self.runtimes[id(host)]

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        from ._core import CeleryRuntime

        runtime = CeleryRuntime(host)
        self.runtimes[id(host)] = runtime
        host.add_plugin_group("plugyard.tasks", model="celery")
        from .compat import girder

        if girder.installed():
            host.add_plugin_group(girder.GIRDER_GROUP, model="celery")
        host.extend("tasks", runtime.service)

    @hookimpl
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> TaskPluginHandle | None:
        from ._loader import TASKS_GROUP, is_task_plugin, load_task_plugin
        from .compat import girder

        runtime = self.runtimes.get(id(host))
        if runtime is None:
            return None
        if spec.group not in (TASKS_GROUP, girder.GIRDER_GROUP) and not is_task_plugin(spec.load()):
            return None
        if spec.group == girder.GIRDER_GROUP or girder.is_girder_plugin(spec.load()):
            from plugyard.host import PluginLoadError

            try:
                facade = girder.contain(runtime.app)
            except Exception as exc:
                raise PluginLoadError(
                    f"task plugin {spec.name!r}: importing girder_worker.app failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            return load_task_plugin(facade, spec)
        return load_task_plugin(runtime.app, spec)

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        import asyncio

        runtime = self.runtimes.get(id(host))
        if runtime is not None:
            await asyncio.to_thread(runtime.start)

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        import asyncio

        runtime = self.runtimes.pop(id(host), None)
        if runtime is not None:
            await asyncio.to_thread(runtime.stop)

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Command]:
        runtime = self.runtimes.get(id(host))
        return runtime.commands() if runtime is not None else []

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        from ._cli import tasks, worker

        cli.add_command(worker)
        cli.add_command(tasks)

    def __repr__(self) -> str:
        return f"<CeleryAdapter {len(self.runtimes)} host(s)>"


adapter: Any = CeleryAdapter()
"""The instance registered under the ``plugyard.adapters`` entry point ``celery``."""
