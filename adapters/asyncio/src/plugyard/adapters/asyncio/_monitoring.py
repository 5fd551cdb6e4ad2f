"""Request monitoring: one ``monitoring_event`` per HTTP request, with LUNA's point shape.

The point's tags are ``service`` (the host's name), ``route`` (``METHOD:/path``, the route's
template when one matched) and ``status_code``; its fields are ``request_id`` and
``execution_time`` (seconds); its ``event_time`` is when the request started (Unix time).
Nothing is built when no plugin handles the event and it is not published.

A request only leaves a small record behind; every few milliseconds (``FLUSH_DELAY``) the
records become points and events, one event per request, so the plugins' tasks wake once per
batch rather than once per request (what keeps monitoring's cost under 5 % of a request's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from plugyard.sdk.events import MonitoringPayload, MonitoringPoint

if TYPE_CHECKING:
    from ._hub import EventHub

__all__ = ["FLUSH_DELAY", "MONITORING_EVENT", "RequestMonitor"]

logger = logging.getLogger("plugyard.adapters.asyncio.http")

MONITORING_EVENT = "monitoring_event"
FLUSH_DELAY = 0.005
"""Seconds a finished request's record waits before its point is emitted (with the others)."""


class RequestMonitor:
    """Called by the HTTP middleware when a request ends; emits its monitoring point."""

    __slots__ = ("_event", "_flush", "_hub", "_pending", "_service")

    def __init__(self, hub: EventHub, service: str, event: str = MONITORING_EVENT) -> None:
        self._hub = hub
        self._service = service
        self._event = event
        self._pending: list[tuple[str, float, str, int, float]] = []
        self._flush: asyncio.TimerHandle | None = None

    @classmethod
    def for_hub(cls, hub: EventHub, service: str) -> RequestMonitor | None:
        """A monitor if ``monitoring_event`` is declared with plugyard's payload, else none
        (with a warning naming the type that was declared instead)."""
        if MONITORING_EVENT not in hub:
            return None
        payload = hub[MONITORING_EVENT].payload
        if payload is not MonitoringPayload:
            logger.warning(
                "request monitoring is off: event %r is declared with payload %s, not "
                "plugyard.sdk.events.MonitoringPayload",
                MONITORING_EVENT,
                f"{payload.__module__}.{payload.__qualname__}",
            )
            return None
        return cls(hub, service)

    def __call__(
        self,
        scope: MutableMapping[str, Any],
        request_id: str,
        status: int,
        started: float,
        duration: float,
    ) -> None:
        if not self._hub.wanted(self._event):
            return
        route = scope.get("route")
        path = getattr(route, "path", None) or scope.get("path", "")
        self._pending.append(
            (request_id, started, f"{scope.get('method', '')}:{path}", status, duration)
        )
        if self._flush is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush = loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Emit the points of the requests recorded so far (also called when HTTP stops)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        pending, self._pending = self._pending, []
        hub, event, service = self._hub, self._event, self._service
        each = [
            {
                "points": [
                    MonitoringPoint(
                        request_id,
                        started,
                        {"service": service, "route": route, "status_code": status},
                        {"request_id": request_id, "execution_time": duration},
                    )
                ]
            }
            for request_id, started, route, status, duration in pending
        ]
        try:
            if hub._emit_unpublished(event, each):
                return
        except Exception:
            logger.exception("emitting %d monitoring point(s) failed", len(each))
            return
        for kwargs in each:  # a published event type: each payload goes through the bus
            (point,) = kwargs["points"]
            try:
                hub.emit_payload(event, MonitoringPayload([point]))
            except Exception:
                logger.exception(
                    "request %s: emitting its monitoring point failed", point.request_id
                )
