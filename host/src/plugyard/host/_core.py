"""The host's own plugin: built-in commands and the loader for plain hook implementations.

It sees the host through :class:`HostView`, the few members it needs, so that this module
and the host façade do not import each other.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import pluggy

from plugyard.sdk import PROJECT_NAME, Event, HandleBase, StopPhase, hookimpl

from ._bus import EventBus
from ._commands import Command, CommandError, CommandPlane, Errno, Param
from ._discovery import PluginLoadError, PluginSpec
from ._dispatch import hooks_of, register
from ._redact import redact_secrets
from ._registry import PluginRecord, PluginState, Registry
from ._stats import Stats

__all__ = ["CorePlugin", "HooksHandle", "HostView"]


class HostView(Protocol):
    """What the host's own plugin uses of the host."""

    @property
    def pm(self) -> pluggy.PluginManager: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def commands(self) -> CommandPlane: ...
    @property
    def bus(self) -> EventBus: ...
    @property
    def stats(self) -> Stats: ...
    @property
    def running(self) -> bool: ...
    @property
    def plugins(self) -> list[PluginRecord]: ...

    def start_plugin(self, name: str) -> Awaitable[PluginRecord]: ...
    def stop_plugin(self, name: str) -> Awaitable[PluginRecord]: ...
    def restart_plugin(self, name: str) -> Awaitable[PluginRecord]: ...
    def publish_event(self, topic: str, data: Mapping[str, Any], *, source: str) -> Event: ...
    def request_stop(self) -> None: ...


_IMPL_ATTR = f"{PROJECT_NAME}_impl"


def _has_hookimpls(obj: Any) -> bool:
    for attr in dir(obj):
        if attr.startswith("__"):
            continue
        try:
            if hasattr(getattr(obj, attr), _IMPL_ATTR):
                return True
        except Exception:
            continue
    return False


class HooksHandle(HandleBase):
    """A plugin made of plain hook implementations: started means registered with pluggy.

    It stops after ``plugyard_shutdown``, so that its implementations observe the shutdown.
    """

    model = "hooks"
    stop_phase = StopPhase.AFTER_SHUTDOWN

    def __init__(self, host: HostView, name: str, obj: Any) -> None:
        self.host, self.name, self.obj = host, name, obj
        self.hooks: tuple[str, ...] = ()

    def register(self) -> None:
        """Register the implementations now (loading does it, so startup hooks reach them)."""
        if self.host.pm.is_registered(self.obj):
            return
        problem = register(self.host.pm, self.name, self.obj)
        if problem is not None:
            raise PluginLoadError(problem)
        self.hooks = hooks_of(self.host.pm, self.obj)

    def start(self) -> None:
        """Register the implementations again after a stop (and its commands with them)."""
        if self.host.pm.is_registered(self.obj):
            return
        self.register()
        contribute = getattr(self.obj, "plugyard_commands", None)
        if self.host.running and callable(contribute):
            params = inspect.signature(contribute).parameters
            commands = contribute(host=self.host) if "host" in params else contribute()
            self.host.commands.contribute(self.name, commands)

    def stop(self) -> None:
        """Unregister the implementations and commands: the plugin no longer takes calls."""
        if self.host.pm.is_registered(self.obj):
            self.host.pm.unregister(self.obj)
        self.host.commands.remove_from(self.name)

    def describe(self) -> Mapping[str, Any]:
        """The hooks this plugin implements."""
        return {"hooks": list(self.hooks), "registered": self.host.pm.is_registered(self.obj)}


def _plugin_class_of(module: Any) -> Any | None:
    """The one class defined in ``module`` that carries hook implementations, if exactly one."""
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__ and _has_hookimpls(value)
    ]
    return found[0] if len(found) == 1 else None


def _instantiate(obj: Any, options: Mapping[str, Any], name: str) -> Any:
    if not inspect.isclass(obj):
        return obj
    try:
        inspect.signature(obj).bind(**options)
    except TypeError as exc:
        raise PluginLoadError(
            f"plugin {name!r}: {obj.__qualname__} does not take these options: {exc}"
        ) from None
    return obj(**options)


class CorePlugin:
    """Hook implementations of the host itself."""

    def __init__(self, host: HostView) -> None:
        self.host = host

    @hookimpl(trylast=True)
    def plugyard_load_plugin(self, host: HostView, spec: PluginSpec) -> HooksHandle | None:
        """Claim objects that carry plugyard hook implementations and register them."""
        obj = spec.load()
        if inspect.ismodule(obj) and not _has_hookimpls(obj):
            obj = _plugin_class_of(obj)
        if obj is None or not _has_hookimpls(obj):
            return None
        handle = HooksHandle(host, spec.name, _instantiate(obj, spec.options, spec.name))
        handle.register()
        return handle

    @hookimpl(tryfirst=True)
    def plugyard_commands(self, host: HostView) -> list[Command]:
        """The built-in commands."""
        name = {"name": Param(str, required=True, help="plugin name")}
        maybe_name = {"name": Param(str, help="plugin name (all plugins if omitted)")}
        return [
            Command("status", self.status, "State of one plugin, or of all", maybe_name),
            Command("list", self.list, "Names of every plugin"),
            Command("plugins", self.plugins, "Every plugin's record"),
            Command("start", self.start, "Start a plugin", name),
            Command("stop", self.stop, "Stop a plugin", name),
            Command("restart", self.restart, "Restart a plugin", name),
            Command(
                "publish",
                self.publish,
                "Publish an event on the host",
                {"topic": Param(str, required=True), "data": Param(dict, default=None)},
            ),
            Command("stats", self.stats, "Per-plugin counters", maybe_name),
            Command("snapshot", self.snapshot, "Every plugin's state and the last event seq"),
            Command("quit", self.quit, "Stop the host"),
        ]

    def _record(self, name: str) -> PluginRecord:
        try:
            return self.host.registry.get(name)
        except KeyError:
            raise CommandError(f"no plugin named {name!r}", Errno.MESSAGE_ERROR) from None

    def status(self, name: str | None = None) -> dict[str, Any]:
        """``{"status": state}`` for one plugin, ``{"statuses": {...}}`` for all."""
        if name is not None:
            record = self._record(name)
            handle = self.host.registry.handle(name)
            details = dict(handle.describe()) if handle is not None else {}
            return {
                "name": name,
                "status": str(record.state),
                "error": record.error,
                "details": redact_secrets(details),
            }
        return {"statuses": {r.name: str(r.state) for r in self.host.plugins}}

    def list(self) -> dict[str, Any]:
        """Every plugin's name."""
        return {"plugins": [r.name for r in self.host.plugins]}

    def plugins(self) -> dict[str, Any]:
        """Every plugin's record."""
        return {"plugins": [r.to_dict() for r in self.host.plugins]}

    async def _drive(self, name: str, action: str) -> dict[str, Any]:
        record = self._record(name)
        if record.model == "adapter" and action != "restart":
            raise CommandError(
                f"{name!r} is an adapter; adapters cannot be driven by {action}",
                Errno.COMMAND_ERROR,
            )
        drive = {
            "start": self.host.start_plugin,
            "stop": self.host.stop_plugin,
            "restart": self.host.restart_plugin,
        }[action]
        try:
            record = await drive(name)
        except RuntimeError as exc:
            raise CommandError(str(exc), Errno.COMMAND_ERROR) from None
        if record.state is PluginState.FAILED:
            raise CommandError(f"{action} {name!r}: {record.error}", Errno.COMMAND_ERROR)
        return {"name": name, "state": str(record.state)}

    async def start(self, name: str) -> dict[str, Any]:
        """Start a plugin by name."""
        return await self._drive(name, "start")

    async def stop(self, name: str) -> dict[str, Any]:
        """Stop a plugin by name."""
        return await self._drive(name, "stop")

    async def restart(self, name: str) -> dict[str, Any]:
        """Restart a plugin by name."""
        return await self._drive(name, "restart")

    def publish(self, topic: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Publish an event with ``data``."""
        from ._bus import check_topic

        try:
            check_topic(topic)
        except ValueError as exc:
            raise CommandError(f"publish: {exc}", Errno.MESSAGE_ERROR) from None
        event = self.host.publish_event(topic, data or {}, source="command")
        return {"event": event.to_dict()}

    def stats(self, name: str | None = None) -> dict[str, Any]:
        """Counters of one plugin, or of all."""
        if name is not None:
            self._record(name)
            return {"name": name, "info": self.host.stats[name].to_dict()}
        return {
            "infos": self.host.stats.to_dict(),
            "events": {
                "published": self.host.bus.last_seq,
                "pending": self.host.bus.pending,
                "dropped": self.host.bus.dropped,
            },
        }

    def snapshot(self) -> dict[str, Any]:
        """Every plugin's record plus the seq of the last event, for late subscribers."""
        return {"seq": self.host.bus.last_seq, "plugins": [r.to_dict() for r in self.host.plugins]}

    def quit(self) -> dict[str, Any]:
        """Ask the host to stop (the reply is sent first)."""
        self.host.request_stop()
        return {"stopping": True}
