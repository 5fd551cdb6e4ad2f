"""Memory: a started host with every adapter and the example plugins, its subscriber
processes, and a host after a flood of events through a slow subscriber.

Each case runs in a fresh child process and reads resident memory (RSS, from psutil):

* ``host``: a ``Host`` on the examples' configuration (``examples/plugyard.toml`` with
  absolute paths: one plugin of each model, loaded from source, on all five adapters),
  started; its RSS once the ZMQ subscriber plugin's process runs. Raw anchor: a bare
  interpreter that only imports ``pluggy, zmq, celery, starlette, sqlalchemy``.
* ``subscriber``: the RSS of each process the host runs for its plugins (the ZMQ event
  logger). Raw anchor: ``python -c "import pluggy, zmq"``, the least such a process loads.
* ``flood``: a host (no adapters) with an event queue of 10,000 and one in-process
  subscriber that takes 1 ms per event; 1,000,000 events published (20,000 with ``--quick``)
  as fast as the loop allows. The RSS before and after, and the events dropped (counted by
  the bus, oldest first): memory stays bounded by the queue, whatever the flood.

Target: the started host at most 1.3x the bare interpreter's RSS.

    uv run python benchmarks/bench_memory.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from _figures import Target, figure

HOST_TARGET = Target("<=", 1.3)
"""A started host with every adapter and the example plugins, against the bare imports."""
HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
QUEUE = 10_000

RSS = "import psutil; rss = lambda p=None: psutil.Process(p).memory_info().rss / 2**20\n"

RAW_HOST = RSS + "import pluggy, zmq, celery, starlette, sqlalchemy\nprint(rss())\n"
RAW_SUBSCRIBER = RSS + "import pluggy, zmq\nprint(rss())\n"

HOST = (
    RSS
    + """
import asyncio, json, os, sys, time, psutil
from plugyard.host import Host
# imported first (they would be during start anyway, so the memory is the same): on a
# loaded machine their import time could exceed the adapters' hook time limits
import plugyard.adapters.celery._core, plugyard.adapters.celery._service
import plugyard.adapters.celery.compat, plugyard.adapters.pod._pod
import plugyard.adapters.lifecycle._engine, plugyard.adapters.zmq, plugyard.adapters.asyncio

async def main():
    async with Host(json.loads(sys.argv[1])) as host:
        deadline = time.monotonic() + 300
        me = psutil.Process()
        while True:
            state = str(host.registry.get("logger").state)
            kids = [k for k in me.children(recursive=True) if k.is_running()]
            if state.endswith("started") and kids:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the logger plugin did not start: {state}, {len(kids)} kids")
            await asyncio.sleep(0.05)
        failed = [
            f"{p.name}: {p.error}" for p in host.registry if str(p.state).endswith("failed")
        ]
        print(json.dumps({
            "host_mb": rss(),
            "subscribers_mb": [rss(k.pid) for k in kids],
            "plugins": sorted(p.name for p in host.registry),
            "failed": failed,
        }))

asyncio.run(main())
"""
)

FLOOD = (
    RSS
    + """
import asyncio, json, sys, time
from plugyard.host import Host

async def main(count, queue, runtime):
    host = Host({"host": {"name": "flood", "runtime_dir": runtime, "event_queue_size": queue}},
                autoload=False)
    handled = 0

    async def slow(event):
        nonlocal handled
        handled += 1
        await asyncio.sleep(0.001)

    async with host:
        host.bus.subscribe("flood.*", slow, name="slow")
        before = rss()
        peak = before
        for start in range(0, count, 5000):
            for i in range(start, min(start + 5000, count)):
                host.publish("flood.tick", i=i, payload="x" * 64)
            peak = max(peak, rss())
            await asyncio.sleep(0)
        after = rss()
        print(json.dumps({"before_mb": before, "after_mb": after, "peak_mb": peak,
                          "published": count, "handled": handled,
                          "dropped": host.bus.dropped, "pending": host.bus.pending}))

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
"""
)


def child(code: str, *args: str, env: dict[str, str] | None = None) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def example_config(folder: Path) -> dict[str, Any]:
    """``examples/plugyard.toml`` with absolute paths, a private runtime folder, free ports."""
    config = tomllib.loads((EXAMPLES / "plugyard.toml").read_text(encoding="utf-8"))
    host = config["host"]
    host["plugin_dirs"] = [str(EXAMPLES / d) for d in host["plugin_dirs"]]
    host["python_path"] = [str(EXAMPLES / d) for d in host["python_path"]]
    host["runtime_dir"] = str(folder / "run")
    host["log_level"] = "warning"
    # memory is measured here, not start time: a loaded machine may take longer than the
    # defaults to configure the adapters and to install the example deployment
    host["startup_timeout"] = host["hook_timeout"] = 300.0
    web = config["lifecycle"]["deployments"]["web"]
    web["blueprint"] = str(EXAMPLES / web["blueprint"])
    web["inputs"]["port"] = free_port()
    config["plugins"]["logger"]["filename"] = str(folder / "events.log")
    return config


def measure(repeats: int, events: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    subscribers: list[float] = []
    plugins: list[str] = []
    for _ in range(repeats):
        samples.setdefault("raw_host_mb", []).append(float(child(RAW_HOST)))
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            found = child(HOST, json.dumps(example_config(Path(tmp))))
        if found["failed"]:
            raise RuntimeError(f"example plugins failed to start: {found['failed']}")
        samples.setdefault("host_mb", []).append(found["host_mb"])
        subscribers += found["subscribers_mb"]
        plugins = found["plugins"]
        samples.setdefault("raw_subscriber_mb", []).append(float(child(RAW_SUBSCRIBER)))
    with tempfile.TemporaryDirectory(prefix="bench-memory-flood-") as tmp:
        flood = child(FLOOD, str(events), str(QUEUE), f"{tmp}/run")
    result = {case: statistics.median(values) for case, values in samples.items()}
    result["subscriber_mb"] = statistics.median(subscribers)
    result["subscriber_max_mb"] = max(subscribers)
    result["subscribers"] = len(subscribers) // repeats
    result["plugins"] = plugins
    result["flood"] = flood
    return result


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    flood = result["flood"]
    return [
        figure(
            "host_rss",
            "started host, five adapters and the example plugins",
            unit="MB",
            plugyard=round(result["host_mb"], 1),
            raw=round(result["raw_host_mb"], 1),
            raw_label="`import pluggy, zmq, celery, starlette, sqlalchemy`",
            target=HOST_TARGET,
        ),
        figure(
            "subscriber_rss",
            f"each plugin process of the host ({result['subscribers']}), median",
            unit="MB",
            plugyard=round(result["subscriber_mb"], 1),
            raw=round(result["raw_subscriber_mb"], 1),
            raw_label="`import pluggy, zmq`",
        ),
        figure(
            "flood_rss",
            f"host after {flood['published']:,} events through a 1 ms subscriber "
            f"(queue {QUEUE:,}; {flood['dropped']:,} dropped, counted)",
            unit="MB",
            plugyard=round(flood["after_mb"], 1),
            raw=round(flood["before_mb"], 1),
            raw_label="the same host before the flood",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, 20,000 events")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args()
    repeats, events = (1, 20_000) if args.quick else (3, 1_000_000)
    result = measure(repeats, events)
    summary = {
        "bench": "bench_memory",
        "mode": "quick" if args.quick else "full",
        **result,
        "figures": figures(result),
    }
    if not args.json:
        for found in summary["figures"]:
            print(
                f"{found['label']}: {found['plugyard']} MB, raw {found['raw']} MB "
                f"({found['raw_label']}), {found['ratio']}x"
            )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
