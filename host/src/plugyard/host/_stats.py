"""Per-plugin counters: calls, errors, timeouts, drops, restarts and time spent."""

from __future__ import annotations

from typing import Any

__all__ = ["PluginStats", "Stats"]


class PluginStats:
    """Counters for one plugin; cheap to update from the host's hot paths."""

    __slots__ = ("calls", "drops", "errors", "restarts", "time_spent", "timeouts")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.timeouts = 0
        self.drops = 0
        self.restarts = 0
        self.time_spent = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The counters as JSON-ready data (``time_spent`` in seconds)."""
        return {
            "calls": self.calls,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "drops": self.drops,
            "restarts": self.restarts,
            "time_spent": round(self.time_spent, 6),
        }


class Stats:
    """Counters for every plugin, created on first use."""

    __slots__ = ("_by_plugin",)

    def __init__(self) -> None:
        self._by_plugin: dict[str, PluginStats] = {}

    def __getitem__(self, plugin: str) -> PluginStats:
        found = self._by_plugin.get(plugin)
        if found is None:
            found = self._by_plugin[plugin] = PluginStats()
        return found

    def add(self, plugin: str, counter: str, amount: int | float = 1) -> None:
        """Add to one counter (``drops``, ``restarts``, ...) of one plugin."""
        stats = self[plugin]
        setattr(stats, counter, getattr(stats, counter) + amount)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every plugin's counters."""
        return {name: stats.to_dict() for name, stats in sorted(self._by_plugin.items())}
