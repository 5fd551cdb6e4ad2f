"""Driving plugins by name: start, stop and restart, whatever the model, bounded in time."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from plugyard.sdk import PluginHandle, StopPhase

from ._registry import PluginRecord, PluginState, Registry
from ._stats import Stats

__all__ = ["PluginControl"]

logger = logging.getLogger("plugyard.host")

SetState = Callable[[str, PluginState, "str | None"], PluginRecord]


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class PluginControl:
    """Starts and stops plugins through their handles, and remembers the start order."""

    def __init__(
        self,
        registry: Registry,
        stats: Stats,
        set_state: SetState,
        *,
        startup_timeout: float,
        shutdown_timeout: float,
    ) -> None:
        self.registry = registry
        self.stats = stats
        self.set_state = set_state
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.started: list[str] = []

    def start_order(self) -> list[str]:
        """Loaded plugins with a handle, by their handle's ``order`` (stable)."""
        handles = [
            (r.name, self.registry.handle(r.name))
            for r in self.registry
            if r.state is PluginState.LOADED
        ]
        return [name for name, h in sorted(handles, key=_order) if h is not None]

    async def start(self, name: str) -> PluginRecord:
        """Start one plugin; a failure is recorded on the plugin, never raised."""
        record = self.registry.get(name)
        handle = self.registry.handle(name)
        if handle is None:
            raise RuntimeError(
                f"plugin {name!r} cannot be started: it is {record.state}"
                + (f" ({record.error})" if record.error else "")
            )
        if record.state is PluginState.STARTED:
            return record
        try:
            async with asyncio.timeout(self.startup_timeout):
                await _maybe_await(handle.start())
        except Exception as exc:
            reason = (
                f"start did not finish within {self.startup_timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"start failed: {type(exc).__name__}: {exc}"
            )
            logger.error("plugin %r: %s", name, reason, exc_info=exc, extra={"plugin": name})
            self.stats[name].errors += 1
            await self._stop_quietly(name, handle)
            return self.set_state(name, PluginState.FAILED, reason)
        if name not in self.started:
            self.started.append(name)
        return self.set_state(name, PluginState.STARTED, None)

    async def stop(self, name: str) -> PluginRecord:
        """Stop one plugin; stopping a plugin that is not running does nothing."""
        record = self.registry.get(name)
        handle = self.registry.handle(name)
        if handle is None or record.state is not PluginState.STARTED:
            return record
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                await _maybe_await(handle.stop())
        except Exception as exc:
            reason = (
                f"stop did not finish within {self.shutdown_timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"stop failed: {type(exc).__name__}: {exc}"
            )
            logger.error("plugin %r: %s", name, reason, exc_info=exc, extra={"plugin": name})
            return self.set_state(name, PluginState.FAILED, reason)
        return self.set_state(name, PluginState.STOPPED, None)

    async def restart(self, name: str) -> PluginRecord:
        """Stop then start one plugin (a failed plugin that has a handle starts again)."""
        await self.stop(name)
        self.stats[name].restarts += 1
        return await self.start(name)

    async def remove(self, name: str) -> None:
        """Stop a plugin if it runs, then forget it (its record and handle)."""
        await self.stop(name)
        if name in self.started:
            self.started.remove(name)
        self.registry.remove(name)

    async def stop_phase(self, phase: StopPhase) -> None:
        """Stop, newest first, the started plugins that stop in ``phase``."""
        for name in reversed(self.started):
            handle = self.registry.handle(name) if name in self.registry else None
            if handle is not None and (
                phase is StopPhase.AFTER_SHUTDOWN or handle.stop_phase is phase
            ):
                await self.stop(name)
        if phase is StopPhase.AFTER_SHUTDOWN:
            self.started.clear()

    async def _stop_quietly(self, name: str, handle: PluginHandle) -> None:
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                await _maybe_await(handle.stop())
        except Exception:
            logger.debug("plugin %r: stop after a failed start also failed", name, exc_info=True)


def _order(item: tuple[str, PluginHandle | None]) -> int:
    handle = item[1]
    return int(handle.order) if handle is not None else 0
