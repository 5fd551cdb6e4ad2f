"""Request monitoring: one ``monitoring_event`` per HTTP request, with LUNA's point shape.

The point's tags are ``service`` (the host's name), ``route`` (``METHOD:/path``, the route's
template when one matched) and ``status_code``; its fields are ``request_id`` and
``execution_time`` (seconds); its ``event_time`` is when the request started (Unix time).
Nothing is built when no plugin handles the event and it is not published.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from plugyard.sdk.events import MonitoringPayload, MonitoringPoint

if TYPE_CHECKING:
    from ._hub import EventHub

__all__ = ["MONITORING_EVENT", "RequestMonitor"]

logger = logging.getLogger("plugyard.adapters.asyncio.http")

MONITORING_EVENT = "monitoring_event"


class RequestMonitor:
    """Called by the HTTP middleware when a request ends; emits its monitoring point."""

    __slots__ = ("_event", "_hub", "_service")

    def __init__(self, hub: EventHub, service: str, event: str = MONITORING_EVENT) -> None:
        self._hub = hub
        self._service = service
        self._event = event

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
        hub = self._hub
        if not hub.wanted(self._event):
            return
        route = scope.get("route")
        path = getattr(route, "path", None) or scope.get("path", "")
        point = MonitoringPoint(
            request_id,
            started,
            {
                "service": self._service,
                "route": f"{scope.get('method', '')}:{path}",
                "status_code": status,
            },
            {"request_id": request_id, "execution_time": duration},
        )
        hub.emit_payload(self._event, MonitoringPayload([point]))
