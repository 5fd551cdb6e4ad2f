"""Serving the host's ASGI app with uvicorn, inside the host's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from plugyard.host import HttpLimits

__all__ = ["HttpServer"]

logger = logging.getLogger("plugyard.adapters.asyncio.http")


class HttpServer:
    """A uvicorn server on a socket bound at startup, serving once the host has started.

    Binding first gives the real port (``port = 0`` picks a free one) before plugins start;
    connections made before serving begins wait in the listen backlog. uvicorn's signal
    handling is left out: the host owns SIGINT and SIGTERM and stops the server itself. The
    server keeps ``limits`` (connections, header and body time, body size; see
    :class:`plugyard.host.HttpLimits`).
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        log_level: str = "warning",
        limits: HttpLimits | None = None,
    ) -> None:
        from plugyard.host import HttpLimits

        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.limits = limits or HttpLimits()
        self._socket: socket.socket | None = None
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the bound port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def bind(self) -> str:
        """Bind and listen; returns the URL. Raises ``OSError`` naming the address."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno, f"[http] cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        sock.listen(2048)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._socket = sock
        return self.url

    def serve(self) -> None:
        """Start serving on the bound socket (a task on the running loop)."""
        if self._task is not None or self._socket is None:
            return
        import uvicorn

        from plugyard.host import uvicorn_config

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        config = uvicorn_config(
            self.app,
            self.limits,
            log_config=None,
            log_level=self.log_level,
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(
            self._server.serve(sockets=[self._socket]), name="plugyard-http"
        )
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("HTTP server on %s stopped: %s", self.url, task.exception())

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish in-flight requests (up to ``timeout``), then close the socket."""
        task, self._task = self._task, None
        if task is not None and self._server is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                self._server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            except Exception:
                logger.debug("HTTP server ended with an error", exc_info=True)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
