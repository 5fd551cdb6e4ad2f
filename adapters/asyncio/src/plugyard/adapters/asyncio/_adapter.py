"""The adapter object the host loads from the ``plugyard.adapters`` entry point.

Light to import: Starlette, uvicorn and the engine are imported when a host configures it.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    from plugyard.host import Command, Host, PluginSpec

    from ._engine import Engine
    from ._plugins import PluginHandle

__all__ = ["AsyncioAdapter", "adapter"]


class AsyncioAdapter:
    """Maps event and background plugins (``plugyard.sdk.events``) onto the host's hooks.

    One adapter object may serve several hosts in a process; each host gets its own engine.
    Adds ``host.events``, ``host.emit``, ``host.emit_and_wait`` and ``host.asgi_app``.
    """

    name = "asyncio"

    def __init__(self) -> None:
        self._engines: weakref.WeakKeyDictionary[Any, Engine] = weakref.WeakKeyDictionary()

    def engine(self, host: Host) -> Engine:
        """The engine of ``host`` (``KeyError`` before ``plugyard_configure``)."""
        return self._engines[host]

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Read ``[asyncio]`` and ``[http]``, extend the host, load directory plugins."""
        from ._engine import Engine
        from ._settings import AsyncioSettings, HttpSettings

        settings = host.config.section("asyncio", AsyncioSettings)
        http = None
        if "http" in host.config.to_dict():
            http = host.config.section("http", HttpSettings)
        engine = Engine(host, settings, http)
        self._engines[host] = engine
        host.extend("events", engine.hub)
        host.extend("emit", engine.hub.emit)
        host.extend("emit_and_wait", engine.hub.emit_and_wait)
        host.extend("asgi_app", engine.asgi)
        engine.declare_configured()
        engine.load_directory_plugins()

    @hookimpl
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> PluginHandle | None:
        """Claim event and background plugin classes, or modules that define one."""
        engine = self._engines.get(host)
        if engine is None:
            return None
        return engine.load(spec)

    @hookimpl(trylast=True)
    async def plugyard_startup(self, host: Host) -> None:
        """Initialise every plugin, assemble the ASGI app and bind the HTTP server."""
        engine = self._engines.get(host)
        if engine is not None:
            await engine.startup()

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        """Stop the HTTP server and restore the loop."""
        engine = self._engines.get(host)
        if engine is not None:
            await engine.shutdown()

    @hookimpl
    def plugyard_commands(self, host: Host) -> Sequence[Command]:
        """``emit`` and ``events`` on the command plane."""
        from plugyard.host import Command, CommandError, Errno, Param

        engine = self._engines[host]

        async def emit(event: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
            try:
                result = await engine.hub.emit_and_wait(event, **(payload or {}))
            except (LookupError, TypeError, RuntimeError) as exc:
                raise CommandError(str(exc), Errno.MESSAGE_ERROR) from None
            return {
                "event_id": result.event_id,
                "outcomes": {
                    name: {"status": o.status, "error": o.error}
                    for name, o in result.outcomes.items()
                },
            }

        def events() -> dict[str, Any]:
            return {"events": engine.hub.describe()}

        return [
            Command(
                "emit",
                emit,
                "Emit a declared event and wait for its plugins",
                {"event": Param(str, required=True), "payload": Param(dict, default=None)},
            ),
            Command("events", events, "Declared event types, their plugins and queue depths"),
        ]


adapter = AsyncioAdapter()
"""The instance the ``plugyard.adapters`` entry point names."""
