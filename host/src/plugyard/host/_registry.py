"""The registry: one record per plugin of every model, and the handle that drives it."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from plugyard.sdk import PluginHandle

__all__ = [
    "TRANSITIONS",
    "InvalidTransition",
    "PluginRecord",
    "PluginState",
    "Registry",
    "state_event",
]


class PluginState(StrEnum):
    """Where a plugin is in its life. ``failed`` and ``disabled`` carry a reason in ``error``."""

    DISCOVERED = "discovered"
    LOADED = "loaded"
    STARTED = "started"
    STOPPED = "stopped"
    FAILED = "failed"
    DISABLED = "disabled"


TRANSITIONS: dict[PluginState, frozenset[PluginState]] = {
    PluginState.DISCOVERED: frozenset(
        {PluginState.LOADED, PluginState.FAILED, PluginState.DISABLED}
    ),
    PluginState.LOADED: frozenset({PluginState.STARTED, PluginState.STOPPED, PluginState.FAILED}),
    PluginState.STARTED: frozenset({PluginState.STOPPED, PluginState.FAILED}),
    PluginState.STOPPED: frozenset({PluginState.STARTED, PluginState.FAILED}),
    PluginState.FAILED: frozenset({PluginState.STARTED, PluginState.STOPPED}),
    PluginState.DISABLED: frozenset(),
}
"""The state changes a plugin may make; staying in a state (with a new reason) is allowed."""


def state_event(record: PluginRecord, previous: PluginState | None) -> tuple[str, dict[str, Any]]:
    """The topic and data of the event that announces a plugin's state change."""
    return f"plugin.{record.name}.{record.state}", {
        "name": record.name,
        "model": record.model,
        "state": str(record.state),
        "previous": str(previous) if previous is not None else None,
        "error": record.error,
    }


class InvalidTransition(RuntimeError):
    """A plugin was asked to change state in a way :data:`TRANSITIONS` does not allow."""


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
    target: str | None = None
    """What the plugin's source names (``pkg.mod:Class``, a file), when there is one."""

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
            "target": self.target,
        }


class Registry:
    """Every plugin's record, its handle, and a state-change event for each transition."""

    __slots__ = ("_handles", "_on_change", "_records")

    def __init__(self, on_change: Callable[[PluginRecord, PluginState | None], None]) -> None:
        self._records: dict[str, PluginRecord] = {}
        self._handles: dict[str, PluginHandle] = {}
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
        """Change fields of a record other than its state (``model``, ``hooks`` ...)."""
        if "state" in changes:
            raise TypeError(
                "a plugin's state changes through host.set_plugin_state(), not update()"
            )
        old = self.get(name)
        new = replace(old, **changes)
        self._records[name] = new
        return new

    def transition(self, name: str, state: PluginState, error: str | None = None) -> PluginRecord:
        """Move a plugin to ``state`` (with the reason, for failed and disabled), announced.

        A change :data:`TRANSITIONS` does not allow raises :class:`InvalidTransition`.
        """
        old = self.get(name)
        if state is not old.state and state not in TRANSITIONS[old.state]:
            raise InvalidTransition(
                f"plugin {name!r} cannot go from {old.state} to {state}"
                + (f" ({error})" if error else "")
            )
        new = replace(old, state=state, error=error)
        self._records[name] = new
        if new.state is not old.state:
            self._on_change(new, old.state)
        return new

    def set_state(self, name: str, state: PluginState, error: str | None = None) -> PluginRecord:
        """Deprecated: use ``host.set_plugin_state`` (the transition table applies)."""
        warnings.warn(
            "registry.set_state() is deprecated; use host.set_plugin_state()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.transition(name, state, error)

    def attach(self, name: str, handle: PluginHandle) -> None:
        """Remember the handle that drives ``name``."""
        self._handles[name] = handle

    def handle(self, name: str) -> PluginHandle | None:
        """The handle of ``name``, or ``None`` if it has none (failed, disabled, adapters)."""
        self.get(name)
        return self._handles.get(name)

    def remove(self, name: str) -> None:
        """Forget a plugin (its record and handle)."""
        self._records.pop(name, None)
        self._handles.pop(name, None)

    def clear(self) -> None:
        """Forget every plugin (a failed load is rolled back this way)."""
        self._records.clear()
        self._handles.clear()
