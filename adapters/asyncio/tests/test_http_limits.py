"""The HTTP server's limits: idle and slow connections are closed, connections beyond the
limit are refused, oversized and stalled bodies are answered 413 and 408, and responses are
never held back by Nagle's algorithm; the host keeps answering through all of it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from plugyard.adapters.asyncio import AsyncioAdapter
from plugyard.sdk.events import BackgroundPlugin, route
from plugyard.sdk.testing import run_host

pytestmark = pytest.mark.timeout(60)

LIMITS = {
    "max_connections": 8,
    "header_timeout": 0.5,
    "body_timeout": 0.5,
    "max_body_size": 4096,
    "max_header_size": 2048,
}


class Echo(BackgroundPlugin):
    @route("/echo", methods=["POST"])
    async def echo(self, request: Request) -> Response:
        return JSONResponse({"size": len(await request.body())})


class Served:
    def __init__(self, host: Any, adapter: AsyncioAdapter) -> None:
        self.host = host
        self.adapter = adapter
        parts = urlsplit(host.advertised["http_url"])
        self.url = host.advertised["http_url"]
        self.address = (parts.hostname or "", parts.port or 0)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(*self.address)

    def open_connections(self) -> int:
        return len(self.adapter.engine(self.host).server._server.server_state.connections)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    adapter = AsyncioAdapter()
    config = {"http": {"port": 0, **LIMITS}}
    async with run_host(plugins={"echo": Echo}, config=config, adapters=[adapter]) as host:
        served = Served(host, adapter)
        async with httpx.AsyncClient(base_url=served.url, timeout=5) as client:
            assert (await client.get("/health")).status_code == 200  # serving has begun
        yield served


async def _answer(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout)


async def _health(served: Served) -> int:
    async with httpx.AsyncClient(base_url=served.url, timeout=5) as client:
        return (await client.get("/health")).status_code


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    served: Served,
) -> None:
    reader, writer = await served.connect()
    started = time.monotonic()
    assert (await _answer(reader)).startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 5
    writer.close()


async def test_headers_sent_too_slowly_are_cut_off(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"GET /health HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
    await writer.drain()
    assert (await _answer(reader)).startswith(b"HTTP/1.1 408")
    writer.close()


async def test_slow_headers_after_a_kept_alive_request_are_cut_off_too(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    writer.write(b"GET /health HTTP/1.1\r\n")
    await writer.drain()
    assert b"HTTP/1.1 408" in await _answer(reader)
    writer.close()


async def test_headers_over_the_size_limit_are_refused(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"GET /health HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 8192)  # and on...
    await writer.drain()
    answer = await _answer(reader)
    assert answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:80]
    writer.close()


async def test_connections_beyond_the_limit_are_refused_and_the_host_keeps_answering(
    served: Served,
) -> None:
    opened = [await served.connect() for _ in range(LIMITS["max_connections"] + 4)]
    answers = await asyncio.gather(*(_answer(reader) for reader, _ in opened))
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
    timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
    assert (len(refused), len(timed_out)) == (4, LIMITS["max_connections"])
    for _, writer in opened:
        writer.close()
    assert await _health(served) == 200


async def test_many_idle_connections_never_exhaust_the_server(served: Served) -> None:
    """The failure this guards against: idle connections kept until descriptors ran out."""
    for _ in range(3):
        opened = [await served.connect() for _ in range(40)]
        await asyncio.gather(*(_answer(reader) for reader, _ in opened))
        for _, writer in opened:
            writer.close()
    assert await _health(served) == 200


async def test_a_body_over_the_limit_is_answered_413(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=5) as client:
        small = await client.post("/echo", content=b"x" * 100)
        assert small.json() == {"size": 100}
        declared = await client.post("/echo", content=b"x" * 10_000)
        assert declared.status_code == 413
        assert "over the limit of 4096 bytes" in declared.json()["error"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 1000

        streamed = await client.post("/echo", content=chunks())  # chunked, no Content-Length
        assert streamed.status_code == 413


async def test_a_body_that_stalls_is_answered_408(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n" + b"z" * 10)
    await writer.drain()
    assert (await _answer(reader)).startswith(b"HTTP/1.1 408")
    writer.close()


async def test_every_connection_has_tcp_nodelay(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=5) as client:
        assert (await client.get("/health")).status_code == 200
        protocols = served.adapter.engine(served.host).server._server.server_state.connections
        assert protocols
        for protocol in protocols:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
