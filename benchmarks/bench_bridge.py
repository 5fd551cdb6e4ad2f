"""Event delivery across two host processes through the event bridge, beside raw Redis Streams.

In one run, with the receiver in a second process (so the two sides share no event loop):

* ``bridge``: host A publishes events at a steady rate; host B (its own process, its own
  bridge) relays them into its event stream; the latency is from A's ``publish`` (the
  event's ``time``) to B's subscriber being called with it;
* ``raw``: the raw building block: one process ``XADD``s entries stamped with the time at
  the same rate, another reads them with a blocking ``XREAD`` and takes the difference.

Each reports p50/p90/p99/max in milliseconds, after a warm-up the figures leave out.
Target: the bridge's p99 under 20 ms on this machine. ``--quick`` is a seconds-long smoke run.
Needs the Redis server at 127.0.0.1:6379 (the benchmark uses streams of its own and deletes
them).

    uv run python benchmarks/bench_bridge.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _figures import Target, figure, skipped

URL = "redis://127.0.0.1:6379/0"
P99_TARGET = Target("<", 20.0, on="plugyard")
"""p99 delivery latency across hosts, in milliseconds."""
WARMUP = 50


def _bridged(stream: str, name: str, folder: str) -> Any:
    from plugyard.adapters.bridge import adapter
    from plugyard.host import Host

    config = {
        "host": {"name": name, "runtime_dir": f"{folder}/{name}"},
        "events": {"bridge": URL, "stream": stream},
    }
    return Host(config, autoload=False, adapters={"bridge": adapter})


def _receive_bridge(stream: str, count: int, folder: str, ready: Any, result: Any) -> None:
    async def run() -> list[float]:
        host = _bridged(stream, "receiver", folder)
        delays: list[float] = []
        done = asyncio.Event()

        def seen(event: Any) -> None:
            if event.origin:
                delays.append((time.time() - event.time) * 1000)
                if len(delays) >= count:
                    done.set()

        host.subscribe("bench.*", seen)
        async with host:
            ready.put(True)
            await asyncio.wait_for(done.wait(), 120)
        return delays

    result.put(asyncio.run(run()))


def _receive_raw(stream: str, count: int, ready: Any, result: Any) -> None:
    import redis

    client = redis.Redis.from_url(URL)
    delays: list[float] = []
    last = "0-0"  # the stream is new: read it from its start, whenever the sender begins
    ready.put(True)
    while len(delays) < count:
        reply = client.xread({stream: last}, count=500, block=1000)
        for _, entries in reply or ():
            for entry_id, fields in entries:
                delays.append((time.time() - float(fields[b"t"])) * 1000)
                last = entry_id
    client.close()
    result.put(delays)


async def _send_bridge(stream: str, count: int, rate: float, folder: str) -> None:
    host = _bridged(stream, "sender", folder)
    async with host:
        for n in range(count):
            host.publish("bench.tick", n=n)
            await asyncio.sleep(1 / rate)


async def _send_raw(stream: str, count: int, rate: float) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(URL)
    for n in range(count):
        await client.xadd(stream, {"t": repr(time.time()), "n": n}, maxlen=100_000)
        await asyncio.sleep(1 / rate)
    await client.aclose()


def _summary(delays: list[float]) -> dict[str, float]:
    kept = sorted(delays[WARMUP:])
    cuts = statistics.quantiles(kept, n=100)
    return {
        "events": len(kept),
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(kept[-1], 3),
    }


def measure(kind: str, count: int, rate: float) -> dict[str, float]:
    """Run one receiver process and the sender here; the receiver's delays, summarised."""
    import redis

    context = multiprocessing.get_context("spawn")
    ready, result = context.Queue(), context.Queue()
    stream = f"plugyard-bench:{uuid.uuid4().hex[:10]}"
    total = count + WARMUP
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as folder:
        if kind == "bridge":
            target: Any = _receive_bridge
            args: tuple[Any, ...] = (stream, total, folder, ready, result)
        else:
            target, args = _receive_raw, (stream, total, ready, result)
        receiver = context.Process(target=target, args=args, daemon=True)
        receiver.start()
        try:
            ready.get(timeout=60)
            if kind == "bridge":
                asyncio.run(_send_bridge(stream, total, rate, folder))
            else:
                asyncio.run(_send_raw(stream, total, rate))
            delays: list[float] = result.get(timeout=120)
        finally:
            receiver.join(30)
            if receiver.is_alive():
                receiver.kill()
                receiver.join(10)
            client = redis.Redis.from_url(URL)
            client.delete(stream, *client.scan_iter(f"{stream}:*"))
            client.close()
    return _summary(delays)


def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The bridge's latency beside raw Redis Streams', with the target, for ``run_all.py``."""
    bridge, raw = report["bridge"], report["raw"]
    return [
        figure(
            "p99_latency_across_hosts",
            f"p99 delivery latency host to host at {report['rate']:g} events/s",
            unit="ms",
            plugyard=bridge["p99_ms"],
            raw=raw["p99_ms"],
            raw_label="XADD to blocking XREAD",
            target=P99_TARGET,
        ),
        figure(
            "p50_latency_across_hosts",
            f"p50 delivery latency host to host at {report['rate']:g} events/s",
            unit="ms",
            plugyard=bridge["p50_ms"],
            raw=raw["p50_ms"],
            raw_label="XADD to blocking XREAD",
        ),
    ]


def _redis_answers() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except (redis.RedisError, OSError):
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not _redis_answers():
        reason = "no redis on 127.0.0.1:6379"
        if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
            print(f"bench_bridge: {reason} (PLUGYARD_REQUIRE_SERVICES=1)", file=sys.stderr)
            return 1
        found = [
            skipped("p99_latency_across_hosts", "p99 delivery latency", reason, P99_TARGET),
            skipped("p50_latency_across_hosts", "p50 delivery latency", reason),
        ]
        print(json.dumps({"bench": "bench_bridge", "skipped": reason, "figures": found}))
        return 0
    count = 300 if args.quick else 5_000
    rate = 500.0 if args.quick else 1_000.0
    report: dict[str, Any] = {
        "bench": "bench_bridge",
        "mode": "quick" if args.quick else "full",
        "events": count,
        "rate": rate,
        "raw": measure("raw", count, rate),
        "bridge": measure("bridge", count, rate),
    }
    report["targets"] = {"p99_ms < 20": P99_TARGET.met(report["bridge"]["p99_ms"])}
    report["figures"] = figures(report)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"bench_bridge: {count} events at {rate:g}/s, host A to host B (two processes)")
    print(f"{'':8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind in ("raw", "bridge"):
        row = report[kind]
        print(
            f"{kind:8} {row['p50_ms']:>8} {row['p90_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8}"
        )
    ratio = report["bridge"]["p99_ms"] / max(report["raw"]["p99_ms"], 1e-9)
    print(f"p99 bridge / raw ratio: {ratio:.2f} (target: bridge p99 < 20 ms)")
    print(json.dumps({k: report[k] for k in ("raw", "bridge", "targets")}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
