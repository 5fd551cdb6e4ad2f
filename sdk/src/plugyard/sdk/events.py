"""Async event and background plugins: what a plugin author writes for the ``asyncio`` model.

An **event plugin** handles every event of one declared type::

    class Audit(EventPlugin):
        event_name = "monitoring_event"

        async def handle_event(self, points, logger):
            logger.info("%d points", len(points))

A **background plugin** runs work beside the host and may add HTTP routes::

    class Teapot(BackgroundPlugin):
        @route("/teapot", methods=["GET"])
        async def teapot(self, request):
            return PlainTextResponse("I am teapot", status_code=418)

        async def start(self):
            self.task = asyncio.create_task(self.boil())

Both are built once per host with the ``app`` object (:class:`PluginApp`), then
``initialize()``; background plugins are then ``start()``-ed; ``close()`` runs at shutdown.
The host runs them in its own asyncio loop (the ``plugyard-asyncio`` adapter). This module
imports no third-party library: route handlers use Starlette's request and response, which
the ``events`` extra installs.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

__all__ = [
    "ROUTE_ATTR",
    "BackgroundPlugin",
    "BaseEventSendingPlugin",
    "BaseRequestMonitoringPlugin",
    "EventPlugin",
    "MonitoringPayload",
    "MonitoringPoint",
    "PluginApp",
    "RouteSpec",
    "SendingPayload",
    "route",
]

ROUTE_ATTR = "__plugyard_routes__"
"""Attribute where :func:`route` records ``(path, methods)`` pairs on a function."""

RouteSpec = tuple[str, Any] | tuple[str, Any, Sequence[str]]
"""``(path, endpoint)`` or ``(path, endpoint, methods)``.

``endpoint`` is an async function taking a Starlette ``Request`` and returning a
``Response``, or a Starlette ``HTTPEndpoint`` class (one method per HTTP verb).
"""

_F = TypeVar("_F", bound=Callable[..., Any])


@runtime_checkable
class PluginApp(Protocol):
    """What the host gives every event and background plugin as ``app``.

    One object per plugin: its ``logger`` and ``config`` are that plugin's own.
    """

    @property
    def name(self) -> str:
        """The plugin's name in the host (its file name, entry-point or config name)."""

    @property
    def logger(self) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry the plugin's name."""

    @property
    def config(self) -> Mapping[str, Any]:
        """The plugin's options: the keys of its ``[plugins.NAME]`` table other than ``use``."""

    @property
    def events(self) -> Mapping[str, type]:
        """The event types the application declared: name to payload type."""

    @property
    def state(self) -> SimpleNamespace:
        """This plugin's shared state: other plugins reach it with :meth:`state_of`."""

    def state_of(self, plugin: str) -> SimpleNamespace:
        """The shared state of plugin ``plugin`` (made on first use, whatever the load order).

        This is how an event plugin hands work to a background plugin, e.g. batching
        monitoring points that the background plugin flushes.
        """

    def plugin(self, name: str) -> Any:
        """Another event or background plugin's instance; ``KeyError`` names the known ones."""

    def add_routes(self, routes: Iterable[RouteSpec]) -> None:
        """Add HTTP routes to the host's ASGI app (a path two plugins claim is an error)."""

    def emit(self, event_name: str, /, **payload: Any) -> str:
        """Emit a declared event to its plugins (queued; returns at once) and return its id."""


def route(path: str, *, methods: Sequence[str] | None = None) -> Callable[[_F], _F]:
    """Mark a background plugin's method as the handler of HTTP ``path``.

    The method takes a Starlette ``Request`` and returns a ``Response``; ``methods``
    defaults to ``["GET"]``. The routes are added when the plugin is built.
    """
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/', got {path!r}")
    verbs = tuple(m.upper() for m in (methods or ("GET",)))

    def mark(func: _F) -> _F:
        marks: list[tuple[str, tuple[str, ...]]] = list(getattr(func, ROUTE_ATTR, ()))
        marks.append((path, verbs))
        setattr(func, ROUTE_ATTR, marks)
        return func

    return mark


class _Plugin(abc.ABC):  # noqa: B024 - the abstract methods live in subclasses
    """What event and background plugins share: the ``app`` and the two life-cycle calls."""

    def __init__(self, app: PluginApp) -> None:
        self.app = app

    @property
    def logger(self) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        """The plugin's logger (``app.logger``)."""
        return self.app.logger

    async def initialize(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Prepare (open sessions, create buckets) before any event or request arrives.

        If it raises, the plugin is marked failed and its :meth:`close` is not called.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release what :meth:`initialize` acquired; called once at shutdown."""


class EventPlugin(_Plugin):
    """A plugin called for every event of type :attr:`event_name`.

    One instance lives for the life of the host; several plugins may handle one event type.
    Events reach :meth:`handle_event` one at a time, in emitting order, from the plugin's
    own queue: a slow plugin never delays another plugin or the emitter.
    """

    event_name: ClassVar[str]
    """The declared event type this plugin handles (``monitoring_event`` ...)."""

    @abc.abstractmethod
    async def handle_event(self, *args: Any, **payload: Any) -> None:
        """Handle one event; the payload's fields arrive as keyword arguments.

        Override it with the payload's fields as named parameters (type checkers accept any
        signature here).

        Name a ``logger`` parameter to also receive the plugin's logger for this event (its
        records carry the event id). An exception is logged with the plugin's name and the
        event id, counted, and the plugin goes on receiving events.
        """


class BackgroundPlugin(_Plugin):
    """A plugin that works beside the host: background tasks and HTTP routes.

    Tasks created during :meth:`initialize` or :meth:`start` (``asyncio.create_task``) are
    tracked by the host: cancelled when the plugin stops, and recorded if one dies.
    Methods marked with :func:`route` are added to the host's HTTP app when the plugin is
    built; ``app.add_routes([...])`` in ``__init__`` does the same for other handlers.
    """

    def __init__(self, app: PluginApp) -> None:
        super().__init__(app)
        routes: list[RouteSpec] = []
        for attr in dir(type(self)):
            marks = getattr(getattr(type(self), attr, None), ROUTE_ATTR, None)
            for path, methods in marks or ():
                routes.append((path, getattr(self, attr), methods))
        if routes:
            app.add_routes(routes)

    async def start(self) -> None:
        """Start background work and return at once (do not await the work itself)."""


# -- the two event types plugyard ships as examples of the pattern ---------------------------


@dataclass(slots=True)
class MonitoringPoint:
    """One monitoring point of a finished request."""

    request_id: str
    event_time: float
    tags: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class MonitoringPayload:
    """Payload of ``monitoring_event``: the points of one request, for a monitoring system."""

    points: list[MonitoringPoint]


@dataclass(slots=True)
class SendingPayload:
    """Payload of ``sending_event``: events a request produced, for a third-party receiver."""

    events: list[dict[str, Any]]
    handler_id: str
    account_id: str
    request_id: str
    create_event_time: str
    end_event_time: str


class BaseRequestMonitoringPlugin(EventPlugin):
    """Base of plugins that send request monitoring points to a monitoring system.

    Implement :meth:`flush_point_to_monitoring`; it is called after each request with the
    request's points. Declare the event with
    ``host.events.declare("monitoring_event", MonitoringPayload)``.
    """

    event_name = "monitoring_event"

    @abc.abstractmethod
    async def flush_point_to_monitoring(
        self,
        points: list[MonitoringPoint],
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        """Send one request's monitoring points."""

    async def handle_event(
        self,
        points: list[MonitoringPoint],
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        """Pass the points to :meth:`flush_point_to_monitoring`."""
        await self.flush_point_to_monitoring(points=points, logger=logger)

    # Unless a subclass overrides handle_event, the asyncio adapter calls
    # flush_point_to_monitoring itself, with the same arguments: one call less per request.
    handle_event.forwards_to = "flush_point_to_monitoring"  # type: ignore[attr-defined]


class BaseEventSendingPlugin(EventPlugin):
    """Base of plugins that send a request's events to a third-party receiver.

    Implement :meth:`send_events`; it is called after every successful request. Declare the
    event with ``host.events.declare("sending_event", SendingPayload)``.
    """

    event_name = "sending_event"

    @abc.abstractmethod
    async def send_events(
        self,
        events: list[dict[str, Any]],
        handler_id: str,
        account_id: str,
        request_id: str,
        create_event_time: str,
        end_event_time: str,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        """Send one request's events."""

    async def handle_event(
        self,
        events: list[dict[str, Any]],
        handler_id: str,
        account_id: str,
        request_id: str,
        create_event_time: str,
        end_event_time: str,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        """Pass the event data to :meth:`send_events`."""
        await self.send_events(
            events, handler_id, account_id, request_id, create_event_time, end_event_time, logger
        )
