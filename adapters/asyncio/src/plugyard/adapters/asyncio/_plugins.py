"""Event and background plugins in the host: the ``app`` each one gets, and its handle."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from plugyard.sdk import HandleBase
from plugyard.sdk.events import BackgroundPlugin, EventPlugin, RouteSpec

from ._tasks import TaskTracker, owner

if TYPE_CHECKING:
    from ._mailbox import Mailbox
    from ._service import AsyncioService

__all__ = ["PluginContext", "AsyncioHandle", "plugin_classes"]


def plugin_classes(obj: Any) -> list[type]:
    """The concrete event or background plugin classes ``obj`` is or defines (a module)."""
    bases = (EventPlugin, BackgroundPlugin)
    if inspect.isclass(obj):
        return [obj] if issubclass(obj, bases) and not inspect.isabstract(obj) else []
    if inspect.ismodule(obj):
        return [
            value
            for value in vars(obj).values()
            if inspect.isclass(value)
            and value.__module__ == obj.__name__
            and issubclass(value, bases)
            and not inspect.isabstract(value)
        ]
    return []


class PluginContext:
    """The ``app`` object of one plugin (see :class:`plugyard.sdk.events.PluginApp`)."""

    __slots__ = ("_engine", "config", "logger", "name")

    def __init__(self, engine: AsyncioService, name: str, options: Mapping[str, Any]) -> None:
        self._engine = engine
        self.name = name
        self.config: Mapping[str, Any] = MappingProxyType(dict(options))
        self.logger = logging.getLogger(f"plugyard.plugins.{name}")

    @property
    def events(self) -> Mapping[str, type]:
        """The declared event types: name to payload type."""
        return self._engine.hub.types

    @property
    def state(self) -> SimpleNamespace:
        """This plugin's shared state."""
        return self._engine.state_of(self.name)

    @property
    def host(self) -> Any:
        """The host itself, for what the ``app`` does not cover."""
        return self._engine.host

    def state_of(self, plugin: str) -> SimpleNamespace:
        """Another plugin's shared state (made on first use)."""
        return self._engine.state_of(plugin)

    def plugin(self, name: str) -> Any:
        """Another event or background plugin's instance."""
        return self._engine.instance(name)

    def add_routes(self, routes: Iterable[RouteSpec]) -> None:
        """Add HTTP routes owned by this plugin."""
        self._engine.add_routes(self.name, routes)

    def emit(self, event_name: str, /, **payload: Any) -> str:
        """Emit a declared event (queued); returns its id."""
        return self._engine.hub.emit(event_name, **payload)

    def __repr__(self) -> str:
        return f"<app of plugin {self.name!r}>"


class AsyncioHandle(HandleBase):
    """What the host drives: ``start`` initialises (if needed) and starts, ``stop`` stops
    delivery, cancels the plugin's tasks and closes it."""

    model = "asyncio"

    def __init__(
        self, engine: AsyncioService, name: str, cls: type, options: Mapping[str, Any]
    ) -> None:
        self.engine = engine
        self.name = name
        self.cls = cls
        self.kind = "event" if issubclass(cls, EventPlugin) else "background"
        self.app = PluginContext(engine, name, options)
        self.tracker = TaskTracker(name, self._task_died)
        self.initialised = False
        self.started = False
        self.mailbox: Mailbox | None = None
        self.event_name: str | None = getattr(cls, "event_name", None)
        if self.kind == "event":
            self._check_event_plugin()
        self.instance: Any = self._build()

    def _check_event_plugin(self) -> None:
        qual = self.cls.__qualname__
        if not isinstance(self.event_name, str) or not self.event_name:
            raise TypeError(f"plugin {self.name!r}: {qual} has no class attribute event_name")
        if not inspect.iscoroutinefunction(getattr(self.cls, "handle_event", None)):
            raise TypeError(f"plugin {self.name!r}: {qual}.handle_event must be 'async def'")

    def _build(self) -> Any:
        token = owner.set(self.tracker)
        try:
            return self.cls(self.app)
        except Exception:
            self.engine.routes.remove(self.name)
            raise
        finally:
            owner.reset(token)

    async def _in_plugin(self, what: str, timeout: float) -> None:
        """Run ``instance.<what>()`` as the plugin (its tasks are tracked) with a timeout."""
        call = getattr(self.instance, what)

        async def as_plugin() -> None:
            owner.set(self.tracker)
            await call()

        task = asyncio.get_running_loop().create_task(as_plugin(), name=f"{self.name}.{what}")
        try:
            async with asyncio.timeout(timeout):
                await task
        except TimeoutError:
            if task.cancelled() or not task.done():
                raise TimeoutError(f"{what}() did not finish within {timeout:g}s") from None
            raise

    async def initialize(self, timeout: float) -> None:
        """Run the plugin's ``initialize``; raises with the reason on failure."""
        if self.initialised:
            return
        await self._in_plugin("initialize", timeout)
        self.initialised = True

    async def start(self) -> None:
        """Initialise (after a stop) and start: the event queue, or the background work."""
        settings = self.engine.settings
        await self.initialize(settings.initialize_timeout)
        if self.kind == "event":
            box = self.mailbox or self.engine.mailbox_for(self)
            self.mailbox = box
            box.start(self._enter)
            assert self.event_name is not None
            self.engine.hub.subscribe(self.event_name, box)
        else:
            await self._in_plugin("start", self.engine.host.config.host.startup_timeout)
        self.started = True
        if self.name in self.engine.routes.owners():
            self.engine.refresh_app()  # a plugin loaded into a running host (a reload)

    async def stop(self) -> None:
        """Stop delivery, cancel tracked tasks, then ``close`` (if the plugin initialised)."""
        await self.engine.before_plugin_stop()
        self.started = False
        if self.mailbox is not None and self.event_name is not None:
            self.engine.hub.unsubscribe(self.event_name, self.mailbox)
            await self.mailbox.stop()
        left = await self.tracker.cancel_all()
        if left:
            self.app.logger.warning(
                "plugin %r: tasks still running after cancel: %s", self.name, ", ".join(left)
            )
        if self.initialised:
            self.initialised = False
            await self._in_plugin("close", self.engine.settings.close_timeout)

    def _enter(self) -> None:
        owner.set(self.tracker)

    def _task_died(self, task: str, reason: str) -> None:
        self.engine.task_died(self.name, task, reason)

    def describe(self) -> dict[str, Any]:
        """The plugin's kind, event, queue, routes and background tasks."""
        details: dict[str, Any] = {
            "kind": self.kind,
            "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
            "initialised": self.initialised,
            "routes": self.engine.routes.owners().get(self.name, []),
            "tasks": self.tracker.running(),
            "died": list(self.tracker.died),
        }
        if self.kind == "event":
            details["event"] = self.event_name
            details["declared"] = self.event_name in self.engine.hub
            details["queued"] = len(self.mailbox) if self.mailbox is not None else 0
        return details
