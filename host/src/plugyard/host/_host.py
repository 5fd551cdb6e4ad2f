"""The host: the composition root that ties discovery, hooks, events, commands and processes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from plugyard.sdk import PROJECT_NAME, Event

from . import hookspecs
from ._bus import EventBus
from ._commands import Command, CommandPlane
from ._config import Config, ConfigError, did_you_mean
from ._core import CorePlugin, sdk_conflict
from ._discovery import (
    EntryPointInfo,
    PluginLoadError,
    PluginSpec,
    SourceKind,
    directory_spec,
    entry_points,
    import_target,
)
from ._dispatch import Dispatcher, Outcome, PluginManager, wrapper_problem
from ._policy import HookPolicy
from ._registry import PluginRecord, PluginState, Registry
from ._runtime import default_runtime_dir, ensure_private_dir, write_host_info
from ._stats import Stats

if TYPE_CHECKING:
    from ._supervisor import Supervisor

__all__ = ["Host"]

logger = logging.getLogger("plugyard.host")

ADAPTERS_GROUP = "plugyard.adapters"
PLUGINS_GROUP = "plugyard.plugins"


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    stop: Callable[[], Awaitable[Any]]
    timeout: float


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class Host:
    """One plugin host: a pluggy manager with plugyard's hooks, and everything around it.

    Example::

        async with Host.from_file("plugyard.toml") as host:
            await host.call("status")

    ``autoload=False`` (or ``PLUGYARD_DISABLE_AUTOLOAD=1``) loads nothing from entry points
    except adapters named in ``[host] adapters``; ``plugins`` and ``adapters`` add objects
    directly (tests and embedding applications).
    """

    def __init__(
        self,
        config: Config | Mapping[str, Any] | None = None,
        *,
        autoload: bool = True,
        plugins: Sequence[Any] | Mapping[str, Any] = (),
        adapters: Sequence[Any] | Mapping[str, Any] = (),
    ) -> None:
        self.config = config if isinstance(config, Config) else Config(config)
        settings = self.config.host
        self.name = settings.name
        self.autoload = (
            autoload and settings.autoload and os.environ.get("PLUGYARD_DISABLE_AUTOLOAD") != "1"
        )
        self.id = uuid.uuid4().hex[:12]
        self.pm = PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.hook = self.pm.hook
        self.stats = Stats()
        self.registry = Registry(self._on_state_change)
        self.commands = CommandPlane()
        self.bus = EventBus(
            self.id,
            self.stats,
            maxsize=settings.event_queue_size,
            timeout=settings.hook_timeout,
            after=self._dispatch_event,
        )
        self._dispatcher = Dispatcher(self.pm, self.stats, settings.hook_timeout)
        self._processes: Supervisor | None = None
        self._extensions: dict[str, Any] = {}
        self._advertised: dict[str, Any] = {}
        self._extra_plugins = _named(plugins)
        self._extra_adapters = _named(adapters)
        self._plugin_groups: dict[str, str | None] = {PLUGINS_GROUP: None}
        self._added_specs: list[PluginSpec] = []
        self._steps: list[_Step] = []
        self._started: list[str] = []
        self._phase = "new"
        self._stop_requested: asyncio.Event | None = None
        self.started_at: float | None = None
        self.runtime_dir = settings.runtime_dir or default_runtime_dir(self.name)
        self.pm.hook.plugyard_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        self.pm.register(CorePlugin(self), name="plugyard.host")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Host:
        """A host configured from ``plugyard.toml`` or ``[tool.plugyard]`` in a pyproject."""
        return cls(Config.from_file(path), **kwargs)

    def __repr__(self) -> str:
        return f"<Host {self.name!r} {self._phase}, {len(self.registry)} plugins>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.__dict__["_extensions"][name]
        except KeyError:
            raise AttributeError(
                f"Host has no attribute {name!r}; adapters add some (host.events, host.tasks, "
                "host.asgi_app): is the adapter that provides it installed and loaded?"
            ) from None

    # -- public surface -------------------------------------------------------------------

    @property
    def plugins(self) -> list[PluginRecord]:
        """Every adapter and plugin the host knows, whatever its model."""
        return list(self.registry)

    @property
    def processes(self) -> Supervisor:
        """The process supervisor shared by adapters that run plugins out of process."""
        if self._processes is None:
            from ._supervisor import Supervisor

            self._processes = Supervisor(
                publish=self.publish, python_path=[str(p) for p in self.config.host.python_path]
            )
        return self._processes

    @property
    def running(self) -> bool:
        """Whether the host has started and not yet stopped."""
        return self._phase == "started"

    def extend(self, name: str, value: Any) -> None:
        """Attach a service to the host as ``host.NAME`` (adapters: ``events``, ``tasks`` ...)."""
        if name in self._extensions or name in type(self).__dict__ or name in self.__dict__:
            raise ValueError(f"host.{name} is already taken")
        self._extensions[name] = value

    def advertise(self, key: str, value: Any) -> None:
        """Publish a fact in the runtime folder's ``host.json`` (e.g. an endpoint for clients)."""
        self._advertised[key] = value
        if self._phase == "started":
            self._write_host_info()

    @property
    def advertised(self) -> dict[str, Any]:
        """Facts adapters published with :meth:`advertise` (endpoints, ``http_url`` ...)."""
        return dict(self._advertised)

    def add_plugin(
        self,
        name: str,
        handle: Any,
        *,
        source: str,
        version: str | None = None,
        started: bool = False,
    ) -> PluginRecord:
        """Register a plugin an adapter creates at run time (a deployment, a run ...).

        The record's model is ``handle.model``; the host can then start, stop and list it by
        name like any other plugin. ``started=True`` records a plugin that already runs.
        """
        model = str(getattr(handle, "model", "unknown"))
        self.registry.add(PluginRecord(name, model, source, version, PluginState.DISCOVERED))
        self.registry.attach(name, handle)
        self.registry.set_state(name, PluginState.LOADED)
        if started:
            if name not in self._started:
                self._started.append(name)
            return self.registry.set_state(name, PluginState.STARTED)
        return self.registry.get(name)

    def add_plugin_spec(self, spec: PluginSpec) -> None:
        """Have the host discover one more plugin (call from ``plugyard_configure``).

        Adapters with their own discovery (a model's plugin folders, say) hand their finds to
        the host this way, so filters, registry records and loading work as for any plugin.
        """
        if self._phase not in ("new", "loading"):
            raise RuntimeError("add_plugin_spec() is for plugyard_configure, before plugins load")
        self._added_specs.append(spec)

    def add_plugin_group(self, group: str, model: str | None = None) -> None:
        """Also discover plugins in entry-point group ``group`` (from ``plugyard_configure``)."""
        self._plugin_groups.setdefault(group, model)

    def publish(self, topic: str, /, **data: Any) -> Event:
        """Publish an event from the host; returns it (numbered) at once; thread-safe."""
        return self.bus.publish(topic, data, "host")

    def publish_event(self, topic: str, data: Mapping[str, Any], *, source: str) -> Event:
        """Publish an event on behalf of ``source`` (an adapter or a plugin); thread-safe."""
        return self.bus.publish(topic, data, source)

    def subscribe(
        self,
        pattern: str,
        callback: Callable[[Event], Awaitable[None] | None],
        *,
        name: str | None = None,
    ) -> Callable[[], None]:
        """Observe events whose topic matches the glob ``pattern``; returns an unsubscribe."""
        return self.bus.subscribe(pattern, callback, name=name)

    def acall(
        self, name: str, /, policy: HookPolicy | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, Outcome]:
        """Call hook ``name`` under its policy; see :class:`~plugyard.host.HookPolicy`.

        Await the result. Bad arguments (unknown, or missing for some implementation) raise
        ``TypeError`` at once, before any implementation runs.
        """
        return self._dispatcher.acall(name, kwargs, policy)

    async def call(self, name: str, /, **props: Any) -> dict[str, Any]:
        """Run a command; returns its reply fields or raises :class:`CommandError`."""
        return await self.commands.call(name, props)

    def request_stop(self) -> None:
        """Ask :meth:`serve` to shut the host down (thread-safe)."""
        stop = self._stop_requested
        if stop is not None:
            loop = self.__dict__.get("_loop")
            if loop is not None:
                loop.call_soon_threadsafe(stop.set)

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Host:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def load(self) -> None:
        """Discover and load adapters and plugins without starting anything."""
        if self._phase != "new":
            return
        self._phase = "loading"
        for folder in reversed(self.config.host.python_path):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        await self._load_adapters()
        await self._configure()
        for spec in self._discover():
            await self._load_plugin(spec)
        unclaimed = self.config.unclaimed()
        if unclaimed:
            self._phase = "new"
            known = ", ".join(sorted(self._claimable_sections())) or "none"
            raise ConfigError(
                f"{self.config.where}: [{unclaimed[0]}]: no loaded adapter reads this section "
                f"(sections in use: {known}); is its adapter installed?"
                + did_you_mean(unclaimed[0], self._claimable_sections())
            )
        for command in (await self.acall("plugyard_commands", host=self)).results:
            self._add_commands(command.plugin, command.value)
        self._phase = "loaded"

    async def start(self) -> None:
        """Load, run ``plugyard_startup``, start every plugin, then publish ``host.started``."""
        if self._phase == "started":
            return
        if self._phase in ("stopping", "stopped"):
            raise RuntimeError("a Host runs once; create a new Host to start again")
        await self.load()
        self.__dict__["_loop"] = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        timeout = self.config.host.shutdown_timeout
        ensure_private_dir(self.runtime_dir)
        await self.bus.start()
        self._steps.append(_Step("event dispatcher", self.bus.stop, timeout))
        self._steps.append(_Step("processes", self._stop_processes, timeout))
        self._steps.append(_Step("hook plugins", self._stop_hook_plugins, timeout))
        outcome = await self.acall(
            "plugyard_startup", policy=self._timed("plugyard_startup", "startup"), host=self
        )
        for failure in outcome.failures:
            self._fail_adapter(failure.plugin, f"plugyard_startup: {failure.error}")
        self._steps.append(_Step("plugyard_shutdown", self._shutdown_hook, timeout))
        self._steps.append(_Step("plugins", self._stop_plugins, timeout * 2))
        for name in self._start_order():
            await self.start_plugin(name)
        self._phase = "started"
        self.started_at = time.time()
        self._write_host_info()
        self.publish("host.started", name=self.name, id=self.id, pid=os.getpid())

    async def stop(self) -> None:
        """Stop plugins, run ``plugyard_shutdown``, stop processes and events, in that order."""
        if self._phase not in ("started", "loaded", "loading"):
            return
        self._phase = "stopping"
        self.publish("host.stopping", name=self.name, id=self.id)
        while self._steps:
            step = self._steps.pop()
            try:
                async with asyncio.timeout(step.timeout):
                    await step.stop()
            except TimeoutError:
                logger.error("shutdown: %s did not finish within %gs", step.name, step.timeout)
            except Exception:
                logger.exception("shutdown: %s failed", step.name)
        (self.runtime_dir / "host.json").unlink(missing_ok=True)
        self._phase = "stopped"

    async def serve(self, *, ready: Callable[[Host], Any] | None = None) -> None:
        """Run until SIGINT, SIGTERM or :meth:`request_stop`, then shut down gracefully."""
        await self.start()
        try:
            with self._stop_signals() as stop:
                if ready is not None:
                    await _maybe_await(ready(self))
                await stop.wait()
        finally:
            await self.stop()

    async def wait_for_stop(self) -> None:
        """On a started host: wait for SIGINT, SIGTERM or :meth:`request_stop` (the host keeps
        running; call :meth:`stop` after)."""
        with self._stop_signals() as stop:
            await stop.wait()

    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[asyncio.Event]:
        """SIGINT and SIGTERM request a stop while inside; yields the stop request."""
        stop = self._stop_requested
        if stop is None:
            raise RuntimeError("wait_for_stop() needs a started host")
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        try:
            yield stop
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def run(self) -> None:
        """Serve from synchronous code (``asyncio.run(host.serve())``)."""
        asyncio.run(self.serve())

    # -- plugins by name ------------------------------------------------------------------

    async def start_plugin(self, name: str) -> PluginRecord:
        """Start one plugin by name, whatever its model."""
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
            async with asyncio.timeout(self.config.host.startup_timeout):
                await _maybe_await(handle.start())
        except Exception as exc:
            reason = (
                f"start did not finish within {self.config.host.startup_timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"start failed: {type(exc).__name__}: {exc}"
            )
            logger.error("plugin %r: %s", name, reason, exc_info=exc, extra={"plugin": name})
            self.stats[name].errors += 1
            await self._stop_quietly(name, handle)
            return self.registry.set_state(name, PluginState.FAILED, reason)
        if name not in self._started:
            self._started.append(name)
        return self.registry.set_state(name, PluginState.STARTED)

    async def stop_plugin(self, name: str) -> PluginRecord:
        """Stop one plugin by name; stopping a plugin that is not running does nothing."""
        record = self.registry.get(name)
        handle = self.registry.handle(name)
        if handle is None or record.state is not PluginState.STARTED:
            return record
        try:
            async with asyncio.timeout(self.config.host.shutdown_timeout):
                await _maybe_await(handle.stop())
        except Exception as exc:
            reason = (
                f"stop did not finish within {self.config.host.shutdown_timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"stop failed: {type(exc).__name__}: {exc}"
            )
            logger.error("plugin %r: %s", name, reason, exc_info=exc, extra={"plugin": name})
            return self.registry.set_state(name, PluginState.FAILED, reason)
        return self.registry.set_state(name, PluginState.STOPPED)

    async def restart_plugin(self, name: str) -> PluginRecord:
        """Stop then start one plugin (a failed plugin that has a handle is started again)."""
        await self.stop_plugin(name)
        self.stats[name].restarts += 1
        return await self.start_plugin(name)

    # -- internals ------------------------------------------------------------------------

    def _on_state_change(self, record: PluginRecord, previous: PluginState | None) -> None:
        self.publish_event(
            f"plugin.{record.name}.{record.state}",
            {
                "name": record.name,
                "model": record.model,
                "state": str(record.state),
                "previous": str(previous) if previous is not None else None,
                "error": record.error,
            },
            source="host",
        )

    async def _dispatch_event(self, event: Event) -> None:
        if self._dispatcher.has_implementations("plugyard_event"):
            await self.acall("plugyard_event", host=self, event=event)

    def _claimable_sections(self) -> set[str]:
        return {"host", "plugins", *self.config.claimed()}

    def _register(self, name: str, obj: Any, *, vet: bool = True) -> str | None:
        """Register with pluggy and vet the hooks; returns why it was refused, or ``None``."""
        try:
            if self.pm.register(obj, name=name) is None:
                return "blocked"
        except Exception as exc:
            return f"cannot register: {exc}"
        if not vet:
            return None
        problem = self._hook_problem(obj)
        if problem is not None:
            self.pm.unregister(obj)
        return problem

    def _hook_problem(self, obj: Any) -> str | None:
        specced = [n for n in dir(self.pm.hook) if not n.startswith("_")]
        for caller in self.pm.get_hookcallers(obj) or ():
            if caller.spec is None:
                impls = [i for i in caller.get_hookimpls() if i.plugin is obj]
                if any(not i.optionalhook for i in impls):
                    known = [n for n in specced if getattr(self.pm.hook, n).spec is not None]
                    return f"unknown hook {caller.name!r}" + did_you_mean(caller.name, known)
            elif _has_policy(caller):
                problem = wrapper_problem(caller)
                if problem is not None:
                    return problem
        return None

    def _hooks_of(self, obj: Any) -> tuple[str, ...]:
        return tuple(sorted(c.name for c in self.pm.get_hookcallers(obj) or ()))

    async def _load_adapters(self) -> None:
        settings = self.config.host
        found: list[tuple[str, EntryPointInfo | None, Any]] = []
        wanted = set(settings.adapters)
        for entry in entry_points(ADAPTERS_GROUP):
            if self.autoload or entry.name in wanted:
                found.append((entry.name, entry, None))
                wanted.discard(entry.name)
        for target in sorted(wanted):
            found.append((target, None, None))
        found.extend((name, None, obj) for name, obj in self._extra_adapters.items())
        loaded = []
        for name, info, obj in found:
            source = (
                f"{info.distribution} {info.version} (entry point {ADAPTERS_GROUP}:{name})"
                if info
                else ("object" if obj is not None else f"[host] adapters: {name!r}")
            )
            record = PluginRecord(
                name,
                "adapter",
                source,
                info.version if info else None,
                PluginState.DISCOVERED,
                distribution=info.distribution if info else None,
            )
            self.registry.add(record)
            if name in settings.disabled:
                self.pm.set_blocked(name)
                self.registry.set_state(name, PluginState.DISABLED, "listed in [host] disabled")
                continue
            try:
                if obj is None:
                    obj = import_target(info.value if info else name, where=source)
            except PluginLoadError as exc:
                self._fail(name, str(exc), exc)
                continue
            problem = self._register(name, obj, vet=False)
            if problem is not None:
                self._fail(name, problem)
                continue
            loaded.append((name, obj))
        for name, obj in loaded:
            problem = self._hook_problem(obj)
            if problem is not None:
                self.pm.unregister(obj)
                self._fail(name, problem)
            else:
                self.registry.update(name, state=PluginState.LOADED, hooks=self._hooks_of(obj))

    async def _configure(self) -> None:
        outcome = await self.acall("plugyard_configure", host=self)
        for failure in outcome.failures:
            if isinstance(failure.error, ConfigError):
                raise failure.error
            self._fail_adapter(failure.plugin, f"plugyard_configure: {failure.error}")

    def _fail(self, name: str, reason: str, exc: BaseException | None = None) -> None:
        logger.error("plugin %r: %s", name, reason, exc_info=exc, extra={"plugin": name})
        self.registry.set_state(name, PluginState.FAILED, reason)

    def _fail_adapter(self, name: str, reason: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None and name != "plugyard.host":
            self.pm.unregister(plugin)
        if name in self.registry:
            self._fail(name, reason)

    def _discover(self) -> list[PluginSpec]:
        settings, config = self.config.host, self.config
        specs: list[PluginSpec] = []
        for name, entry in config.plugins.items():
            if entry.use is not None:
                specs.append(
                    PluginSpec(
                        name,
                        entry.use,
                        SourceKind.CONFIG,
                        entry.options,
                        where=f"{config.where} [plugins.{name}]",
                    )
                )
        for name, obj in self._extra_plugins.items():
            options = config.plugins[name].options if name in config.plugins else {}
            specs.append(PluginSpec.for_object(name, obj, options))
        specs.extend(self._added_specs)
        if self.autoload:
            for group in self._plugin_groups:
                for info in entry_points(group):
                    specs.append(
                        PluginSpec(
                            info.name,
                            info.value,
                            SourceKind.ENTRY_POINT,
                            dict(config.plugins[info.name].options)
                            if info.name in config.plugins
                            else {},
                            group=group,
                            distribution=info.distribution,
                            version=info.version,
                            requires=info.requires,
                        )
                    )
        for name in settings.active_plugins:
            specs.append(
                directory_spec(name, settings.plugin_dirs, f"{config.where} [host] active_plugins")
            )
        options_only = {n for n, e in config.plugins.items() if e.use is None}
        for spec in specs:
            if spec.kind is SourceKind.DIRECTORY and spec.name in config.plugins:
                spec.options = {**config.plugins[spec.name].options, **spec.options}
        for name in sorted(options_only - {spec.name for spec in specs}):
            specs.append(
                PluginSpec(name, name, SourceKind.CONFIG, where=f"{config.where} [plugins.{name}]")
            )
        unique: dict[str, PluginSpec] = {}
        for spec in specs:
            if spec.name in unique or spec.name in self.registry:
                taken = unique.get(spec.name)
                logger.warning(
                    "plugin %r from %s ignored: the name is taken by %s",
                    spec.name,
                    spec.source,
                    taken.source if taken else "an adapter",
                )
                continue
            unique[spec.name] = spec
        # Installed (entry-point) plugins load first, so that what the configuration names
        # explicitly comes later and has the last word on shared settings.
        ordered = list(unique.values())
        return [s for s in ordered if s.kind is SourceKind.ENTRY_POINT] + [
            s for s in ordered if s.kind is not SourceKind.ENTRY_POINT
        ]

    def _blocked_reason(self, name: str) -> str | None:
        settings = self.config.host
        if name in settings.disabled:
            return "listed in [host] disabled"
        if settings.enabled is not None and name not in settings.enabled:
            return "not listed in [host] enabled"
        return None

    async def _load_plugin(self, spec: PluginSpec) -> None:
        name = spec.name
        model = self._plugin_groups.get(spec.group or "") or "unknown"
        self.registry.add(
            PluginRecord(
                name,
                model,
                spec.source,
                spec.version,
                PluginState.DISCOVERED,
                distribution=spec.distribution,
            )
        )
        blocked = self._blocked_reason(name)
        if blocked is not None:
            self.registry.set_state(name, PluginState.DISABLED, blocked)
            return
        if spec.kind is SourceKind.CONFIG and self.config.plugins[name].use is None:
            self._fail(
                name,
                f"{self.config.where}: plugins.{name}: no 'use' key, and no "
                f"installed plugin is called {name!r}",
            )
            return
        if spec.kind is SourceKind.DIRECTORY and spec.path is None:
            self._fail(
                name,
                f"{spec.where}: active plugin {name!r} not found in plugin_dirs ({spec.target})",
            )
            return
        conflict = sdk_conflict(spec)
        if conflict is not None:
            self._fail(name, conflict)
            return
        try:
            spec.load()
        except PluginLoadError as exc:
            self._fail(name, str(exc), exc.__cause__)
            return
        try:
            handle = (await self.acall("plugyard_load_plugin", host=self, spec=spec)).first
        except PluginLoadError as exc:
            self._fail(name, str(exc))
            return
        except Exception as exc:
            self._fail(name, f"loading failed: {type(exc).__name__}: {exc}", exc)
            return
        if handle is None:
            adapters = [
                r.name
                for r in self.registry
                if r.model == "adapter" and r.state is PluginState.LOADED
            ]
            self._fail(
                name,
                f"no adapter recognises {spec.target!r} "
                f"(loaded adapters: {', '.join(adapters) or 'none'})",
            )
            return
        self.registry.attach(name, handle)
        hooks = tuple(getattr(handle, "hooks", ()) or ())
        self.registry.update(
            name, model=str(getattr(handle, "model", model)), hooks=hooks, state=PluginState.LOADED
        )

    def _add_commands(self, source: str, commands: Any) -> None:
        for command in commands or ():
            if not isinstance(command, Command):
                logger.error(
                    "plugin %r returned %r from plugyard_commands; expected Command",
                    source,
                    command,
                )
                continue
            if command.source == "host" and source != "plugyard.host":
                command = Command(
                    command.name, command.handler, command.help, command.params, source
                )
            try:
                self.commands.add(command)
            except ValueError as exc:
                logger.error("%s", exc)

    def _start_order(self) -> list[str]:
        names = [
            r.name
            for r in self.registry
            if r.state is PluginState.LOADED and self.registry.handle(r.name) is not None
        ]
        return sorted(names, key=lambda n: int(getattr(self.registry.handle(n), "order", 0)))

    async def _stop_quietly(self, name: str, handle: Any) -> None:
        try:
            async with asyncio.timeout(self.config.host.shutdown_timeout):
                await _maybe_await(handle.stop())
        except Exception:
            logger.debug("plugin %r: stop after a failed start also failed", name, exc_info=True)

    async def _stop_plugins(self) -> None:
        for name in reversed(self._started):
            if not getattr(self.registry.handle(name), "stops_after_shutdown", False):
                await self.stop_plugin(name)

    async def _stop_hook_plugins(self) -> None:
        await self.bus.drain(self.config.host.shutdown_timeout / 2)
        for name in reversed(self._started):
            await self.stop_plugin(name)
        self._started.clear()

    async def _shutdown_hook(self) -> None:
        await self.acall(
            "plugyard_shutdown", policy=self._timed("plugyard_shutdown", "shutdown"), host=self
        )

    def _timed(self, hook: str, phase: str) -> HookPolicy:
        """The hook's policy with the ``[host] startup_timeout``/``shutdown_timeout``."""
        timeout = getattr(self.config.host, f"{phase}_timeout")
        return dataclasses.replace(self._dispatcher.plan(hook).policy, timeout=timeout)

    async def _stop_processes(self) -> None:
        if self._processes is not None:
            await self._processes.stop_all()

    def _write_host_info(self) -> None:
        try:
            write_host_info(
                self.runtime_dir,
                {
                    "name": self.name,
                    "id": self.id,
                    "pid": os.getpid(),
                    "started_at": self.started_at,
                    "config": str(self.config.path or ""),
                    **self._advertised,
                },
            )
        except OSError as exc:
            logger.warning("cannot write %s: %s", self.runtime_dir / "host.json", exc)


def _has_policy(caller: Any) -> bool:
    from ._policy import POLICY_ATTR

    return hasattr(caller.spec.function, POLICY_ATTR)


def _named(items: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(items, Mapping):
        return dict(items)
    named: dict[str, Any] = {}
    for obj in items:
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            name = getattr(obj, "__name__", None) or type(obj).__name__
        named[str(name).rsplit(".", 1)[-1]] = obj
    return named
