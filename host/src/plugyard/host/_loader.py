"""Loading: adapters from entry points, ``plugyard_configure``, then every discovered plugin
through ``plugyard_load_plugin``, into one registry. A failed load is rolled back whole."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol

import pluggy

from plugyard.sdk import HandleBase, PluginHandle, StopPhase, did_you_mean

from ._commands import CommandPlane
from ._config import Config, ConfigError
from ._discovery import (
    EntryPointInfo,
    PluginLoadError,
    PluginSpec,
    SourceKind,
    discover,
    entry_points,
    import_target,
)
from ._dispatch import Outcome, hook_problem, hooks_of, register
from ._ordering import unknown_references
from ._policy import HookPolicy
from ._registry import PluginRecord, PluginState, Registry
from ._requirements import sdk_conflict
from ._services import Services

__all__ = ["ADAPTERS_GROUP", "CORE_PLUGIN", "PLUGINS_GROUP", "Loader", "complete", "named"]

logger = logging.getLogger("plugyard.host")

ADAPTERS_GROUP = "plugyard.adapters"
PLUGINS_GROUP = "plugyard.plugins"
CORE_PLUGIN = "plugyard.host"
"""The name the host's own plugin is registered under."""


class LoaderHost(Protocol):
    """What loading uses of the host."""

    @property
    def pm(self) -> pluggy.PluginManager: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def config(self) -> Config: ...
    @property
    def commands(self) -> CommandPlane: ...
    @property
    def services(self) -> Services: ...

    def call_hook(
        self, name: str, /, policy: HookPolicy | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, Outcome]: ...
    def set_plugin_state(
        self, name: str, state: PluginState, error: str | None = None
    ) -> PluginRecord: ...


class Loader:
    """Finds and loads a host's adapters and plugins; remembers what to undo if it fails."""

    def __init__(
        self,
        host: LoaderHost,
        *,
        autoload: bool,
        objects: Mapping[str, Any],
        adapters: Mapping[str, Any],
    ) -> None:
        self.host = host
        self.autoload = autoload
        self.objects = dict(objects)
        self.adapters = dict(adapters)
        self.groups: dict[str, str | None] = {PLUGINS_GROUP: None}
        self.added: list[PluginSpec] = []
        self.specs: dict[str, PluginSpec] = {}
        """The spec each discovered plugin was loaded from (what a reload loads again)."""
        self._registered: list[object] = []

    # -- what adapters declare in plugyard_configure ---------------------------------------

    def add_group(self, group: str, model: str | None) -> None:
        """Also discover plugins in entry-point group ``group``, of ``model``."""
        self.groups.setdefault(group, model)

    def add_spec(self, spec: PluginSpec) -> None:
        """Also load ``spec``."""
        self.added.append(spec)

    # -- loading ---------------------------------------------------------------------------

    async def load(self) -> None:
        """Load adapters, configure them, load every plugin and collect commands.

        A :class:`ConfigError` rolls everything back (see :meth:`rollback`) and is raised.
        """
        host = self.host
        for folder in reversed(host.config.host.python_path):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        try:
            await self._load_adapters()
            await self._configure()
            specs = discover(
                host.config,
                objects=self.objects,
                added=self.added,
                groups=self.groups,
                autoload=self.autoload,
                taken=host.registry,
            )
            for spec in specs:
                await self._load_plugin(spec)
            self._check_order()
            self._check_sections()
        except BaseException:
            self.rollback()
            raise
        outcome = await host.call_hook("plugyard_commands", host=host)
        for result in outcome.results:
            host.commands.contribute(result.plugin, result.value)

    def rollback(self) -> None:
        """Undo a load: unregister what it registered and forget every record and service."""
        pm = self.host.pm
        for obj in reversed(self._registered):
            if pm.is_registered(obj):
                pm.unregister(obj)
        for name in list(self.host.registry):
            plugin = pm.get_plugin(name.name)
            if plugin is not None:
                pm.unregister(plugin)
            elif pm.is_blocked(name.name):
                pm.unblock(name.name)
        self._registered.clear()
        self.specs.clear()
        self.host.registry.clear()
        self.host.services.clear()
        self.host.commands.clear()
        self.added.clear()
        self.groups = {PLUGINS_GROUP: None}

    def _check_sections(self) -> None:
        config = self.host.config
        unclaimed = config.unclaimed()
        if unclaimed:
            claimable = {"host", "plugins", *config.claimed()}
            known = ", ".join(sorted(claimable)) or "none"
            raise ConfigError(
                f"{config.where}: [{unclaimed[0]}]: no loaded adapter reads this section "
                f"(sections in use: {known}); is its adapter installed?"
                + did_you_mean(unclaimed[0], claimable)
            )

    def _check_order(self) -> None:
        """Fail each plugin whose ``before``/``after`` names a plugin this host does not have."""
        pm, registry = self.host.pm, self.host.registry
        known = [record.name for record in registry]
        for plugin, hook, missing in unknown_references(pm, registry):
            found = pm.get_plugin(plugin)
            if found is None or plugin == CORE_PLUGIN:
                continue
            pm.unregister(found)
            reason = (
                f"hook {hook}: before/after names plugin {missing!r}, which this host does "
                "not have" + did_you_mean(missing, known)
            )
            if plugin in registry:
                self._fail(plugin, reason)
            else:
                logger.error("plugin %r: %s", plugin, reason, extra={"plugin": plugin})

    def _fail(self, name: str, reason: str, exc: BaseException | None = None) -> None:
        logger.error("plugin %r: %s", name, reason, exc_info=exc, extra={"plugin": name})
        self.host.set_plugin_state(name, PluginState.FAILED, reason)

    def fail_adapter(self, name: str, reason: str) -> None:
        """Unregister an adapter whose hook failed, and mark it failed."""
        plugin = self.host.pm.get_plugin(name)
        if plugin is not None and name != CORE_PLUGIN:
            self.host.pm.unregister(plugin)
        if name in self.host.registry:
            self._fail(name, reason)

    async def _load_adapters(self) -> None:
        host = self.host
        settings = host.config.host
        found: list[tuple[str, EntryPointInfo | None, Any]] = []
        wanted = set(settings.adapters)
        for entry in entry_points(ADAPTERS_GROUP):
            if self.autoload or entry.name in wanted:
                found.append((entry.name, entry, None))
                wanted.discard(entry.name)
        found.extend((target, None, None) for target in sorted(wanted))
        found.extend((name, None, obj) for name, obj in self.adapters.items())
        loaded = []
        for name, info, obj in found:
            source = (
                f"{info.distribution} {info.version} (entry point {ADAPTERS_GROUP}:{name})"
                if info
                else ("object" if obj is not None else f"[host] adapters: {name!r}")
            )
            host.registry.add(
                PluginRecord(
                    name,
                    "adapter",
                    source,
                    info.version if info else None,
                    PluginState.DISCOVERED,
                    distribution=info.distribution if info else None,
                )
            )
            if name in settings.disabled:
                host.pm.set_blocked(name)
                host.set_plugin_state(name, PluginState.DISABLED, "listed in [host] disabled")
                continue
            try:
                if obj is None:
                    obj = import_target(info.value if info else name, where=source)
            except PluginLoadError as exc:
                self._fail(name, str(exc), exc)
                continue
            problem = register(host.pm, name, obj, vet=False)
            if problem is not None:
                self._fail(name, problem)
                continue
            self._registered.append(obj)
            loaded.append((name, obj))
        for name, obj in loaded:
            problem = hook_problem(host.pm, obj)
            if problem is not None:
                host.pm.unregister(obj)
                self._fail(name, problem)
            else:
                host.registry.update(name, hooks=hooks_of(host.pm, obj))
                host.set_plugin_state(name, PluginState.LOADED)

    async def _configure(self) -> None:
        outcome = await self.host.call_hook("plugyard_configure", host=self.host)
        for failure in outcome.failures:
            if isinstance(failure.error, ConfigError):
                raise failure.error
            self.fail_adapter(failure.plugin, f"plugyard_configure: {failure.error}")

    def blocked_reason(self, name: str) -> str | None:
        settings = self.host.config.host
        if name in settings.disabled:
            return "listed in [host] disabled"
        if settings.enabled is not None and name not in settings.enabled:
            return "not listed in [host] enabled"
        return None

    def _unusable(self, spec: PluginSpec, requirements: bool = True) -> str | None:
        config = self.host.config
        if spec.kind is SourceKind.CONFIG and config.plugins[spec.name].use is None:
            return (
                f"{config.where}: plugins.{spec.name}: no 'use' key, and no "
                f"installed plugin is called {spec.name!r}"
            )
        if spec.kind is SourceKind.DIRECTORY and spec.path is None:
            from ._config import check_plugin_file_name

            try:
                check_plugin_file_name(spec.name)
            except ValueError as exc:
                return f"{spec.where}: refused: {exc}"
            return (
                f"{spec.where}: active plugin {spec.name!r} not found in plugin_dirs "
                f"({spec.target})"
            )
        return sdk_conflict(spec) if requirements else None

    async def load_one(self, spec: PluginSpec) -> None:
        """Load a plugin again into a running host (a reload): as at start, its order
        checked, but not its distribution's requirements, which a reload does not change
        (reading them scans every installed distribution, too slow for a running host)."""
        await self._load_plugin(spec, requirements=False)
        self._check_order()

    def forget(self, name: str) -> None:
        """Forget an unloaded plugin's spec."""
        self.specs.pop(name, None)

    async def _load_plugin(self, spec: PluginSpec, *, requirements: bool = True) -> None:
        host, name = self.host, spec.name
        self.specs[name] = spec
        model = spec.model or self.groups.get(spec.group or "") or "unknown"
        host.registry.add(
            PluginRecord(
                name,
                model,
                spec.source,
                spec.version,
                PluginState.DISCOVERED,
                distribution=spec.distribution,
                target=spec.target if spec.kind is not SourceKind.DIRECTORY else str(spec.path),
            )
        )
        blocked = self.blocked_reason(name)
        if blocked is not None:
            host.set_plugin_state(name, PluginState.DISABLED, blocked)
            return
        problem = self._unusable(spec, requirements)
        if problem is not None:
            self._fail(name, problem)
            return
        try:
            spec.load()
            handle = (await host.call_hook("plugyard_load_plugin", host=host, spec=spec)).first
        except PluginLoadError as exc:
            self._fail(name, str(exc), exc.__cause__)
            return
        except Exception as exc:
            self._fail(name, f"loading failed: {type(exc).__name__}: {exc}", exc)
            return
        if handle is None:
            adapters = [
                r.name
                for r in host.registry
                if r.model == "adapter" and r.state is PluginState.LOADED
            ]
            self._fail(
                name,
                f"no adapter recognises {spec.target!r} "
                f"(loaded adapters: {', '.join(adapters) or 'none'})",
            )
            return
        if not isinstance(handle, PluginHandle):
            checked = check_handle(handle)
            if isinstance(checked, str):
                self._fail(name, checked)
                return
            handle = checked
        self.attach(name, handle)

    def add_runtime(
        self,
        name: str,
        handle: PluginHandle,
        source: str,
        version: str | None,
        filtered: bool,
        target: str | None,
    ) -> PluginRecord:
        """Record a plugin an adapter meets after loading (see ``Host.add_plugin``)."""
        host = self.host
        host.registry.add(
            PluginRecord(name, handle.model, source, version, PluginState.DISCOVERED, target=target)
        )
        blocked = self.blocked_reason(name) if filtered else None
        if blocked is not None:
            return host.set_plugin_state(name, PluginState.DISABLED, blocked)
        self.attach(name, handle if isinstance(handle, PluginHandle) else complete(handle))
        return host.registry.get(name)

    def attach(self, name: str, handle: PluginHandle) -> None:
        """Give a discovered plugin its handle and mark it loaded."""
        self.host.registry.attach(name, handle)
        self.host.registry.update(name, model=str(handle.model), hooks=tuple(handle.hooks))
        self.host.set_plugin_state(name, PluginState.LOADED)


class _Defaulted(HandleBase):
    """A handle written before ``order``, ``hooks`` and ``stop_phase`` were declared."""

    def __init__(self, handle: Any) -> None:
        self.inner = handle
        self.model = str(handle.model)
        self.order = int(getattr(handle, "order", 0))
        self.hooks = tuple(getattr(handle, "hooks", ()) or ())
        after = getattr(handle, "stops_after_shutdown", False)
        self.stop_phase = StopPhase.AFTER_SHUTDOWN if after else StopPhase.PLUGINS

    def start(self) -> Any:
        return self.inner.start()

    def stop(self) -> Any:
        return self.inner.stop()

    def describe(self) -> Mapping[str, Any]:
        describe = getattr(self.inner, "describe", None)
        return dict(describe()) if callable(describe) else {}


def complete(handle: Any) -> PluginHandle:
    """``handle`` completed by :func:`check_handle`; ``TypeError`` if it cannot be."""
    checked = check_handle(handle)
    if isinstance(checked, str):
        raise TypeError(checked)
    return checked


def check_handle(handle: Any) -> PluginHandle | str:
    """A handle that lacks only the attributes added later, completed with their defaults
    (with a deprecation warning); otherwise why it cannot drive a plugin."""
    missing = [attr for attr in ("model", "start", "stop") if not hasattr(handle, attr)]
    if missing:
        return (
            f"the adapter's handle {type(handle).__qualname__} is not a PluginHandle "
            f"(missing: {', '.join(missing)}); subclass plugyard.sdk.HandleBase"
        )
    warnings.warn(
        f"{type(handle).__qualname__} does not declare every PluginHandle attribute "
        "(order, hooks, stop_phase, describe); subclass plugyard.sdk.HandleBase",
        DeprecationWarning,
        stacklevel=2,
    )
    return _Defaulted(handle)


def named(items: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """Objects handed to the host by name: a mapping as is, a sequence by each object's
    ``name``, ``__name__`` or class name (its last dotted part)."""
    if isinstance(items, Mapping):
        return dict(items)
    by_name: dict[str, Any] = {}
    for obj in items:
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            name = getattr(obj, "__name__", None) or type(obj).__name__
        by_name[str(name).rsplit(".", 1)[-1]] = obj
    return by_name
