"""The adapter object found through ``plugyard.adapters``: hooks only, light to import (Celery
loads only when a host configures it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Command, Host, PluginSpec

    from ._loader import TaskPluginHandle

__all__ = ["CeleryAdapter", "adapter"]


class CeleryAdapter:
    """Maps task plugins (the girder_worker model) onto plugyard's hooks; one adapter object
    serves every host, each with its own :class:`~plugyard.adapters.celery.CeleryService`."""

    name = "celery"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Configure the shared Celery app from ``[celery]`` and add the host's service."""
        from . import compat
        from ._core import configure
        from ._loader import TASKS_GROUP
        from ._service import CeleryService

        host.services.add(CeleryService(host, *configure(host.config, host.runtime_dir)))
        host.add_plugin_group(TASKS_GROUP, model="celery")
        if compat.installed():
            host.add_plugin_group(compat.GIRDER_GROUP, model="celery")

    @hookimpl
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> TaskPluginHandle | None:
        """Claim task plugins: ``plugyard.tasks`` entry points and ``TaskPlugin`` classes, and
        (with girder-worker installed) ``girder_worker_plugins`` entry points and
        ``GirderWorkerPluginABC`` classes."""
        from . import compat
        from ._loader import TASKS_GROUP, is_task_plugin, load_task_plugin
        from ._service import CeleryService

        service = CeleryService.find(host)
        if service is None:
            return None
        if spec.group not in (TASKS_GROUP, compat.GIRDER_GROUP) and not is_task_plugin(spec.load()):
            return None
        if spec.group == compat.GIRDER_GROUP or compat.is_girder_plugin(spec.load()):
            from plugyard.host import PluginLoadError

            try:
                facade = compat.contain(service.app)
            except Exception as exc:
                raise PluginLoadError(
                    f"task plugin {spec.name!r}: importing girder_worker.app failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            return load_task_plugin(facade, spec)
        return load_task_plugin(service.app, spec)

    @hookimpl
    def plugyard_unload(self, host: Host, name: str) -> None:
        """Take an unloaded task plugin's tasks out of the app, and its task modules out of
        ``sys.modules``, so that a reload registers them from the files again."""
        from ._loader import TaskPluginHandle, unload_task_plugin
        from ._service import CeleryService

        handle = host.registry.handle(name) if name in host.registry else None
        service = CeleryService.find(host)
        if isinstance(handle, TaskPluginHandle) and service is not None:
            unload_task_plugin(service.app, handle)

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        """Start the job-event relay and the embedded worker."""
        from ._service import CeleryService

        service = CeleryService.find(host)
        if service is not None:
            import asyncio

            await asyncio.to_thread(service.start)

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        """Stop the embedded worker and the relay."""
        from ._service import CeleryService

        service = CeleryService.find(host)
        if service is not None:
            import asyncio

            await asyncio.to_thread(service.stop)

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Command]:
        """``tasks.send``, ``tasks.status``, ``tasks.cancel`` and ``tasks.list``."""
        from ._commands import commands
        from ._service import CeleryService

        return commands(CeleryService.of(host))

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """``plugyard worker`` and ``plugyard tasks ...``."""
        from ._cli import tasks, worker

        cli.add_command(worker)
        cli.add_command(tasks)


adapter = CeleryAdapter()
"""The instance registered under the ``plugyard.adapters`` entry point ``celery``."""
