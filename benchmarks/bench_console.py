"""``host.publish`` throughput while a browser follows the console's event stream, beside the
same host without the console.

Two hosts serve HTTP (``[http]``, asyncio adapter and console adapter only): one with the
console and a client reading ``/console/events/stream`` from another process (as a browser
would), one with ``[console] enabled = false``. Each round publishes events steadily (100 at
a time, letting other tasks run in between, so the stream's own work falls inside the round)
and waits until the last one is delivered (``host.wait_delivered``); then the client is let
catch up. The rounds of both hosts alternate; the median time per event of each is reported.
Target: the console, with a client connected, adds under 5 % (ratio <= 1.05).

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

from plugyard.host import Host

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


async def _burst(host: Host, count: int) -> float:
    """Seconds per event: publish ``count`` events, wait until the last one is delivered."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        last = None
        for n in range(count):
            last = host.publish("bench.console", n=n)
            if n % STEP == STEP - 1:
                await asyncio.sleep(0)  # a steady emitter: other tasks (the stream) run too
        assert last is not None
        await host.wait_delivered(last, timeout=60)
        return (time.perf_counter() - started) / count
    finally:
        gc.enable()


async def measure(settings: Settings, runtime: Path) -> dict[str, Any]:
    with_console = Host(_config("with-console", runtime, True), autoload=False)
    without = Host(_config("no-console", runtime, False), autoload=False)
    samples: dict[str, list[float]] = {"with_console_and_client": [], "without_console": []}
    async with with_console, without:
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
                await _burst(with_console, settings.burst // 4)
                await _burst(without, settings.burst // 4)

            async def caught_up() -> None:
                # the client has read everything (its work does not spill into the next round)
                with_console.publish("bench.flush")
                line = await asyncio.wait_for(reader.stdout.readline(), 60)  # type: ignore[union-attr]
                assert line.strip() == b"flushed", line

            await caught_up()
            for _ in range(settings.rounds):
                samples["with_console_and_client"].append(
                    await _burst(with_console, settings.burst)
                )
                await caught_up()
                samples["without_console"].append(await _burst(without, settings.burst))
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
            "publish_with_console_client",
            "`host.publish` + delivery, console with a browser on its event stream",
            unit="ns/event",
            plugyard=round(cases["with_console_and_client"]["median"], 1),
            raw=round(cases["without_console"]["median"], 1),
            raw_label="the same host without the console",
            target=TARGET,
        )
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
    found = result["figures"][0]
    return "\n".join(
        [
            f"plugyard console benchmark ({result['mode']} run), Python {result['python']}",
            "",
            f"{'host.publish + delivery, ns per event (median)':<56}"
            f"{cases['with_console_and_client']['median']:>10,.0f}  with console + client",
            f"{'':<56}{cases['without_console']['median']:>10,.0f}  without console",
            f"{'ratio':<56}{found['ratio']:>10.3f}  (target <= {TARGET.limit:g})",
        ]
    )


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
