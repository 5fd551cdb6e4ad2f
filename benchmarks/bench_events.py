"""Event fan-out of the asyncio adapter, side by side with a queue and a task per handler.

For 1, 10, 50 and 100 subscribed plugins with a trivial async handler, in one run, rounds
alternating between the sides:

* ``queue``: one ``asyncio.Queue`` and one consumer task per handler, the producer putting each
  event on every queue with ``put_nowait``, timed until every queue is drained (the raw
  building block, as in the project's asyncio fan-out anchor); the consumers call the very
  handlers the plugins use, with the same keyword arguments;
* ``emit``: ``AsyncioService.emit`` per event (validated payload, host event published, each
  plugin's bounded queue fed, the handler timed out after the default 5 s), with the default
  settings and the ``block`` policy (``event_types.put`` when a queue is full), timed until
  every plugin has handled every event;
* ``emit_nopublish``: the same with the event type's ``publish=False`` (no host event);
* latency, at 10 and at 100 plugins: events emitted at half of ``emit``'s measured rate; the
  time from ``AsyncioService.emit`` to each handler's start, as p50/p90/p99/max.

Targets: ``emit`` >= 0.7x ``queue`` at 10 and at 100 plugins; p99 latency < 2 ms at half the
maximum rate, at 10 and at 100 plugins. Each ratio is the median of the per-round ratios.
``--quick`` runs a seconds-long smoke run.

    uv run python benchmarks/bench_events.py [--quick] [--json]
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from _figures import Target, figure

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService, QueueFullError
from plugyard.host import Host
from plugyard.sdk.events import EventPlugin

SIZES = (1, 10, 50, 100)
"""Subscribed plugins, the x axis of the throughput curve."""
TARGET_SIZES = (10, 100)
EMIT_TARGET = Target(">=", 0.7)
"""``emit`` delivers at least 70 % of the events per second of a queue and a task per handler."""
P99_TARGET = Target("<", 2.0, on="plugyard")
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
    config = {"host": {"name": f"bench-{os.getpid()}"}}
    return Host(
        config,
        autoload=False,
        plugins={f"p{i}": cls for i in range(plugins)},
        adapters=[AsyncioAdapter()],
    )


# -- the raw building block --------------------------------------------------------------------


async def _consume(
    queue: asyncio.Queue[dict[str, Any]], handler: Callable[..., Awaitable[None]]
) -> None:
    get, done = queue.get, queue.task_done
    while True:
        kwargs = await get()
        await handler(**kwargs)
        done()


async def run_queue(plugins: int, events: int) -> float:
    counter = Counter()
    cls = plugin_class(counter)

    class App:
        name = "bench"

    handlers = [cls(App()).handle_event for _ in range(plugins)]  # type: ignore[arg-type]
    queues: list[asyncio.Queue[dict[str, Any]]] = [asyncio.Queue() for _ in handlers]
    tasks = [asyncio.create_task(_consume(q, h)) for q, h in zip(queues, handlers, strict=True)]
    await asyncio.sleep(0)
    puts = [q.put_nowait for q in queues]
    started = time.perf_counter()
    for i in range(events):
        kwargs = {"n": i, "t": 0.0}
        for put in puts:
            put(kwargs)
    for queue in queues:
        await queue.join()
    spent = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert counter.count == events * plugins
    return events / spent


# -- plugyard ----------------------------------------------------------------------------------


async def run_emit(plugins: int, events: int, publish: bool) -> float:
    counter = Counter()
    host = make_host(plugins, counter)
    async with host:
        service = AsyncioService.of(host)
        service.event_types.declare("bench", Bench, overflow="block", publish=publish)
        emit, put = service.emit, service.event_types.put
        started = time.perf_counter()
        for i in range(events):
            try:
                emit("bench", n=i)
            except QueueFullError:
                await put("bench", n=i)
        await service.emit_and_wait("bench", n=-1)
        spent = time.perf_counter() - started
        assert counter.count == (events + 1) * plugins
        return events / spent


async def run_latency(plugins: int, rate: float, seconds: float) -> dict[str, float]:
    counter = Counter()
    host = make_host(plugins, counter)
    async with host:
        service = AsyncioService.of(host)
        service.event_types.declare("bench", Bench, overflow="block")
        emit, perf = service.emit, time.perf_counter
        counter.measure = True
        started = perf()
        sent = 0
        while (elapsed := perf() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                try:
                    emit("bench", n=sent, t=perf())
                except QueueFullError:  # a handler fell behind: wait for room, as a user would
                    await service.event_types.put("bench", n=sent, t=perf())
                sent += 1
            await asyncio.sleep(0.0005)
        await service.emit_and_wait("bench", n=-1, t=perf())
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


# -- measuring ---------------------------------------------------------------------------------


def timed(func: Callable[..., Awaitable[float]], *args: Any) -> float:
    gc.collect()
    return asyncio.run(func(*args))


def events_for(plugins: int, quick: bool) -> int:
    """Events per round: about the same number of handler calls at every size."""
    if quick:
        return min(2_000, max(300, 40_000 // plugins))
    return min(20_000, max(2_000, 400_000 // plugins))


def measure_size(plugins: int, repeats: int, quick: bool) -> dict[str, Any]:
    events = events_for(plugins, quick)
    timed(run_queue, plugins, events // 10)
    timed(run_emit, plugins, events // 10, True)
    rounds: dict[str, list[float]] = {"queue": [], "emit": [], "emit_nopublish": []}
    for _ in range(repeats):
        rounds["queue"].append(timed(run_queue, plugins, events))
        rounds["emit"].append(timed(run_emit, plugins, events, True))
        rounds["emit_nopublish"].append(timed(run_emit, plugins, events, False))
    ratios = {
        key: statistics.median(a / b for a, b in zip(rounds[key], rounds["queue"], strict=True))
        for key in ("emit", "emit_nopublish")
    }
    return {
        "events": events,
        "queue_events_s": round(statistics.median(rounds["queue"])),
        "emit_events_s": round(statistics.median(rounds["emit"])),
        "emit_nopublish_events_s": round(statistics.median(rounds["emit_nopublish"])),
        "emit_vs_queue": round(ratios["emit"], 3),
        "emit_nopublish_vs_queue": round(ratios["emit_nopublish"], 3),
        "rounds": rounds,
    }


def curves(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The throughput curve, each size beside the raw building block, in the shape
    ``run_all.py`` draws (see ``_figures.py``)."""
    sizes = [int(size) for size in report["cases"]]
    cases = list(report["cases"].values())
    return [
        {
            "name": "emit_vs_queue",
            "title": "`AsyncioService.emit` fan-out",
            "x_label": "subscribed plugins",
            "unit": "events/s",
            "log_x": True,
            "series": [
                {
                    "label": "`AsyncioService.emit`",
                    "raw": False,
                    "points": [[x, c["emit_events_s"]] for x, c in zip(sizes, cases, strict=True)],
                },
                {
                    "label": "a queue and a task per handler",
                    "raw": True,
                    "points": [[x, c["queue_events_s"]] for x, c in zip(sizes, cases, strict=True)],
                },
            ],
        }
    ]


def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the targets, for ``run_all.py``."""
    found = []
    for plugins, case in report["cases"].items():
        handlers = f"{plugins} plugin{'s' if int(plugins) > 1 else ''}"
        for key, what in (
            ("emit", "`AsyncioService.emit`"),
            ("emit_nopublish", "`AsyncioService.emit`, no publish"),
        ):
            found.append(
                figure(
                    f"{key}_vs_queue_{plugins}_plugins",
                    f"{what}, {handlers}",
                    unit="events/s",
                    plugyard=case[f"{key}_events_s"],
                    raw=case["queue_events_s"],
                    raw_label="a queue and a task per handler",
                    ratio=case[f"{key}_vs_queue"],
                    target=EMIT_TARGET if key == "emit" and int(plugins) in TARGET_SIZES else None,
                )
            )
    for plugins, latency in report["latency"].items():
        found.append(
            figure(
                f"p99_latency_{plugins}_plugins",
                f"p99 latency, {plugins} plugins at half the max rate",
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
    repeats = 1 if args.quick else 5
    report: dict[str, Any] = {
        "bench": "bench_events",
        "mode": "quick" if args.quick else "full",
        "repeats": repeats,
        "cases": {},
        "latency": {},
    }
    for plugins in SIZES:
        report["cases"][plugins] = measure_size(plugins, repeats, args.quick)
    for plugins in TARGET_SIZES:
        max_rate = report["cases"][plugins]["emit_events_s"]
        report["latency"][plugins] = asyncio.run(
            run_latency(plugins, max_rate / 2, 0.5 if args.quick else 3.0)
        )
    report["curves"] = curves(report)
    report["figures"] = figures(report)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"bench_events: median of {repeats} round(s), rounds alternating")
    print(
        f"{'plugins':>7} {'events':>7} {'queue ev/s':>11} {'emit ev/s':>10} {'ratio':>6} "
        f"{'no-publish ev/s':>16} {'ratio':>6}"
    )
    for plugins, case in report["cases"].items():
        print(
            f"{plugins:>7} {case['events']:>7,} {case['queue_events_s']:>11,} "
            f"{case['emit_events_s']:>10,} {case['emit_vs_queue']:>6.2f} "
            f"{case['emit_nopublish_events_s']:>16,} {case['emit_nopublish_vs_queue']:>6.2f}"
        )
    for plugins, lat in report["latency"].items():
        print(
            f"latency, {plugins} plugins at {lat['rate']:,.0f} ev/s (half of max): p50 "
            f"{lat['p50_ms']:.3f} ms, p90 {lat['p90_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms, "
            f"max {lat['max_ms']:.3f} ms ({lat['samples']:,} deliveries)"
        )
    for found in report["figures"]:
        if found["target"] is not None:
            print(f"target {found['name']}: {'met' if found['met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
