"""Request ids and a ``monitoring_event`` after every request, whoever answered it."""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from plugyard.adapters.asyncio import AsyncioService
from plugyard.sdk.events import MonitoringPoint

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from plugyard.host import Host

__all__ = ["REQUEST_ID_HEADER", "RequestMonitor"]

logger = logging.getLogger("embedding_app")

REQUEST_ID_HEADER = b"x-request-id"


def _incoming_id(scope: Scope) -> str | None:
    """The caller's ``X-Request-Id`` if it is usable (1 to 64 ASCII characters)."""
    for key, value in scope.get("headers", ()):
        if key == REQUEST_ID_HEADER and 0 < len(value) <= 64 and value.isascii():
            return str(value.decode())
    return None


class RequestMonitor:
    """ASGI middleware: give each request an id, then emit its monitoring point.

    The id is the caller's ``X-Request-Id`` or a new one. It is put back into the request's
    headers, so the host's own routes (which read that header) use the same id, and it is
    returned on every response. Once the response is sent, one ``MonitoringPoint`` goes out
    as ``monitoring_event``: tags ``service``, ``method``, ``path``, ``route`` and ``status``,
    field ``duration`` in seconds. Emitting never blocks and never fails the request.
    """

    def __init__(self, app: ASGIApp, *, host: Host, service: str) -> None:
        self.app = app
        self.host = host
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex[:16]
        headers = [(k, v) for k, v in scope.get("headers", ()) if k != REQUEST_ID_HEADER]
        headers.append((REQUEST_ID_HEADER, request_id.encode()))
        state = {**scope.get("state", {}), "request_id": request_id}
        scope = {**scope, "headers": headers, "state": state}
        status = 500  # what the client gets if the app raises before answering
        started, clock = time.time(), time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = list(message.get("headers", []))
                if not any(key.lower() == REQUEST_ID_HEADER for key, _ in out):
                    out.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": out}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._emit(scope, request_id, status, started, time.perf_counter() - clock)

    def _emit(
        self, scope: Scope, request_id: str, status: int, started: float, duration: float
    ) -> None:
        if not self.host.running:
            return
        route: Any = scope.get("route")
        point = MonitoringPoint(
            request_id=request_id,
            event_time=started,
            tags={
                "service": self.service,
                "method": scope["method"],
                "path": scope["path"],
                "route": getattr(route, "path", None),
                "status": status,
            },
            fields={"duration": duration},
        )
        try:
            AsyncioService.of(self.host).emit("monitoring_event", points=[point])
        except Exception:
            logger.exception(
                "monitoring_event for %s %s (request id %s) was not emitted",
                scope["method"],
                scope["path"],
                request_id,
            )
