"""The adapter object the host loads from the ``plugyard.adapters`` entry point: hooks only.

Light to import: Starlette, uvicorn and the service are imported when a host configures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    from plugyard.host import Command, Host, PluginSpec

    from ._plugins import AsyncioHandle

__all__ = ["AsyncioAdapter", "adapter"]


class AsyncioAdapter:
    """Maps event and background plugins (``plugyard.sdk.events``) onto the host's hooks.

    One adapter object serves every host in a process; each host gets its own
    :class:`~plugyard.adapters.asyncio.AsyncioService`.
    """

    name = "asyncio"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Read ``[asyncio]`` and ``[http]``, add the service, hand folder plugins over."""
        from ._service import AsyncioService
        from ._settings import AsyncioSettings, HttpSettings

        settings = host.config.section("asyncio", AsyncioSettings)
        http = None
        if "http" in host.config.to_dict():
            http = host.config.section("http", HttpSettings)
        service = AsyncioService(host, settings, http)
        host.services.add(service)
        service.declare_configured()
        service.load_directory_plugins()

    @hookimpl
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> AsyncioHandle | None:
        """Claim event and background plugin classes, or modules that define one."""
        from ._service import AsyncioService

        service = AsyncioService.find(host)
        return service.load(spec) if service is not None else None

    @hookimpl(trylast=True)
    async def plugyard_startup(self, host: Host) -> None:
        """Initialise every plugin, assemble the ASGI app and bind the HTTP server."""
        from ._service import AsyncioService

        service = AsyncioService.find(host)
        if service is not None:
            await service.startup()

    @hookimpl
    def plugyard_started(self, host: Host) -> None:
        """Every plugin has started: begin answering HTTP requests."""
        from ._service import AsyncioService

        service = AsyncioService.find(host)
        if service is not None:
            service.serve()

    @hookimpl
    def plugyard_unload(self, host: Host, name: str) -> None:
        """An unloaded plugin's routes leave the ASGI application, and its handle the model."""
        from ._service import AsyncioService

        service = AsyncioService.find(host)
        if service is not None:
            service.forget_plugin(name)

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        """Stop the HTTP server and restore the loop."""
        from ._service import AsyncioService

        service = AsyncioService.find(host)
        if service is not None:
            await service.shutdown()

    @hookimpl
    def plugyard_commands(self, host: Host) -> Sequence[Command]:
        """``events.emit`` and ``events.types`` on the command plane."""
        from ._commands import commands
        from ._service import AsyncioService

        return commands(AsyncioService.of(host))


adapter = AsyncioAdapter()
"""The instance the ``plugyard.adapters`` entry point names."""
