"""Hot unload and reload of one plugin by name, whatever its model, in a running host.

Unloading runs ``plugyard_unload`` (the plugin's own cleanup and its adapter's), stops the
plugin through its handle, then takes away whatever is still registered under its name:
hook implementations, commands, event subscriptions, supervised processes and its record.
Reloading imports the plugin's module again from disk into a new module object, and only
once that succeeded swaps the old version for the new one (which gets the historic hooks
again, as any registration does). ``[host] watch`` reloads a plugin when its file changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import logging
import sys
import time
from collections.abc import Coroutine, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from plugyard.sdk import Command, CommandError, Errno, Param, hookimpl

from ._discovery import PluginLoadError, PluginSpec, SourceKind
from ._registry import PluginRecord, PluginState

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._commands import CommandPlane
    from ._dispatch import Outcome
    from ._registry import Registry
    from ._steps import Lifespan

__all__ = ["RELOAD_PLUGIN", "WATCH_INTERVAL", "ReloadMethods", "Reloader", "reimport"]

logger = logging.getLogger("plugyard.host")

RELOAD_PLUGIN = "plugyard.host.reload"
"""The name the host's reloading plugin is registered under (commands and the watcher)."""

WATCH_INTERVAL = 0.25
"""How often ``[host] watch`` looks at the plugins' files, in seconds."""


class ReloadHost(Protocol):
    """What unloading and reloading use of the host."""

    @property
    def pm(self) -> Any: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def commands(self) -> CommandPlane: ...
    @property
    def bus(self) -> EventBus: ...

    def call_hook(self, name: str, /, **kwargs: Any) -> Coroutine[Any, Any, Outcome]: ...
    def publish_event(self, topic: str, data: Mapping[str, Any], *, source: str) -> Any: ...


def _module_of(spec: PluginSpec) -> str | None:
    """The module a target names (``pkg.mod:attr`` or ``pkg.mod.Class``), if imported."""
    module_name, _, attr = spec.target.partition(":")
    if module_name in sys.modules or attr:
        return module_name
    parent = module_name.rpartition(".")[0]
    return parent if parent in sys.modules else module_name


def _import_again(module_name: str, where: str) -> ModuleType:
    """Execute ``module_name``'s source from disk into a new module object; ``sys.modules``
    keeps the old one unless this succeeds."""
    old = sys.modules.get(module_name)
    found = importlib.util.find_spec(module_name)
    if found is None or found.loader is None:
        raise PluginLoadError(f"{where}: cannot find module {module_name!r} to import again")
    module = importlib.util.module_from_spec(found)
    sys.modules[module_name] = module
    try:
        found.loader.exec_module(module)
    except BaseException as exc:
        if old is not None:
            sys.modules[module_name] = old
        else:
            sys.modules.pop(module_name, None)
        if isinstance(exc, Exception):
            raise PluginLoadError(f"{where}: import failed: {type(exc).__name__}: {exc}") from exc
        raise
    return module


def reimport(spec: PluginSpec) -> PluginSpec:
    """A fresh spec for ``spec``'s plugin, its module imported again from disk (entry points,
    ``[plugins]`` tables, plugin folders); an object handed to the host is taken as it is.
    Raises :class:`PluginLoadError` saying why, and leaves the loaded module in place."""
    where = spec.where or spec.source
    if spec.kind is SourceKind.OBJECT:
        return dataclasses.replace(spec)
    fresh = dataclasses.replace(spec, _obj=None, _loaded=False)
    if spec.kind is not SourceKind.DIRECTORY:
        module_name = _module_of(spec)
        if module_name is not None:
            _import_again(module_name, where)
    fresh.load()
    return fresh


def source_file(spec: PluginSpec) -> Path | None:
    """The file a plugin's code lives in, for ``[host] watch``."""
    if spec.kind is SourceKind.DIRECTORY and spec.path is not None:
        return spec.path / "__init__.py" if spec.path.is_dir() else spec.path
    if spec.kind is SourceKind.OBJECT:
        return None
    module = sys.modules.get(_module_of(spec) or "")
    found = getattr(module, "__file__", None)
    return Path(found) if found else None


class Reloader:
    """Unloads and reloads plugins by name; contributes ``plugins.unload`` and
    ``plugins.reload``, and watches plugin files when ``[host] watch`` is on."""

    def __init__(
        self,
        host: ReloadHost,
        lifespan: Lifespan,
        *,
        watch: bool,
    ) -> None:
        self.host = host
        self.loader = lifespan.loader
        self.control = lifespan.control
        self.lifespan = lifespan
        self.watch = watch
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    # -- unloading -------------------------------------------------------------------------

    def _check(self, name: str) -> PluginRecord:
        from ._loader import CORE_PLUGIN

        try:
            record = self.host.registry.get(name)
        except KeyError:
            raise KeyError(f"no plugin named {name!r}") from None
        if record.model == "adapter" or name in (CORE_PLUGIN, RELOAD_PLUGIN):
            raise ValueError(f"{name!r} is an adapter; adapters cannot be unloaded or reloaded")
        return record

    async def unload(self, name: str) -> None:
        """Take plugin ``name`` out of the host, with its cleanup, leaving nothing behind."""
        self._check(name)
        async with self._lock:
            await self._unload(name)
        self.host.publish_event(f"plugin.{name}.unloaded", {"name": name}, source="host")

    async def _unload(self, name: str) -> None:
        host = self.host
        await host.call_hook("plugyard_unload", host=host, name=name)
        await self.control.remove(name)
        plugin = host.pm.get_plugin(name)
        if plugin is not None:
            host.pm.unregister(plugin)
        host.commands.remove_from(name)
        host.bus.unsubscribe_owner(name)
        processes = self.lifespan.supervisor
        if processes is not None and name in [p.name for p in processes.list()]:
            await processes.stop(name)
            processes.forget(name)
        self.loader.forget(name)

    # -- reloading -------------------------------------------------------------------------

    async def reload(self, name: str) -> PluginRecord:
        """Import plugin ``name`` again from disk and swap it for the running version. An
        import that fails leaves the running version as it was and raises why."""
        record = self._check(name)
        spec = self.loader.specs.get(name)
        if spec is None:
            raise PluginLoadError(
                f"plugin {name!r} ({record.source}) was added by its adapter at run time; "
                "only plugins the host discovered can be reloaded"
            )
        started = time.perf_counter()
        fresh = reimport(spec)
        async with self._lock:
            was_running = record.state is PluginState.STARTED
            await self._unload(name)
            await self.loader.load_one(fresh)
            record = self.host.registry.get(name)
            if was_running and record.state is PluginState.LOADED:
                await self._contribute_commands(name)
                record = await self.control.start(name)
        self.host.publish_event(
            f"plugin.{name}.reloaded",
            {"name": name, "state": str(record.state), "pause": time.perf_counter() - started},
            source="host",
        )
        return record

    async def _contribute_commands(self, name: str) -> None:
        if self.host.pm.get_plugin(name) is None:
            return
        outcome = await self.host.call_hook("plugyard_commands", host=self.host)
        for result in outcome.results:
            if result.plugin == name:
                self.host.commands.contribute(name, result.value)

    # -- the host's plugin: commands and the watcher -----------------------------------------

    @hookimpl
    def plugyard_commands(self) -> list[Command]:
        """``plugins.unload`` and ``plugins.reload``."""
        name = {"name": Param(str, required=True, help="plugin name")}
        return [
            Command("plugins.unload", self._unload_command, "Take a plugin out of the host", name),
            Command(
                "plugins.reload", self._reload_command, "Import a plugin again and swap it", name
            ),
        ]

    async def _unload_command(self, name: str) -> dict[str, Any]:
        try:
            await self.unload(name)
        except (KeyError, ValueError) as exc:
            raise CommandError(str(exc.args[0]), Errno.COMMAND_ERROR) from None
        return {"name": name, "unloaded": True}

    async def _reload_command(self, name: str) -> dict[str, Any]:
        try:
            record = await self.reload(name)
        except (KeyError, ValueError, PluginLoadError) as exc:
            raise CommandError(str(exc.args[0]), Errno.COMMAND_ERROR) from None
        return {"name": name, "state": str(record.state), "error": record.error}

    @hookimpl
    def plugyard_started(self) -> None:
        """Start watching plugin files, when ``[host] watch`` is on."""
        if self.watch and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(self._stamps()), name="plugyard-watch")

    @hookimpl
    async def plugyard_shutdown(self) -> None:
        """Stop watching."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    def _stamps(self) -> dict[str, tuple[int, int]]:
        found = {}
        for name, path in self._watched().items():
            with contextlib.suppress(OSError):
                stat = path.stat()
                found[name] = (stat.st_mtime_ns, stat.st_size)
        return found

    async def _watch(self, seen: dict[str, tuple[int, int]]) -> None:
        """Poll the loaded plugins' files; reload a plugin whose file changed (its time
        stamp or its size) since the host started or last looked."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            for name, stamp in self._stamps().items():
                before = seen.get(name)
                seen[name] = stamp
                if before is None or before == stamp:
                    continue
                path = self._watched().get(name)
                try:
                    await self.reload(name)
                except Exception as exc:
                    logger.error(
                        "watch: %s changed, but reloading %r failed: %s",
                        path,
                        name,
                        exc,
                        extra={"plugin": name},
                    )
                else:
                    logger.info(
                        "watch: %s changed; reloaded %r", path, name, extra={"plugin": name}
                    )

    def _watched(self) -> dict[str, Path]:
        found = {}
        for name, spec in self.loader.specs.items():
            path = source_file(spec)
            if path is not None and name in self.host.registry:
                found[name] = path
        return found


class ReloadMethods:
    """``Host.unload_plugin`` and ``Host.reload_plugin``."""

    _reloader: Reloader

    async def unload_plugin(self, name: str) -> None:
        """Take plugin ``name`` out of the running host, whatever its model: its
        ``plugyard_unload`` cleanup runs (bounded, isolated), it is stopped, and its hook
        implementations, commands, event subscriptions, process and record are removed."""
        await self._reloader.unload(name)

    async def reload_plugin(self, name: str) -> PluginRecord:
        """Import plugin ``name``'s module again from disk and swap the new version in
        (started if the old one ran). An import that fails raises
        :class:`~plugyard.host.PluginLoadError` and leaves the old version running."""
        return await self._reloader.reload(name)
