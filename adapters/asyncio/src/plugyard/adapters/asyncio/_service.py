"""One host's asyncio model (``AsyncioService.of(host)``): plugins, declared event types,
routes, task tracking and the HTTP server."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from plugyard.host import (
    ConfigError,
    PluginLoadError,
    PluginSpec,
    PluginState,
    Service,
    directory_spec,
)
from plugyard.sdk.events import MonitoringPayload, SendingPayload

from ._http import BUILTIN, AsgiApp, RouteTable, build_app, plugin_gate, to_route
from ._hub import EmitResult, EventHub
from ._mailbox import Mailbox
from ._monitoring import MONITORING_EVENT, RequestMonitor
from ._plugins import AsyncioHandle, plugin_classes
from ._settings import AsyncioSettings, HttpSettings
from ._tasks import install_task_factory

if TYPE_CHECKING:
    from plugyard.host import Host

    from ._server import HttpServer

__all__ = ["AsyncioService"]

logger = logging.getLogger("plugyard.adapters.asyncio")

HTTP_TOKEN_FILE = "http.token"

# The host gives plugyard_startup 10 s per adapter; initialising plugins must fit inside it.
STARTUP_BUDGET = 9.0


class AsyncioService(Service):
    """Everything the asyncio adapter keeps for one host, and what an application uses.

    Example::

        service = AsyncioService.of(host)
        service.event_types.declare("order_placed", OrderPlaced)
        result = await service.emit_and_wait("order_placed", order_id=1)
        app = service.asgi_app  # mount it, or let [http] serve it
    """

    name = "asyncio"
    legacy_attributes = {
        "events": "event_types",
        "emit": "emit",
        "emit_and_wait": "emit_and_wait",
        "asgi_app": "asgi_app",
    }

    def __init__(self, host: Host, settings: AsyncioSettings, http: HttpSettings | None) -> None:
        self.host = host
        self.settings = settings
        self.http = http
        self.hub = EventHub(host)
        self._unsubscribe_relay: Callable[[], None] | None = None
        self.routes = RouteTable()
        self.asgi = AsgiApp()
        self.handles: dict[str, AsyncioHandle] = {}
        self._monitor: RequestMonitor | None = None
        self.server: HttpServer | None = None
        self._states: dict[str, SimpleNamespace] = {}
        self._restore_factory: Any = None
        self._http_stopped = False
        self._luna = False
        token = self.http_settings.token
        self.http_token = token.get_secret_value() if token else secrets.token_urlsafe(32)
        self._token_file: Path | None = None

    @property
    def http_settings(self) -> HttpSettings:
        """``[http]``, or its defaults when the section is absent (an application serving
        ``host.asgi_app`` itself)."""
        return self.http if self.http is not None else HttpSettings.model_validate({})

    @property
    def event_types(self) -> EventHub:
        """The declared event types: ``declare(...)``, ``describe()``, and emitting."""
        return self.hub

    @property
    def asgi_app(self) -> AsgiApp:
        """The host's ASGI application (plugin routes, ``plugyard_routes``, ``/health``)."""
        return self.asgi

    def emit(self, event: str, /, **payload: Any) -> str:
        """Queue a declared event for its plugins; returns the event id at once."""
        return self.hub.emit(event, **payload)

    async def emit_and_wait(self, event: str, /, **payload: Any) -> EmitResult:
        """Emit a declared event and wait until every plugin of it has handled it."""
        return await self.hub.emit_and_wait(event, **payload)

    # -- configuration ------------------------------------------------------------------------

    def declare_configured(self) -> None:
        """Declare the event types listed in ``[asyncio.events]``."""
        where = self.host.config.where
        for name, entry in self.settings.events.items():
            try:
                payload = _import(entry.type)
                self.hub.declare(name, payload, overflow=entry.overflow, publish=entry.publish)
            except (ImportError, AttributeError, TypeError, ValueError) as exc:
                raise ConfigError(f"{where}: asyncio.events.{name}: {exc}") from None
        if (
            self.http is not None
            and self.http.monitors_requests
            and MONITORING_EVENT not in self.hub
        ):
            self.hub.declare(MONITORING_EVENT, MonitoringPayload, publish=False)

    def load_directory_plugins(self) -> None:
        """Hand the deprecated ``[asyncio] active_plugins`` (found by file name in its
        ``plugin_dirs``) to the host, as ``[host] active_plugins`` would.

        The host then filters, records and loads them like any other plugin, and this
        adapter's ``plugyard_load_plugin`` claims them.
        """
        config = self.host.config
        if self.settings.plugin_dirs or self.settings.active_plugins:
            logger.warning(
                "%s: [asyncio] plugin_dirs and active_plugins are deprecated; move them to "
                "[host] plugin_dirs and active_plugins (one setting for every model)",
                config.where,
            )
        dirs = [d if d.is_absolute() else config.base_dir / d for d in self.settings.plugin_dirs]
        where = f"{config.where} [asyncio] active_plugins"
        specs = [directory_spec(name, dirs, where) for name in self.settings.active_plugins]
        folder = config.host
        specs_of_host = [
            directory_spec(name, folder.plugin_dirs, where) for name in folder.active_plugins
        ]
        found = [spec.path for spec in (*specs_of_host, *specs) if spec.path is not None]
        self._luna_compat(found)
        for spec in specs:
            self.host.add_plugin_spec(spec)

    def _luna_compat(self, files: list[Path]) -> None:
        """Supply LUNA's module names if ``luna_compat`` says so, or (unset) if an active
        plugin file (``[host]`` or ``[asyncio]`` plugin folders) imports them; LUNA's two
        event types are declared if nobody has."""
        wanted = self.settings.luna_compat
        if wanted is False:
            return
        from .compat import luna

        if wanted is None:
            luna_files = [path for path in files if luna.is_luna_plugin(path)]
            if not luna_files:
                return
            logger.info(
                "LUNA plugin files found (%s): supplying LUNA's module names",
                ", ".join(path.name for path in luna_files),
            )
        luna.activate()
        self._luna = True
        for name, payload in (
            ("monitoring_event", MonitoringPayload),
            ("sending_event", SendingPayload),
        ):
            if name not in self.hub:
                self.hub.declare(name, payload, publish=name != MONITORING_EVENT)

    def _fail(self, name: str, reason: str, exc: BaseException | None = None) -> None:
        logger.error("plugin %r: %s", name, reason, exc_info=exc, extra={"plugin": name})
        self.host.set_plugin_state(name, PluginState.FAILED, reason)

    def load(self, spec: PluginSpec) -> AsyncioHandle | None:
        """A handle for ``spec`` if it is an event or background plugin, else ``None``."""
        found = plugin_classes(spec.load())
        if not found:
            return None
        if len(found) > 1:
            names = ", ".join(cls.__qualname__ for cls in found)
            raise PluginLoadError(
                f"plugin {spec.name!r}: {spec.source} defines several plugin classes ({names}); "
                f"name one with [plugins.{spec.name}] use = 'module:Class'"
            )
        handle = AsyncioHandle(self, spec.name, found[0], spec.options)
        self.handles[spec.name] = handle
        return handle

    # -- what plugins reach through ``app`` ---------------------------------------------------

    def state_of(self, plugin: str) -> SimpleNamespace:
        """The shared state namespace of ``plugin``."""
        found = self._states.get(plugin)
        if found is None:
            found = self._states[plugin] = SimpleNamespace()
        return found

    def instance(self, name: str) -> Any:
        """The instance of plugin ``name``."""
        handle = self.handles.get(name)
        if handle is None:
            known = ", ".join(sorted(self.handles)) or "none"
            raise KeyError(f"no event or background plugin named {name!r} (known: {known})")
        return handle.instance

    def add_routes(self, plugin: str, routes: Iterable[Any]) -> None:
        """Add routes owned by ``plugin`` (a clash raises, naming both owners)."""
        self.routes.add(plugin, list(routes), gate=self._gate)

    def _gate(self, owner: str, path: str, app: Any) -> Any:
        def started(name: str) -> bool:
            handle = self.handles.get(name)
            return handle is not None and handle.started

        def count(name: str) -> None:
            self.host.stats[name].errors += 1

        return plugin_gate(started, count)(owner, path, app)

    def mailbox_for(self, handle: AsyncioHandle) -> Mailbox:
        """A new mailbox for an event plugin, with its delivery settings."""
        delivery = self.settings.delivery.get(handle.name)
        size = (delivery.queue_size if delivery else None) or self.settings.queue_size
        timeout = delivery.handler_timeout if delivery else None
        if timeout is None:
            timeout = self.settings.handler_timeout
        handler = handle.instance.handle_event
        target = getattr(handler, "forwards_to", None)  # a base's handle_event that only
        if isinstance(target, str):  # passes its keyword arguments on: call the target
            handler = getattr(handle.instance, target)
        params = inspect.signature(handler).parameters
        return Mailbox(
            handle.name,
            handler,
            maxsize=size,
            timeout=timeout or None,
            stats=self.host.stats[handle.name],
            log=handle.app.logger,
            wants_logger="logger" in params,
            wants_origin="origin" in params,
            on_drop=self.hub.note_drop,
            on_failure=self.hub.note_failure,
        )

    def task_died(self, plugin: str, task: str, reason: str) -> None:
        """Record a dead background task against its plugin."""
        self.host.stats[plugin].errors += 1
        if plugin in self.host.registry:
            self.host.registry.update(plugin, error=f"background task {task!r} died: {reason}")
        self.host.publish_event(
            f"asyncio.{plugin}.task_died",
            {"plugin": plugin, "task": task, "error": reason},
            source="asyncio",
        )

    # -- life cycle -----------------------------------------------------------------------------

    async def startup(self) -> None:
        """Initialise every plugin in load order, assemble the ASGI app, bind the server."""
        loop = asyncio.get_running_loop()
        self.hub.bind(loop)
        self._unsubscribe_relay = self.host.subscribe("events.*", self.hub.relay, name="asyncio")
        self._restore_factory = install_task_factory(loop)
        await self._initialise_all()
        await self._assemble()
        if self.http is not None and self.http.enabled:
            from ._server import HttpServer

            self.server = HttpServer(
                self.asgi,
                self.http.host,
                self.http.port,
                log_level=self.http.log_level,
                limits=self.http.limits(),
            )
            url = self.server.bind()
            self.host.advertise("http_url", url)
            self._write_http_token()

    def serve(self) -> None:
        """Begin answering HTTP requests (the socket was bound at startup)."""
        if self.server is not None and not self._http_stopped:
            self.server.serve()

    async def _initialise_all(self) -> None:
        deadline = time.monotonic() + STARTUP_BUDGET
        for name, handle in self.handles.items():
            if self.host.registry.get(name).state is not PluginState.LOADED:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(name, "initialize() not run: plugin initialisation took too long")
                continue
            try:
                await handle.initialize(min(self.settings.initialize_timeout, remaining))
            except Exception as exc:
                self._fail(name, f"initialize() failed: {type(exc).__name__}: {exc}", exc)

    def forget_plugin(self, name: str) -> None:
        """Take an unloaded plugin's routes and handle away (the app is rebuilt)."""
        self.handles.pop(name, None)
        if name in self.routes.owners():
            self.routes.remove(name)
            self.refresh_app()

    def refresh_app(self) -> None:
        """Rebuild the assembled ASGI app from the route table (a plugin came or went)."""
        if self.asgi.app is None:
            return
        self.routes.remove(BUILTIN)
        self.asgi.app = build_app(
            self.host,
            self.routes,
            self.describe_plugins,
            request_id_header=self.http_settings.request_id_header,
            on_request=self._monitor,
            check_token=self.check_http_token,
        )

    async def _assemble(self) -> None:
        outcome = await self.host.call_hook("plugyard_routes", host=self.host)
        for result in outcome.results:
            try:
                routes = [
                    to_route(r, where=f"{result.plugin} (plugyard_routes)") for r in result.value
                ]
                self.routes.add(result.plugin, routes, gate=None)
            except (TypeError, ValueError) as exc:
                logger.error("routes of %r left out: %s", result.plugin, exc)
        http = self.http_settings
        monitor = None
        if self.http is not None and http.monitors_requests:
            monitor = RequestMonitor.for_hub(self.hub, self.host.name)
        if self._monitor is not None:
            self._monitor.flush()
        self._monitor = monitor
        self.asgi.app = build_app(
            self.host,
            self.routes,
            self.describe_plugins,
            request_id_header=http.request_id_header,
            on_request=self._monitor,
            check_token=self.check_http_token,
        )

    def check_http_token(self, offered: str | None) -> bool:
        """Whether ``offered`` is the HTTP token (compared in constant time)."""
        return bool(offered) and secrets.compare_digest(str(offered), self.http_token)

    def _write_http_token(self) -> None:
        path = Path(self.host.runtime_dir) / HTTP_TOKEN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.http_token)
        self._token_file = path
        self.host.advertise("http_token_file", str(path))

    def describe_plugins(self) -> list[dict[str, Any]]:
        """The host's registry with this model's details and counters, for ``/plugins``."""
        found = []
        for record in self.host.plugins:
            entry = record.to_dict()
            handle = self.handles.get(record.name)
            if handle is not None:
                entry["details"] = handle.describe()
            if record.model != "adapter":
                entry["stats"] = self.host.stats[record.name].to_dict()
            found.append(entry)
        return found

    async def before_plugin_stop(self) -> None:
        """At host shutdown, stop serving HTTP before the first plugin closes."""
        if not self.host.running:
            await self.stop_http()

    async def stop_http(self) -> None:
        """Stop the HTTP server (in-flight requests finish first)."""
        self._http_stopped = True
        if self.server is not None:
            server, self.server = self.server, None
            await server.stop()
        if self._token_file is not None:
            self._token_file.unlink(missing_ok=True)
            self._token_file = None
        if self._monitor is not None:
            self._monitor.flush()  # the last requests' points, before the plugins stop

    async def shutdown(self) -> None:
        """Stop HTTP, report pending drops, restore the loop's task factory, and stop
        supplying LUNA's module names."""
        await self.stop_http()
        if self._unsubscribe_relay is not None:
            self._unsubscribe_relay()
            self._unsubscribe_relay = None
        self.hub.close()
        if self._luna:
            from .compat import luna

            self._luna = False
            luna.deactivate()
        if self._restore_factory is not None:
            self._restore_factory()
            self._restore_factory = None


def _import(target: str) -> Any:
    import importlib

    module_name, _, attr = target.partition(":")
    if not attr:
        module_name, _, attr = target.rpartition(".")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
