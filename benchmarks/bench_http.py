"""Request monitoring on the host's HTTP server, side by side with the same server without it.

A background plugin's route answers ``GET /ping``; one monitoring plugin is subscribed.

* ``off``: ``[http] request_monitoring = false`` (the raw building block);
* ``on``: ``request_monitoring = true``, timed until the plugin has handled every point.

Two ways: over HTTP (plugyard's uvicorn server on a loopback port, a client process keeping
8 connections busy), which is the request throughput clients get; and the ASGI app called
directly (no sockets), where the app's own cost is all there is and monitoring's share looks
largest. Throughput is requests per second of the host process's CPU time (the client runs in
another process), so that other load on a shared machine does not decide the ratio. Target:
over HTTP, ``on`` serves at least 95 % of ``off``'s requests per CPU second (monitoring costs
under 5 % of request throughput). Runs alternate off/on; each figure is the median.

    uv run python benchmarks/bench_http.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from typing import Any

from _figures import Target, figure

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService
from plugyard.host import Host
from plugyard.sdk.events import BackgroundPlugin, BaseRequestMonitoringPlugin, route

MONITORING_TARGET = Target(">=", 0.95)
"""Requests per second with monitoring on, over the same with it off."""


class Counter:
    """Counts points; ``all_in`` is set once ``expected`` have arrived."""

    def __init__(self, expected: int) -> None:
        self.points = 0
        self.expected = expected
        self.all_in = asyncio.Event()

    def add(self, count: int) -> None:
        self.points += count
        if self.points >= self.expected:
            self.all_in.set()


def plugins(counter: Counter) -> dict[str, type]:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response

    class Ping(BackgroundPlugin):
        @route("/ping")
        async def ping(self, request: Request) -> Response:
            return PlainTextResponse("pong")

    class Monitor(BaseRequestMonitoringPlugin):
        async def flush_point_to_monitoring(self, points: list[Any], logger: Any) -> None:
            counter.add(len(points))

    return {"ping": Ping, "monitor": Monitor}


CLIENT = r"""
import asyncio, sys, time

async def worker(port, count):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(count):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        assert head.startswith(b"HTTP/1.1 200"), head
    writer.close()

async def main(port, requests, connections):
    started = time.perf_counter()
    await asyncio.gather(*(worker(port, requests // connections) for _ in range(connections)))
    print(time.perf_counter() - started)

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
"""
CONNECTIONS = 8


async def run_http(requests: int, monitoring: bool) -> float:
    counter = Counter(requests - requests % CONNECTIONS)
    config = {
        "host": {"name": f"bench-{os.getpid()}"},
        "asyncio": {"queue_size": requests + 10, "handler_timeout": 0},
        "http": {"port": 0, "request_monitoring": monitoring},
    }
    host = Host(config, autoload=False, plugins=plugins(counter), adapters=[AsyncioAdapter()])
    async with host:
        port = host.advertised["http_url"].rpartition(":")[2]
        requests -= requests % CONNECTIONS
        cpu = time.process_time()
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLIENT,
            port,
            str(requests),
            str(CONNECTIONS),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await client.communicate()
        assert client.returncode == 0
        if monitoring:
            async with asyncio.timeout(30):
                await counter.all_in.wait()
        cpu = time.process_time() - cpu
        assert counter.points == (requests if monitoring else 0)
        assert float(out) > 0
        return requests / cpu


async def run(requests: int, monitoring: bool) -> float:
    counter = Counter(requests - requests % CONNECTIONS)
    config = {
        "host": {"name": f"bench-{os.getpid()}"},
        "asyncio": {"queue_size": requests + 10, "handler_timeout": 0},
        "http": {"enabled": False, "request_monitoring": monitoring},
    }
    host = Host(config, autoload=False, plugins=plugins(counter), adapters=[AsyncioAdapter()])
    async with host:
        app = AsyncioService.of(host).asgi_app
        scope_base = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/ping",
            "raw_path": b"/ping",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        started = time.process_time()
        for _ in range(requests):
            await app(dict(scope_base), receive, send)
        if monitoring:
            await counter.all_in.wait()
        spent = time.process_time() - started
        assert statuses == [200] * requests, set(statuses)
        assert counter.points == (requests if monitoring else 0)
        return requests / spent


def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures beside their raw building block, with the target, for ``run_all.py``."""
    return [
        figure(
            f"request_monitoring_{way}",
            label,
            unit="requests/CPU s",
            plugyard=report[way]["on_requests_s"],
            raw=report[way]["off_requests_s"],
            raw_label="the same, monitoring off",
            ratio=report[way]["on_vs_off"],
            target=MONITORING_TARGET if way == "http" else None,
        )
        for way, label in (
            ("http", "requests over HTTP, monitoring on (1 plugin)"),
            ("asgi", "requests to the ASGI app, monitoring on (1 plugin)"),
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    requests = 800 if args.quick else 8_000
    repeats = 1 if args.quick else 7
    report: dict[str, Any] = {
        "bench": "bench_http",
        "mode": "quick" if args.quick else "full",
        "requests": requests,
        "repeats": repeats,
    }
    for way, func in (("http", run_http), ("asgi", run)):
        off: list[float] = []
        on: list[float] = []
        for _ in range(repeats):
            for monitoring, found in ((False, off), (True, on)):
                gc.collect()
                found.append(asyncio.run(func(requests, monitoring)))
        report[way] = {
            "off_requests_s": round(statistics.median(off)),
            "on_requests_s": round(statistics.median(on)),
        }
        report[way]["on_vs_off"] = round(
            report[way]["on_requests_s"] / report[way]["off_requests_s"], 3
        )
    report["targets"] = {
        "http on_vs_off >= 0.95": MONITORING_TARGET.met(report["http"]["on_vs_off"])
    }
    report["figures"] = figures(report)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"bench_http: {requests} requests per run, median of {repeats}")
    for way in ("http", "asgi"):
        case = report[way]
        print(
            f"{way:>5}: monitoring off {case['off_requests_s']:,} req/s, on "
            f"{case['on_requests_s']:,} req/s, ratio {case['on_vs_off']:.3f}"
        )
    for target, met in report["targets"].items():
        print(f"target {target}: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
