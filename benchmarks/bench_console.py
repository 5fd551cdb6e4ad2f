"""``host.emit`` throughput while a browser follows the console's event stream, beside the
same host without the console.

Two hosts serve HTTP (``[http]``, asyncio adapter and console adapter only), each with one
event plugin subscribed to a declared event type: one with the console and a client reading
``/console/events/stream`` from another process (as a browser would), one with
``[console] enabled = false``. Each round emits events steadily with ``host.emit``
(``AsyncioService.emit``: validated, handed to the plugin and published on the host's event
stream; 100 at a time, letting other tasks run in between, so the stream's own work falls
inside the round) and waits until the plugin has handled the last one and the host's event
stream has delivered it; then the client is let catch up. The rounds of both hosts alternate;
the median time per event of each is reported. Time is the host process's CPU time
(the client runs in its own process, as a browser would on its own machine), so that other
load on a shared machine does not decide the ratio. Target: the console, with a client connected,
adds under 5 % (ratio <= 1.05). The same is measured for ``host.publish`` (an event on the host's
stream, no plugin), the cheapest event there is, where the console's share looks largest
(no target).

Run it from the repository root::

    .venv/bin/python benchmarks/bench_console.py           # full run, a table
    .venv/bin/python benchmarks/bench_console.py --quick   # a few seconds
    .venv/bin/python benchmarks/bench_console.py --json    # one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _figures import Target, figure

from plugyard.adapters.asyncio import AsyncioService, QueueFullError
from plugyard.host import Host
from plugyard.sdk.events import EventPlugin

TARGET = Target("<=", 1.05)
"""The console, with a browser connected, adds under 5 % to the time of a published event."""

READER = """
import sys, httpx
with httpx.stream("GET", sys.argv[1], params={"after": sys.argv[2]}, timeout=None) as r:
    print("open", flush=True)
    for line in r.iter_lines():
        if line.startswith("data: ") and "bench.flush" in line:
            print("flushed", flush=True)
"""
"""The browser's part: reads the stream in its own process and says when it has read up to
a ``bench.flush`` event."""


@dataclass(frozen=True, slots=True)
class Settings:
    name: str
    rounds: int
    burst: int


FULL = Settings("full", 11, 30_000)
QUICK = Settings("quick", 3, 10_000)
STEP = 100
"""Events published in a row before the emitter lets other tasks run."""


@dataclass
class Reading:
    """The payload of the declared event ``bench``."""

    n: int


class Sink(EventPlugin):
    """The event plugin: takes each ``bench`` event and does nothing with it."""

    event_name = "bench"

    async def handle_event(self, n: int) -> None:
        return None


def _host(name: str, runtime: Path, console: bool) -> Host:
    host = Host(_config(name, runtime, console), autoload=False, plugins={"sink": Sink})
    return host


def _config(name: str, runtime: Path, console: bool) -> dict[str, Any]:
    return {
        "host": {
            "name": name,
            "runtime_dir": str(runtime / name),
            "adapters": ["asyncio", "console"],
        },
        "http": {"port": 0},
        "console": {"enabled": console, "buffer": 2000},
    }


async def _emit_burst(host: Host, count: int) -> float:
    """Seconds per event: ``host.emit`` ``count`` events, wait until the plugin handled the
    last one and the host's event stream delivered it."""
    service = AsyncioService.of(host)
    emit, put = service.emit, service.event_types.put
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        for n in range(count):
            try:
                emit("bench", n=n)
            except QueueFullError:
                await put("bench", n=n)
            if n % STEP == STEP - 1:
                await asyncio.sleep(0)  # a steady emitter: other tasks (the stream) run too
        await service.emit_and_wait("bench", n=-1)
        await host.wait_delivered(host.bus.last_seq, timeout=60)
        return (time.process_time() - started) / count
    finally:
        gc.enable()


async def _burst(host: Host, count: int) -> float:
    """CPU seconds per event: publish ``count`` events, wait until the last one is delivered."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        last = None
        for n in range(count):
            last = host.publish("bench.console", n=n)
            if n % STEP == STEP - 1:
                await asyncio.sleep(0)  # a steady emitter: other tasks (the stream) run too
        assert last is not None
        await host.wait_delivered(last, timeout=60)
        return (time.process_time() - started) / count
    finally:
        gc.enable()


async def measure(settings: Settings, runtime: Path) -> dict[str, Any]:
    with_console = _host("with-console", runtime, True)
    without = _host("no-console", runtime, False)
    samples: dict[str, list[float]] = {
        "emit_with_console_and_client": [],
        "emit_without_console": [],
        "publish_with_console_and_client": [],
        "publish_without_console": [],
    }
    async with with_console, without:
        for host in (with_console, without):
            AsyncioService.of(host).event_types.declare("bench", Reading, overflow="block")
        url = f"{with_console.advertised['console_url']}events/stream"
        after = with_console.publish("bench.start").seq
        reader = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            READER,
            url,
            str(after),
            stdout=subprocess.PIPE,
        )
        try:
            assert reader.stdout is not None
            assert (await asyncio.wait_for(reader.stdout.readline(), 30)).strip() == b"open"
            for _ in range(2):  # warm up both
                for burst in (_emit_burst, _burst):
                    await burst(with_console, settings.burst // 4)
                    await burst(without, settings.burst // 4)

            async def caught_up() -> None:
                # the client has read everything (its work does not spill into the next round)
                with_console.publish("bench.flush")
                line = await asyncio.wait_for(reader.stdout.readline(), 60)  # type: ignore[union-attr]
                assert line.strip() == b"flushed", line

            await caught_up()
            for _ in range(settings.rounds):
                for what, burst in (("emit", _emit_burst), ("publish", _burst)):
                    samples[f"{what}_with_console_and_client"].append(
                        await burst(with_console, settings.burst)
                    )
                    await caught_up()
                    samples[f"{what}_without_console"].append(await burst(without, settings.burst))
        finally:
            reader.terminate()
            await reader.wait()
    return {
        name: {
            "median": statistics.median(values) * 1e9,
            "min": min(values) * 1e9,
            "max": max(values) * 1e9,
            "rounds": len(values),
            "unit": "ns/event",
        }
        for name, values in samples.items()
    }


def figures(cases: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        figure(
            "emit_with_console_client",
            "`host.emit` (1 event plugin) + delivery, console with a browser on its event stream",
            unit="ns/event",
            plugyard=round(cases["emit_with_console_and_client"]["median"], 1),
            raw=round(cases["emit_without_console"]["median"], 1),
            raw_label="the same host without the console",
            target=TARGET,
        ),
        figure(
            "publish_with_console_client",
            "`host.publish` + delivery, console with a browser on its event stream",
            unit="ns/event",
            plugyard=round(cases["publish_with_console_and_client"]["median"], 1),
            raw=round(cases["publish_without_console"]["median"], 1),
            raw_label="the same host without the console",
        ),
    ]


def run(settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="plugyard-bench-") as folder:
        cases = asyncio.run(measure(settings, Path(folder)))
    return {
        "bench": "bench_console",
        "mode": settings.name,
        "python": platform.python_version(),
        "cases": cases,
        "figures": figures(cases),
    }


def report(result: dict[str, Any]) -> str:
    cases = result["cases"]
    lines = [f"plugyard console benchmark ({result['mode']} run), Python {result['python']}", ""]
    for what, found in zip(("emit", "publish"), result["figures"], strict=True):
        target = f"  (target <= {TARGET.limit:g})" if found["target"] else ""
        lines += [
            f"{'host.' + what + ' + delivery, ns per event (median)':<56}"
            f"{cases[what + '_with_console_and_client']['median']:>10,.0f}  with console + client",
            f"{'':<56}{cases[what + '_without_console']['median']:>10,.0f}  without console",
            f"{'ratio':<56}{found['ratio']:>10.3f}{target}",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a run of a few seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else FULL)
    print(json.dumps(result) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
