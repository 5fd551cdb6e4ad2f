"""The host's own plugin: built-in commands and the loader for plain hook implementations."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from plugyard.sdk import PROJECT_NAME, hookimpl

from ._commands import Command, CommandError, Errno, Param
from ._discovery import PluginLoadError, PluginSpec, SourceKind
from ._registry import PluginState

if TYPE_CHECKING:
    from ._host import Host

__all__ = ["CorePlugin", "HooksHandle", "sdk_conflict"]

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


def _installed_sdk() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("plugyard-sdk")
    except PackageNotFoundError:
        return None


def _requires_of(spec: PluginSpec) -> tuple[tuple[str, ...], str | None, str | None]:
    if spec.kind is SourceKind.ENTRY_POINT:
        return spec.requires, spec.distribution, spec.version
    if spec.kind is not SourceKind.CONFIG:
        return (), None, None
    from importlib.metadata import PackageNotFoundError, distribution, packages_distributions

    top = spec.target.partition(":")[0].split(".")[0]
    for dist_name in packages_distributions().get(top, []):
        try:
            dist = distribution(dist_name)
        except PackageNotFoundError:
            continue
        return tuple(dist.requires or ()), dist.metadata["Name"], dist.version
    return (), None, None


def sdk_conflict(spec: PluginSpec) -> str | None:
    """Why a plugin's distribution cannot run with the installed plugyard-sdk, or ``None``."""
    requires, dist, version = _requires_of(spec)
    installed = None
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != "plugyard-sdk":
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        installed = installed or _installed_sdk()
        if installed is None:
            return f"plugin {spec.name!r} ({dist} {version}) requires {req}, which is not installed"
        if not req.specifier.contains(installed, prereleases=True):
            return (
                f"plugin {spec.name!r} ({dist} {version}) requires {req}, "
                f"but plugyard-sdk {installed} is installed"
            )
    return None


class HooksHandle:
    """A plugin made of plain hook implementations: started means registered with pluggy."""

    model = "hooks"
    stops_after_shutdown = True

    def __init__(self, host: Host, name: str, obj: Any) -> None:
        self.host, self.name, self.obj = host, name, obj
        self.hooks: tuple[str, ...] = ()

    def register(self) -> None:
        """Register the implementations now (loading does it, so startup hooks reach them)."""
        if self.host.pm.is_registered(self.obj):
            return
        problem = self.host._register(self.name, self.obj)
        if problem is not None:
            raise PluginLoadError(problem)
        self.hooks = self.host._hooks_of(self.obj)

    def start(self) -> None:
        """Register the implementations again after a stop (and its commands with them)."""
        if self.host.pm.is_registered(self.obj):
            return
        self.register()
        contribute = getattr(self.obj, "plugyard_commands", None)
        if self.host.running and callable(contribute):
            params = inspect.signature(contribute).parameters
            commands = contribute(host=self.host) if "host" in params else contribute()
            self.host._add_commands(self.name, commands)

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

    def __init__(self, host: Host) -> None:
        self.host = host

    @hookimpl(trylast=True)
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> HooksHandle | None:
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
    def plugyard_commands(self, host: Host) -> list[Command]:
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

    def _record(self, name: str) -> Any:
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
                "details": details,
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
        if record.model == "adapter":
            raise CommandError(
                f"{name!r} is an adapter; adapters cannot be driven by {action}",
                Errno.COMMAND_ERROR,
            )
        try:
            record = await getattr(self.host, f"{action}_plugin")(name)
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
