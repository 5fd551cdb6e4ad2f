"""The registry: one record per plugin of every model, and the handle that drives it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = ["PluginHandle", "PluginRecord", "PluginState", "Registry"]


class PluginState(StrEnum):
    """Where a plugin is in its life. ``failed`` and ``disabled`` carry a reason in ``error``."""

    DISCOVERED = "discovered"
    LOADED = "loaded"
    STARTED = "started"
    STOPPED = "stopped"
    FAILED = "failed"
    DISABLED = "disabled"


@runtime_checkable
class PluginHandle(Protocol):
    """What an adapter returns from ``plugyard_load_plugin`` so the host can drive a plugin.

    ``start`` and ``stop`` may be plain or ``async``; the host applies its timeouts. A handle
    may also carry ``order`` (an int, default 0): lower starts first and stops last.

    Example::

        class Handle:
            model = "asyncio"
            async def start(self) -> None: await self.plugin.initialize()
            async def stop(self) -> None: await self.plugin.close()
            def describe(self) -> dict[str, Any]: return {"event": self.plugin.event_name}
    """

    model: str

    def start(self) -> Awaitable[None] | None:
        """Start the plugin; called at host start and by the ``start`` command."""

    def stop(self) -> Awaitable[None] | None:
        """Stop the plugin; called at host stop and by the ``stop`` command."""

    def describe(self) -> Mapping[str, Any]:
        """JSON-serialisable details for ``plugyard plugins`` and the ``status`` command."""


@dataclass(frozen=True, slots=True)
class PluginRecord:
    """What the host knows of one plugin, whatever its model."""

    name: str
    model: str
    source: str
    version: str | None
    state: PluginState
    error: str | None = None
    distribution: str | None = None
    hooks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {
            "name": self.name,
            "model": self.model,
            "source": self.source,
            "distribution": self.distribution,
            "version": self.version,
            "state": str(self.state),
            "error": self.error,
            "hooks": list(self.hooks),
        }


class Registry:
    """Every plugin's record, its handle, and a state-change event for each transition."""

    __slots__ = ("_handles", "_on_change", "_records")

    def __init__(self, on_change: Callable[[PluginRecord, PluginState | None], None]) -> None:
        self._records: dict[str, PluginRecord] = {}
        self._handles: dict[str, Any] = {}
        self._on_change = on_change

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def __iter__(self) -> Iterator[PluginRecord]:
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: PluginRecord) -> PluginRecord:
        """Add a record; a name already present is a ``ValueError`` naming both sources."""
        if record.name in self._records:
            other = self._records[record.name]
            raise ValueError(
                f"plugin name {record.name!r} from {record.source} is already taken by "
                f"{other.source}"
            )
        self._records[record.name] = record
        self._on_change(record, None)
        return record

    def get(self, name: str) -> PluginRecord:
        """The record for ``name``; ``KeyError`` naming it if there is none."""
        try:
            return self._records[name]
        except KeyError:
            raise KeyError(f"no plugin named {name!r}") from None

    def update(self, name: str, **changes: Any) -> PluginRecord:
        """Change fields of a record; a state change is announced."""
        old = self.get(name)
        if "state" in changes and changes["state"] is not old.state and "error" not in changes:
            changes["error"] = None
        new = replace(old, **changes)
        self._records[name] = new
        if new.state is not old.state:
            self._on_change(new, old.state)
        return new

    def set_state(self, name: str, state: PluginState, error: str | None = None) -> PluginRecord:
        """Move a plugin to ``state`` (with the reason, for failed and disabled)."""
        return self.update(name, state=state, error=error)

    def attach(self, name: str, handle: Any) -> None:
        """Remember the handle that drives ``name``."""
        self._handles[name] = handle

    def handle(self, name: str) -> Any | None:
        """The handle of ``name``, or ``None`` if it has none (failed, disabled, adapters)."""
        self.get(name)
        return self._handles.get(name)

    def remove(self, name: str) -> None:
        """Forget a plugin (its record and handle)."""
        self._records.pop(name, None)
        self._handles.pop(name, None)
