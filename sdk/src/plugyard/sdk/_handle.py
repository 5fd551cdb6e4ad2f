"""The plugin handle: what an adapter gives the host so that it can drive one plugin."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = ["HandleBase", "PluginHandle", "StopPhase"]


class StopPhase(StrEnum):
    """When the host stops a plugin while it shuts down.

    ``plugins``: with the plugins of every model, before ``plugyard_shutdown`` runs.
    ``after-shutdown``: after ``plugyard_shutdown``, once the events still queued have been
    delivered (plain hook plugins, which observe the shutdown itself).
    """

    PLUGINS = "plugins"
    AFTER_SHUTDOWN = "after-shutdown"


@runtime_checkable
class PluginHandle(Protocol):
    """What an adapter returns from ``plugyard_load_plugin`` so the host can drive a plugin.

    ``start`` and ``stop`` may be plain or ``async``; the host bounds them with ``[host]
    startup_timeout`` and ``shutdown_timeout``. Subclass :class:`HandleBase` to get the
    defaults of every attribute but ``model``, ``start`` and ``stop``.

    Example::

        class Handle(HandleBase):
            model = "asyncio"
            async def start(self) -> None: await self.plugin.initialize()
            async def stop(self) -> None: await self.plugin.close()
    """

    @property
    def model(self) -> str:
        """The plugin model's name (``asyncio``, ``celery`` ...), shown by ``plugyard plugins``."""

    @property
    def order(self) -> int:
        """Start order among plugins: lower starts first and stops last (default 0)."""

    @property
    def hooks(self) -> tuple[str, ...]:
        """Names of the hooks this plugin implements, shown by ``plugyard plugins``."""

    @property
    def stop_phase(self) -> StopPhase:
        """When the host stops this plugin during shutdown (see :class:`StopPhase`)."""

    def start(self) -> Awaitable[None] | None:
        """Start the plugin; called at host start and by the ``start`` command."""

    def stop(self) -> Awaitable[None] | None:
        """Stop the plugin; called at host stop and by the ``stop`` command."""

    def describe(self) -> Mapping[str, Any]:
        """JSON-serialisable details for ``plugyard plugins`` and the ``status`` command."""


class HandleBase:
    """Defaults for a :class:`PluginHandle`: order 0, no hooks, stopped with the plugins,
    nothing to describe. Subclasses set ``model`` and implement ``start`` and ``stop``."""

    model: str = "unknown"
    order: int = 0
    hooks: tuple[str, ...] = ()
    stop_phase: StopPhase = StopPhase.PLUGINS

    def start(self) -> Awaitable[None] | None:
        """Start the plugin (nothing to do by default)."""
        return None

    def stop(self) -> Awaitable[None] | None:
        """Stop the plugin (nothing to do by default)."""
        return None

    def describe(self) -> Mapping[str, Any]:
        """No details by default."""
        return {}
