"""The host: a façade over discovery, loading, hooks, events, commands and processes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from plugyard.sdk import PROJECT_NAME, Event, PluginHandle

from . import hookspecs
from ._bus import EventBus
from ._callers import HookMethods
from ._commands import CommandPlane
from ._config import Config
from ._control import PluginControl
from ._core import CorePlugin
from ._discovery import PluginSpec
from ._dispatch import Dispatcher, Outcome, PluginManager
from ._legacy import DeprecatedNames
from ._loader import CORE_PLUGIN, Loader, named
from ._phases import Phase, PhaseError, Phases
from ._registry import PluginRecord, PluginState, Registry, state_event
from ._reload import RELOAD_PLUGIN, Reloader, ReloadMethods
from ._runtime import default_runtime_dir, ensure_runtime_dir
from ._services import Services
from ._stats import Stats
from ._steps import HostFacts, Lifespan, stop_signals

if TYPE_CHECKING:
    from ._supervisor import Supervisor

__all__ = ["Host"]


class Host(HookMethods, ReloadMethods, DeprecatedNames):
    """One plugin host: a pluggy manager with plugyard's hooks, and everything around it.

    Example::

        async with Host.from_file("plugyard.toml") as host:
            await host.run_command("status")

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
        self.id = uuid.uuid4().hex[:12]
        self.pm = PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.hook = self.pm.hook
        self.stats = Stats()
        self.registry = Registry(self._on_state_change)
        self.commands = CommandPlane()
        self.services = Services()
        self.bus = EventBus(
            self.id,
            self.stats,
            maxsize=settings.event_queue_size,
            timeout=settings.hook_timeout,
            after=self._dispatch_event,
        )
        self._dispatcher = Dispatcher(self.pm, self.stats, settings.hook_timeout)
        self._phases = Phases()
        self._loader = Loader(
            self,
            autoload=autoload
            and settings.autoload
            and os.environ.get("PLUGYARD_DISABLE_AUTOLOAD") != "1",
            objects=named(plugins),
            adapters=named(adapters),
        )
        self._control = PluginControl(
            self.registry,
            self.stats,
            self.set_plugin_state,
            startup_timeout=settings.startup_timeout,
            shutdown_timeout=settings.shutdown_timeout,
        )
        self._lifespan = Lifespan(self.bus, self._dispatcher, self._control, self._loader, settings)
        self._extensions: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self.runtime_dir = settings.runtime_dir or default_runtime_dir(self.name)
        self._facts = HostFacts(self.runtime_dir, self.name, self.id, self.config.path)
        self.pm.hook.plugyard_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        self.pm.register(CorePlugin(self), name=CORE_PLUGIN)
        self._reloader = Reloader(self, self._lifespan, watch=settings.watch)
        self.pm.register(self._reloader, name=RELOAD_PLUGIN)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Host:
        """A host configured from ``plugyard.toml`` or ``[tool.plugyard]`` in a pyproject."""
        return cls(Config.from_file(path), **kwargs)

    def __repr__(self) -> str:
        return f"<Host {self.name!r} {self.phase}, {len(self.registry)} plugins>"

    # -- state ----------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        """Where the host is in its life (new, loading, loaded, starting, started ...)."""
        return self._phases.current

    @property
    def running(self) -> bool:
        """Whether the host has started and not yet begun to stop."""
        return self._phases.current is Phase.STARTED

    @property
    def plugins(self) -> list[PluginRecord]:
        """Every adapter and plugin the host knows, whatever its model."""
        return list(self.registry)

    @property
    def processes(self) -> Supervisor:
        """The process supervisor shared by adapters that run plugins out of process."""
        return self._lifespan.processes(self.publish, self.config.host.python_path)

    @property
    def advertised(self) -> dict[str, Any]:
        """Facts adapters published with :meth:`advertise` (endpoints, ``http_url`` ...)."""
        return dict(self._facts.advertised)

    def advertise(self, key: str, value: Any) -> None:
        """Publish a fact in the runtime folder's ``host.json`` (e.g. an endpoint for clients)."""
        self._facts.advertise(key, value, write=self.running)

    # -- plugins --------------------------------------------------------------------------

    def add_plugin_spec(self, spec: PluginSpec) -> None:
        """Have the host load one more plugin (from ``plugyard_configure``), so that filters,
        registry records and loading work for it as for any plugin."""
        if self.phase is not Phase.LOADING:
            raise PhaseError("add_plugin_spec() is for plugyard_configure, before plugins load")
        self._loader.add_spec(spec)

    def add_plugin_group(self, group: str, model: str | None = None) -> None:
        """Also discover plugins of ``model`` in entry-point group ``group``."""
        self._loader.add_group(group, model)

    def add_plugin(
        self,
        name: str,
        handle: PluginHandle,
        *,
        source: str,
        version: str | None = None,
        started: bool = False,
        filtered: bool = True,
        target: str | None = None,
    ) -> PluginRecord:
        """Record a plugin an adapter meets at run time (a blueprint's plugin, a pod run's
        plugin), or a record of its own (a deployment, a run: ``filtered=False``).

        It is listed, started and stopped by name like any other; ``started=True`` records
        one that already runs. ``[host] enabled`` and ``disabled`` apply unless
        ``filtered=False``: a plugin they exclude is recorded as disabled, without its handle.
        """
        record = self._loader.add_runtime(name, handle, source, version, filtered, target)
        if started and record.state is PluginState.LOADED:
            self._control.started.append(name)
            return self.set_plugin_state(name, PluginState.STARTED)
        return record

    def blocked_reason(self, name: str) -> str | None:
        """Why ``[host] enabled`` or ``disabled`` keep plugin ``name`` from loading, or ``None``."""
        return self._loader.blocked_reason(name)

    def set_plugin_state(
        self, name: str, state: PluginState, error: str | None = None
    ) -> PluginRecord:
        """Move a plugin to ``state`` (with the reason, for failed and disabled); the one
        way any plugin's state changes. A change the registry's transition table does not
        allow raises :class:`~plugyard.host.InvalidTransition`."""
        return self.registry.transition(name, state, error)

    async def start_plugin(self, name: str) -> PluginRecord:
        """Start one plugin by name, whatever its model."""
        return await self._control.start(name)

    async def stop_plugin(self, name: str) -> PluginRecord:
        """Stop one plugin by name; stopping a plugin that is not running does nothing."""
        return await self._control.stop(name)

    async def remove_plugin(self, name: str) -> None:
        """Stop one plugin if it runs, then take it out of the registry."""
        await self._control.remove(name)

    async def restart_plugin(self, name: str) -> PluginRecord:
        """Stop then start one plugin (a failed one with a handle too); an adapter reruns its
        ``plugyard_shutdown`` and ``plugyard_startup``, reconnecting what it holds."""
        return await self._lifespan.restart(name, self)

    # -- events, hooks, commands ----------------------------------------------------------

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

    async def wait_delivered(self, event: Event | int, *, timeout: float | None = 10.0) -> None:
        """Wait until ``event`` (or the event of that ``seq``) has been handed to every
        subscriber and ``plugyard_event`` implementation; ``TimeoutError`` after ``timeout``."""
        await self.bus.wait_delivered(event if isinstance(event, int) else event.seq, timeout)

    async def run_command(self, name: str, /, **props: Any) -> dict[str, Any]:
        """Run a command; returns its reply fields or raises :class:`CommandError`."""
        return await self.commands.call(name, props)

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Host:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def load(self) -> None:
        """Discover and load adapters and plugins without starting anything. A load that
        fails (a ``ConfigError``) is undone, so ``load()`` may be called again."""
        if self.phase is not Phase.NEW:
            return
        ensure_runtime_dir(self.runtime_dir, self.config.where)
        self._phases.move(Phase.LOADING)
        try:
            await self._loader.load()
        except BaseException:
            self._phases.move(Phase.NEW)
            raise
        self._phases.move(Phase.LOADED)

    @contextlib.asynccontextmanager
    async def loaded(self) -> AsyncIterator[Host]:
        """A loaded host whose event stream runs, with no plugin started (``plugyard lifecycle
        install`` runs workflows on one: wrappers, event observers, commands and the registry
        are there). Events still queued on exit are delivered first."""
        await self.load()
        await self.bus.start()
        try:
            yield self
        finally:
            await self.bus.stop(self.config.host.shutdown_timeout)

    async def start(self) -> None:
        """Load, run ``plugyard_startup``, start every plugin, run ``plugyard_started``,
        then publish ``host.started``."""
        if self.phase is Phase.STARTED:
            return
        if self.phase in (Phase.STOPPING, Phase.STOPPED):
            raise PhaseError("a Host runs once; create a new Host to start again")
        await self.load()
        self._phases.move(Phase.STARTING)
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        await self._lifespan.start(self)
        self._phases.move(Phase.STARTED)
        self._facts.started_at = time.time()
        self._facts.write()
        self.publish("host.started", name=self.name, id=self.id, pid=os.getpid())

    async def stop(self) -> None:
        """Stop plugins, run ``plugyard_shutdown``, stop processes and events, in that order."""
        if not self._phases.allows(Phase.STOPPING):
            return
        self._phases.move(Phase.STOPPING)
        self.publish("host.stopping", name=self.name, id=self.id)
        await self._lifespan.stop()
        self._facts.remove()
        self._phases.move(Phase.STOPPED)

    async def serve(self, *, ready: Callable[[Host], Any] | None = None) -> None:
        """Run until SIGINT, SIGTERM or :meth:`request_stop`, then shut down gracefully."""
        await self.start()
        try:
            with stop_signals(self._stop_requested) as stop:
                if ready is not None:
                    result = ready(self)
                    if inspect.isawaitable(result):
                        await result
                await stop.wait()
        finally:
            await self.stop()

    async def wait_for_stop(self) -> None:
        """On a started host: wait for SIGINT, SIGTERM or :meth:`request_stop` (the host
        keeps running; call :meth:`stop` after)."""
        with stop_signals(self._stop_requested) as stop:
            await stop.wait()

    def request_stop(self) -> None:
        """Ask :meth:`serve` to shut the host down (thread-safe)."""
        if self._stop_requested is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_requested.set)

    @property
    def started_at(self) -> float | None:
        """When the host finished starting (``time.time()``), or ``None``."""
        return self._facts.started_at

    def run(self) -> None:
        """Serve from synchronous code (``asyncio.run(host.serve())``)."""
        asyncio.run(self.serve())

    # -- internals ------------------------------------------------------------------------

    def _on_state_change(self, record: PluginRecord, previous: PluginState | None) -> None:
        self.bus.publish(*state_event(record, previous), "host")

    def _dispatch_event(self, event: Event) -> Awaitable[Outcome] | None:
        if self._dispatcher.has_implementations("plugyard_event"):
            return self._dispatcher.acall("plugyard_event", {"host": self, "event": event})
        return None
