"""Event delivery of the asyncio adapter, side by side with a direct ``asyncio.gather``.

For 1 and 10 subscribed plugins with a trivial async handler, in one run:

* ``gather``: ``await asyncio.gather(*(h(n=i) for h in handlers))`` per event, over the very
  handlers the plugins use (the raw building block);
* ``emit``: ``AsyncioService.emit`` per event (validated payload, host event published, each
  plugin's queue fed), timed until every plugin has handled every event;
* ``emit_nopublish``: the same with the event type's ``publish=False`` (no host event);
* latency: events emitted at half of ``emit``'s measured rate; the time from
  ``AsyncioService.emit`` to each handler's start, as p50/p90/p99/max.

Targets: ``emit`` at 10 plugins >= 50 % of ``gather``; p99 latency < 5 ms at half the maximum
rate. ``--quick`` runs a seconds-long smoke run. If the shared anchor script exists
(``$PLUGYARD_ANCHORS``, or ``../shared/bench/anchors`` beside the repository), it runs too,
for the baseline.

    uv run python benchmarks/bench_events.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _figures import Target, figure

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService, QueueFullError
from plugyard.host import Host
from plugyard.sdk.events import EventPlugin

EMIT_TARGET = Target(">=", 0.5)
"""``emit`` at 10 plugins delivers at least half of ``gather``'s events per second."""
P99_TARGET = Target("<", 5.0, on="plugyard")
"""p99 latency in milliseconds at half of ``emit``'s maximum rate."""


@dataclass
class Bench:
    n: int
    t: float = 0.0


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.measure = False


def plugin_class(counter: Counter) -> type[EventPlugin]:
    perf = time.perf_counter

    class Trivial(EventPlugin):
        event_name = "bench"

        async def handle_event(self, n: int, t: float) -> None:
            counter.count += 1
            if counter.measure:
                counter.latencies.append(perf() - t)

    return Trivial


def make_host(plugins: int, counter: Counter) -> Host:
    cls = plugin_class(counter)
    config = {
        "host": {"name": f"bench-{os.getpid()}"},
        "asyncio": {"queue_size": 1000, "handler_timeout": 0},
    }
    host = Host(
        config,
        autoload=False,
        plugins={f"p{i}": cls for i in range(plugins)},
        adapters=[AsyncioAdapter()],
    )
    return host


async def run_gather(plugins: int, events: int) -> float:
    counter = Counter()
    cls = plugin_class(counter)

    class App:
        name = "bench"

    handlers = [cls(App()).handle_event for _ in range(plugins)]  # type: ignore[arg-type]
    gather = asyncio.gather
    started = time.perf_counter()
    for i in range(events):
        await gather(*(h(n=i, t=0.0) for h in handlers))
    spent = time.perf_counter() - started
    assert counter.count == events * plugins
    return events / spent


async def run_emit(plugins: int, events: int, publish: bool) -> float:
    counter = Counter()
    host = make_host(plugins, counter)
    async with host:
        AsyncioService.of(host).event_types.declare(
            "bench", Bench, overflow="block", publish=publish
        )
        emit, put = AsyncioService.of(host).emit, AsyncioService.of(host).event_types.put
        started = time.perf_counter()
        for i in range(events):
            try:
                emit("bench", n=i)
            except QueueFullError:
                await put("bench", n=i)
        await AsyncioService.of(host).emit_and_wait("bench", n=-1)
        spent = time.perf_counter() - started
        assert counter.count == (events + 1) * plugins
        return events / spent


async def run_latency(plugins: int, rate: float, seconds: float) -> dict[str, float]:
    counter = Counter()
    host = make_host(plugins, counter)
    async with host:
        AsyncioService.of(host).event_types.declare("bench", Bench, overflow="block")
        emit, perf = AsyncioService.of(host).emit, time.perf_counter
        counter.measure = True
        started = perf()
        sent = 0
        while (elapsed := perf() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                try:
                    emit("bench", n=sent, t=perf())
                except QueueFullError:  # a handler fell behind: wait for room, as a user would
                    await AsyncioService.of(host).event_types.put("bench", n=sent, t=perf())
                sent += 1
            await asyncio.sleep(0.0005)
        await AsyncioService.of(host).emit_and_wait("bench", n=-1, t=perf())
        counter.measure = False
    lat = sorted(counter.latencies)
    if not lat:
        return {}

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

    return {
        "rate": rate,
        "samples": len(lat),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": lat[-1] * 1000,
    }


def best_of(repeats: int, func: Any, *args: Any) -> float:
    results = []
    for _ in range(repeats):
        gc.collect()
        results.append(asyncio.run(func(*args)))
    return float(statistics.median(results))


def run_anchor() -> dict[str, Any] | None:
    beside = Path(__file__).resolve().parents[2] / "shared" / "bench" / "anchors"
    folder = Path(os.environ.get("PLUGYARD_ANCHORS", str(beside)))
    script = folder / "asyncio_fanout.py"
    if not script.is_file():
        return None
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, check=False
    )
    for line in reversed(out.stdout.splitlines()):
        try:
            found: dict[str, Any] = json.loads(line)
            return found
        except ValueError:
            continue
    return None


def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the targets, for ``run_all.py``."""
    found = []
    for plugins, case in report["cases"].items():
        handlers = f"{plugins} plugin{'s' if plugins > 1 else ''}"
        for key, what in (
            ("emit", "`AsyncioService.emit`"),
            ("emit_nopublish", "`AsyncioService.emit`, no publish"),
        ):
            found.append(
                figure(
                    f"{key}_vs_gather_{plugins}_plugins",
                    f"{what}, {handlers}",
                    unit="events/s",
                    plugyard=case[f"{key}_events_s"],
                    raw=case["gather_events_s"],
                    raw_label="`asyncio.gather`",
                    ratio=case[f"{key}_vs_gather"],
                    target=EMIT_TARGET if (key, plugins) == ("emit", 10) else None,
                )
            )
    latency = report["latency_10_plugins"]
    found.append(
        figure(
            "p99_latency_10_plugins",
            "p99 latency, 10 plugins at half the max rate",
            unit="ms",
            plugyard=round(latency.get("p99_ms", float("inf")), 3),
            target=P99_TARGET,
        )
    )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    events = 2_000 if args.quick else 20_000
    repeats = 1 if args.quick else 5
    report: dict[str, Any] = {
        "bench": "bench_events",
        "mode": "quick" if args.quick else "full",
        "events": events,
        "repeats": repeats,
        "cases": {},
    }
    for plugins in (1, 10):
        gather = best_of(repeats, run_gather, plugins, events)
        emit = best_of(repeats, run_emit, plugins, events, True)
        quiet = best_of(repeats, run_emit, plugins, events, False)
        report["cases"][plugins] = {
            "gather_events_s": round(gather),
            "emit_events_s": round(emit),
            "emit_nopublish_events_s": round(quiet),
            "emit_vs_gather": round(emit / gather, 3),
            "emit_nopublish_vs_gather": round(quiet / gather, 3),
        }
    max_rate = report["cases"][10]["emit_events_s"]
    report["latency_10_plugins"] = asyncio.run(
        run_latency(10, max_rate / 2, 0.5 if args.quick else 3.0)
    )
    if not args.quick:
        report["anchor"] = run_anchor()
    ten = report["cases"][10]
    p99 = report["latency_10_plugins"].get("p99_ms", float("inf"))
    report["targets"] = {
        "emit_vs_gather_at_10 >= 0.5": EMIT_TARGET.met(ten["emit_vs_gather"]),
        "p99_ms_at_half_rate < 5": P99_TARGET.met(p99),
    }
    report["figures"] = figures(report)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"bench_events: {events} events per case, median of {repeats}")
    print(
        f"{'plugins':>7} {'gather ev/s':>12} {'emit ev/s':>10} {'ratio':>6} "
        f"{'no-publish ev/s':>16} {'ratio':>6}"
    )
    for plugins, case in report["cases"].items():
        print(
            f"{plugins:>7} {case['gather_events_s']:>12,} {case['emit_events_s']:>10,} "
            f"{case['emit_vs_gather']:>6.2f} {case['emit_nopublish_events_s']:>16,} "
            f"{case['emit_nopublish_vs_gather']:>6.2f}"
        )
    lat = report["latency_10_plugins"]
    print(
        f"latency, 10 plugins at {lat['rate']:,.0f} ev/s (half of max): p50 {lat['p50_ms']:.3f} "
        f"ms, p90 {lat['p90_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms, max {lat['max_ms']:.3f} ms "
        f"({lat['samples']:,} deliveries)"
    )
    anchor = (report.get("anchor") or {}).get("cases")
    if anchor:
        raw_gather = anchor["gather"]["median"]
        raw_queue = anchor["queue_bounded_1000_await_put"]["median"]
        print(
            f"anchor asyncio_fanout (same run, 10 handlers): gather {raw_gather:,} ev/s, "
            f"bounded queue per handler {raw_queue:,} ev/s; emit / anchor gather "
            f"{ten['emit_events_s'] / raw_gather:.2f}, emit / anchor queue "
            f"{ten['emit_events_s'] / raw_queue:.2f}"
        )
    for target, met in report["targets"].items():
        print(f"target {target}: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
