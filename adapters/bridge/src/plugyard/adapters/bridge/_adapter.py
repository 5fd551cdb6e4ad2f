"""The bridge adapter's hooks. Light to import: Redis loads only when ``[events] bridge`` is set."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    from plugyard.host import Command, Host

    from ._bridge import BridgeService

__all__ = ["BridgeAdapter", "adapter"]


class BridgeAdapter:
    """Joins a host to a shared event stream when its ``[events]`` table names a bridge;
    without one it adds nothing to the host."""

    name = "bridge"

    def __init__(self) -> None:
        self._services: weakref.WeakKeyDictionary[Host, BridgeService] = weakref.WeakKeyDictionary()

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Read ``[events]``; add a :class:`~plugyard.adapters.bridge.BridgeService` if it
        names a bridge."""
        from ._settings import BridgeSettings

        settings = host.config.section("events", BridgeSettings)
        if settings.bridge is None:
            return
        from ._bridge import BridgeService

        service = BridgeService(host, settings)
        host.services.add(service)
        self._services[host] = service

    @hookimpl(tryfirst=True)
    async def plugyard_startup(self, host: Host) -> None:
        """Join the stream and start writing this host's events to it."""
        service = self._services.get(host)
        if service is not None:
            await service.start()

    @hookimpl
    def plugyard_started(self, host: Host) -> None:
        """Every plugin has started: relay the other hosts' events (those missed first)."""
        service = self._services.get(host)
        if service is not None:
            service.start_reading()

    @hookimpl(trylast=True)
    async def plugyard_shutdown(self, host: Host) -> None:
        """Send what is queued, then stop; events that could not be sent are counted."""
        service = self._services.get(host)
        if service is not None:
            await service.close(host.config.host.shutdown_timeout / 2)

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Command]:
        """``bridge``: the link's state and its counters."""
        service = self._services.get(host)
        if service is None:
            return []
        from plugyard.host import Command

        def describe() -> dict[str, Any]:
            return service.describe()

        return [Command("bridge", describe, "The event bridge's link, counters and losses")]


adapter = BridgeAdapter()
"""The instance the ``plugyard.adapters`` entry point names."""
