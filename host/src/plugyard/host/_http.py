"""The limits every plugyard HTTP server keeps, whichever adapter runs it.

An HTTP server is reachable by every local account (and more, with ``allow_remote``), so none
may be exhausted by clients that connect and say nothing, send headers forever, or post a
body the size of the disk. :func:`uvicorn_config` builds a uvicorn configuration that:

- accepts at most ``max_connections`` connections at once; one more is answered 503 and closed;
- closes a connection whose request headers are not complete ``header_timeout`` seconds
  after it opened (or after its last response), or that sends more than
  ``max_header_size`` bytes of headers (431);
- answers 413 to a body over ``max_body_size`` (before reading it when ``Content-Length``
  says so) and 408 to a body that stalls for ``body_timeout`` seconds;
- closes a kept-alive connection idle for ``keepalive_timeout`` seconds;
- sets ``TCP_NODELAY`` on every connection, so a response never waits for a delayed ACK.

uvicorn and Starlette are imported only when a server is built: the host does not need them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

__all__ = ["BodyLimit", "HttpLimits", "uvicorn_config"]

logger = logging.getLogger("plugyard.host.http")

ASGIApp = Any  # (scope, receive, send) -> awaitable; typed loosely to keep Starlette optional


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Connection, time and size limits of one HTTP server (see the module's docstring)."""

    max_connections: int = 256
    """Connections open at once; one more gets a 503 and is closed."""
    header_timeout: float = 10.0
    """Seconds a connection may take to send a request's headers."""
    max_header_size: int = 16 * 1024
    """Bytes of request line and headers; more is answered 431 and closed."""
    body_timeout: float = 30.0
    """Seconds a request body may stall between two chunks; then 408."""
    max_body_size: int = 16 * 1024 * 1024
    """Bytes of request body; more is answered 413."""
    keepalive_timeout: float = 5.0
    """Seconds an idle kept-alive connection stays open."""


class BodyLimit:
    """ASGI middleware: a body over ``max_size`` bytes gets 413, one that stalls for
    ``timeout`` seconds gets 408; the app never sees more than ``max_size`` bytes.

    The answer is sent as soon as the limit is crossed; the app's ``receive`` then raises an
    HTTP error (Starlette's ``HTTPException`` where Starlette is installed, so that the app
    treats it as the client's fault), and whatever the app still sends is dropped.
    """

    def __init__(self, app: ASGIApp, max_size: int, timeout: float | None = None) -> None:
        self.app = app
        self.max_size = max_size
        self.timeout = timeout
        self._error = _client_error_type()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reply(send, 400, "Content-Length is not a number")
                    return
                if declared > self.max_size:
                    await self._drain(receive, declared)
                    await _reply(send, 413, self._too_large())
                    return
        received = 0
        started = answered = False

        async def refuse(status: int, error: str, more_body: bool) -> Exception:
            nonlocal answered
            if not started and not answered:
                answered = True
                if more_body:
                    await self._drain(receive, None)
                await _reply(send, status, error)
            return self._error(status, error)

        async def limited_receive() -> Any:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                stalled = f"the request body stalled for {self.timeout:g} s"
                raise await refuse(408, stalled, False) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_size:
                    more = bool(message.get("more_body", False))
                    raise await refuse(413, self._too_large(), more)
            return message

        async def watched_send(message: Any) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except self._error:
            if not answered:
                raise

    async def _drain(self, receive: Any, declared: int | None) -> None:
        """Read and drop what the client still sends (at most a few times the limit) before
        answering: a connection closed with unread data is reset, and the client would lose
        the answer. A bigger declared body is not read at all."""
        budget = 4 * self.max_size
        if declared is not None and declared > budget:
            return
        while budget > 0:
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                return
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    def _too_large(self) -> str:
        return f"the request body is over the limit of {self.max_size} bytes"


class _LimitError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def _client_error_type() -> type[Exception]:
    """Starlette's ``HTTPException`` (a client error to Starlette apps), else our own."""
    try:
        from starlette.exceptions import HTTPException
    except ImportError:
        return _LimitError
    return HTTPException


async def _reply(send: Any, status: int, error: str) -> None:
    body = json.dumps({"error": error, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _canned(status: int, reason: str) -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".encode()


def _guarded_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with a connection cap, a header deadline and TCP_NODELAY."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol

    class Guarded(base):  # type: ignore[misc]
        _timer: asyncio.TimerHandle | None = None
        _armed_for: Any = None
        _header_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                logger.warning(
                    "HTTP connection refused: %d open, the limit is %d",
                    len(self.connections) - 1,
                    limits.max_connections,
                )
                transport.write(_canned(503, "Service Unavailable"))
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            waiting = before is None or before.response_complete
            super().data_received(data)
            if not waiting:
                return
            if self.cycle is before:  # still no complete request line and headers
                self._header_bytes += len(data)
                if self._header_bytes > limits.max_header_size:
                    self._drop(431, "Request Header Fields Too Large")
                    return
                self._arm()
            else:
                self._header_bytes = 0

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._header_bytes = 0

        def connection_lost(self, exc: Exception | None) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._timer is not None and self._armed_for is not self.cycle:
                self._timer.cancel()  # armed while an earlier request was being read
                self._timer = None
            if self._timer is None:
                self._armed_for = self.cycle
                self._timer = self.loop.call_later(limits.header_timeout, self._deadline)

        def _deadline(self) -> None:
            self._timer = None
            cycle = self.cycle
            if cycle is not self._armed_for:
                return  # a request came in time
            if cycle is None or (cycle.response_complete and self._header_bytes):
                self._drop(408, "Request Timeout")

        def _drop(self, status: int, reason: str) -> None:
            if not self.transport.is_closing():
                self.transport.write(_canned(status, reason))
                self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


def uvicorn_config(app: ASGIApp, limits: HttpLimits, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` serving ``app`` within ``limits``; ``options`` go to uvicorn."""
    import uvicorn

    return uvicorn.Config(
        BodyLimit(app, limits.max_body_size, limits.body_timeout),
        http=_guarded_protocol(limits),
        timeout_keep_alive=max(1, round(limits.keepalive_timeout)),
        h11_max_incomplete_event_size=limits.max_header_size,
        **options,
    )
