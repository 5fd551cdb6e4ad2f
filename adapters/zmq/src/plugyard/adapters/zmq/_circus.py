"""Circus compatibility: ``watcher.*`` events for plugin state changes, and circus reply shapes.

Circus plugins subscribe to the prefix ``watcher.`` and expect ``list``, ``status``, ``stats``
and friends to answer with circus's keys. docs/protocol.md lists what maps and what does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugyard.sdk import Event

if TYPE_CHECKING:
    from plugyard.host import Host

__all__ = ["circus_events", "circus_reply", "circus_request", "watcher_name"]

_PLUGIN_ACTIONS = {"started": "start", "stopped": "stop", "discovered": "add", "failed": "stop"}
_PROCESS_ACTIONS = {"spawned": "spawn", "exited": "reap"}
_STATUS = {"started": "active", "stopped": "stopped", "failed": "stopped", "loaded": "stopped"}


def watcher_name(name: str) -> str:
    """A plugin name as circus writes a watcher name in topics: lower case, spaces as ``_``."""
    return name.lower().replace(" ", "_")


def circus_events(event: Event) -> list[tuple[str, dict[str, Any]]]:
    """The ``watcher.<name>.<action>`` events circus would publish for a plugyard event."""
    parts = event.topic.split(".")
    if len(parts) != 3:
        return []
    kind, name, state = parts
    if kind == "plugin":
        action = _PLUGIN_ACTIONS.get(state)
        if action is None or event.data.get("model") in ("adapter", "watcher"):
            return []
        return [(f"watcher.{watcher_name(name)}.{action}", {"time": event.time})]
    if kind == "process":
        action = _PROCESS_ACTIONS.get(state)
        if action is None:
            return []
        body: dict[str, Any] = {"process_pid": event.data.get("pid"), "time": event.time}
        if action == "reap":
            body["exit_code"] = event.data.get("exit_code")
        return [(f"watcher.{watcher_name(name)}.{action}", body)]
    return []


def circus_request(host: Host, command: str, props: dict[str, Any]) -> dict[str, Any] | None:
    """Answer circus-only request shapes the host has no command for; ``None`` otherwise.

    ``list`` with a ``name`` gives circus's ``{"pids": [...]}``.
    """
    if command == "list" and "name" in props:
        name = props["name"]
        if not isinstance(name, str):
            return None
        processes = host.processes
        try:
            pid = processes.get(name).pid
        except KeyError:
            pid = None
        return {"pids": [pid] if pid is not None else []}
    return None


def circus_reply(
    host: Host, command: str, props: dict[str, Any], reply: dict[str, Any], compat: bool
) -> dict[str, Any]:
    """Add circus's keys to a reply: ``list`` gains ``watchers``; with ``circus_compat``,
    ``status`` speaks circus's words (``active`` for a started plugin)."""
    if command == "list" and "plugins" in reply and "watchers" not in reply:
        reply["watchers"] = [r.name for r in host.plugins if r.model != "adapter"]
    if compat and command == "status":
        if isinstance(reply.get("status"), str):
            reply["status"] = _STATUS.get(reply["status"], reply["status"])
        statuses = reply.get("statuses")
        if isinstance(statuses, dict):
            reply["statuses"] = {k: _STATUS.get(v, v) for k, v in statuses.items()}
    return reply
