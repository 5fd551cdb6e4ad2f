"""ZMQ subscriber benchmark: plugyard's event path and command socket beside the raw blocks.

Events: ``host.publish`` -> host event bus -> XPUB -> a SubscriberPlugin process that decodes
every body and counts, against (1) raw pyzmq XPUB(NODROP)/SUB with the same ~190-byte payload
and ``json.dumps``/``json.loads`` on the two sides, and (2) circus's own plugin stack (a
``circus.plugins.CircusPlugin`` subclass run by ``circus.plugins.main``, doing
``split_data`` + ``load_message``) fed the same bodies by a raw XPUB. Delivered events/s =
received / (arrival of the last one - start of publishing), CLOCK_MONOTONIC in both processes.

Commands: sequential round trips per second of ``list`` over the host's ROUTER, against a raw
DEALER/ROUTER echo of the same request.

Targets: plugyard >= 50% of raw pyzmq, and faster than circus's plugin stack.

    uv run python benchmarks/bench_zmq.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zmq
from _figures import Target, figure, skipped

from plugyard.adapters.zmq import ZmqService
from plugyard.sdk.subscriber import SubscriberPlugin

RAW_TARGET = Target(">=", 0.5)
"""Events delivered to a plugin process: at least half of raw pyzmq's rate."""
CIRCUS_TARGET = Target(">", 1.0)
"""Events delivered to a plugin process: faster than circus's plugin stack."""

HERE = Path(__file__).resolve().parent
PAYLOAD = {
    "type": "item.created",
    "id": 123456,
    "time": 1700000000.123456,
    "source": "anchor-bench",
    "item": {"kind": "note", "title": "benchmark item", "tags": ["a", "b"], "size": 1234},
}


class BenchCounter(SubscriberPlugin):
    """Decodes and counts ``bench.item`` events; reports on ``bench.done``."""

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.count = 0
        self.last = 0.0
        self.reported = False

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        topic = data[0]
        if topic == b"bench.item":
            self.load_message(data[1])
            self.count += 1
            self.last = time.perf_counter()
        elif topic == b"bench.done" and not self.reported:
            self.reported = True
            self.cast(
                "publish", topic="bench.result", data={"count": self.count, "last": self.last}
            )


# -- plugyard --------------------------------------------------------------------------------


async def plugyard_events(n: int, folder: Path) -> dict[str, float]:
    from plugyard.adapters.zmq import adapter
    from plugyard.host import Host

    config = {
        "host": {"name": "bench", "runtime_dir": str(folder / "rt"), "log_level": "warning"},
        "plugins": {"counter": {"use": "bench_zmq:BenchCounter"}},
    }
    host = Host(config, autoload=False, adapters=[adapter])
    result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_result(event: Any) -> None:
        if not result.done():
            result.set_result(dict(event.data))

    host.subscribe("bench.result", on_result)
    async with host:
        publish = host.publish
        start = time.perf_counter()
        for i in range(n):
            publish("bench.item", **PAYLOAD)
            if i % 500 == 499:
                await asyncio.sleep(0)
        sent = time.perf_counter()
        while not result.done():
            host.publish("bench.done")
            await asyncio.wait([result], timeout=0.5)
        data = result.result()
    received = int(data["count"])
    return {"received": received, "rate": received / (data["last"] - start), "send": sent - start}


# -- raw pyzmq -------------------------------------------------------------------------------


def raw_subscriber(endpoint: str, report: str) -> None:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    push = ctx.socket(zmq.PUSH)
    push.connect(report)
    count, last, loads = 0, 0.0, json.loads
    while True:
        topic, body = sub.recv_multipart()
        if topic == b"bench.item":
            loads(body)
            count += 1
            last = time.perf_counter()
        elif topic == b"bench.sync":
            push.send(b"ready")
        elif topic == b"bench.done":
            break
    push.send_json({"count": count, "last": last})
    push.close(linger=1000)
    sub.close(linger=0)
    ctx.term()


def raw_events(n: int, folder: Path) -> dict[str, float]:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_NODROP, 1)
    pub.sndhwm = 10_000
    endpoint = f"ipc://{folder}/raw.sock"
    pub.bind(endpoint)
    pull = ctx.socket(zmq.PULL)
    report = f"ipc://{folder}/raw-report.sock"
    pull.bind(report)
    child = subprocess.Popen([sys.executable, __file__, "raw-sub", endpoint, report])
    try:
        while True:
            pub.send_multipart([b"bench.sync", b"{}"])
            if pull.poll(50):
                pull.recv()
                break
        dumps, send = json.dumps, pub.send_multipart
        body = dict(PAYLOAD)
        start = time.perf_counter()
        for i in range(n):
            body["id"] = i
            send([b"bench.item", dumps(body).encode()])
        while not pull.poll(100):
            pub.send_multipart([b"bench.done", b"{}"])
        data = pull.recv_json()
        pub.send_multipart([b"bench.done", b"{}"])
        child.wait(10)
    finally:
        child.kill()
        pub.close(linger=0)
        pull.close(linger=0)
        ctx.term()
    return {"received": data["count"], "rate": data["count"] / (data["last"] - start)}


# -- circus ----------------------------------------------------------------------------------


def circus_python() -> list[str] | None:
    if importlib.util.find_spec("circus") is not None:
        return [sys.executable]
    uv = shutil.which("uv")
    return (
        [uv, "run", "--quiet", "--no-project", "--with", "circus>=0.19", "python"] if uv else None
    )


def circus_events(n: int, folder: Path) -> dict[str, float] | None:
    python = circus_python()
    if python is None:
        return None
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_NODROP, 1)
    pub.sndhwm = 10_000
    router = ctx.socket(zmq.ROUTER)
    pubsub, endpoint = f"ipc://{folder}/c-pub.sock", f"ipc://{folder}/c-ctl.sock"
    pub.bind(pubsub)
    router.bind(endpoint)
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    argv = [*python, "-c", "from circus import plugins; plugins.main()", "--endpoint", endpoint]
    argv += ["--pubsub", pubsub, "--log-level", "warning", "circus_bench_plugin.CircusCounter"]
    child = subprocess.Popen(argv, env=env)
    try:
        deadline = time.perf_counter() + 120
        while True:
            pub.send_multipart([b"watcher.sync.ping", b"{}"])
            if router.poll(50):
                router.recv_multipart()
                break
            if time.perf_counter() > deadline or child.poll() is not None:
                return None
        body = dict(PAYLOAD)
        dumps, send = json.dumps, pub.send_multipart
        start = time.perf_counter()
        for i in range(n):
            body["id"] = i
            send([b"watcher.bench.spawn", dumps(body).encode()])
        while not router.poll(100):
            pub.send_multipart([b"watcher.sync.end", b"{}"])
        ident, raw = router.recv_multipart()
        router.send_multipart([ident, b'{"status": "ok"}'])
        data = json.loads(raw)["properties"]
        child.wait(10)
    finally:
        child.kill()
        pub.close(linger=0)
        router.close(linger=0)
        ctx.term()
    return {"received": data["count"], "rate": data["count"] / (data["last"] - start)}


# -- commands --------------------------------------------------------------------------------


async def plugyard_commands(n: int, folder: Path) -> float:
    from plugyard.adapters.zmq import HostClient, adapter
    from plugyard.host import Host

    config = {"host": {"name": "cmd", "runtime_dir": str(folder / "rc"), "log_level": "warning"}}
    async with Host(config, autoload=False, adapters=[adapter]) as host:

        def loop() -> float:
            with HostClient(ZmqService.of(host).endpoint) as client:
                client.call("list")
                start = time.perf_counter()
                for _ in range(n):
                    client.call("list")
                return n / (time.perf_counter() - start)

        return await asyncio.to_thread(loop)


def raw_commands(n: int, folder: Path) -> float:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    endpoint = f"ipc://{folder}/echo.sock"
    router.bind(endpoint)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if router.poll(100):
                ident, body = router.recv_multipart()
                request = json.loads(body)
                reply = {"id": request["id"], "status": "ok", "time": time.time(), "plugins": []}
                router.send_multipart([ident, json.dumps(reply).encode()])

    server = threading.Thread(target=serve)
    server.start()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoint)
    try:
        start = time.perf_counter()
        for i in range(n):
            dealer.send(json.dumps({"id": str(i), "command": "list", "properties": {}}).encode())
            json.loads(dealer.recv())
        return n / (time.perf_counter() - start)
    finally:
        stop.set()
        server.join()
        dealer.close(linger=0)
        router.close(linger=0)
        ctx.term()


# -- main ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the targets, for ``run_all.py``."""
    label = "`host.publish` -> plugin process"
    ours = round(result["plugyard_events_per_s"])
    found = [
        figure(
            "events_vs_raw_pyzmq",
            label,
            unit="events/s",
            plugyard=ours,
            raw=round(result["raw_pyzmq_events_per_s"]),
            raw_label="raw pyzmq XPUB/SUB",
            target=RAW_TARGET,
        )
    ]
    if result["circus_events_per_s"]:
        found.append(
            figure(
                "events_vs_circus",
                label,
                unit="events/s",
                plugyard=ours,
                raw=round(result["circus_events_per_s"]),
                raw_label="circus plugin stack",
                target=CIRCUS_TARGET,
            )
        )
    else:
        reason = "circus's plugin stack did not run (not installed, or it failed to start)"
        found.append(skipped("events_vs_circus", label, reason, CIRCUS_TARGET))
    found.append(
        figure(
            "commands_vs_raw",
            "`list` command round trips",
            unit="calls/s",
            plugyard=round(result["plugyard_commands_per_s"]),
            raw=round(result["raw_commands_per_s"]),
            raw_label="raw DEALER/ROUTER echo",
        )
    )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    n, repeats, calls = (5_000, 1, 300) if args.quick else (100_000, 3, 3_000)
    folder = Path(tempfile.mkdtemp(prefix="bz-"))
    os.environ["PYTHONPATH"] = str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")
    sys.path.insert(0, str(HERE))
    try:
        ours = [asyncio.run(plugyard_events(n, folder)) for _ in range(repeats)]
        raw = [raw_events(n, folder) for _ in range(repeats)]
        circus = [r for r in (circus_events(n, folder) for _ in range(repeats)) if r]
        cmd_ours = [asyncio.run(plugyard_commands(calls, folder)) for _ in range(repeats)]
        cmd_raw = [raw_commands(calls, folder) for _ in range(repeats)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = {
        "bench": "bench_zmq",
        "mode": "quick" if args.quick else "full",
        "events": n,
        "plugyard_events_per_s": median([r["rate"] for r in ours]),
        "plugyard_received": min(r["received"] for r in ours),
        "raw_pyzmq_events_per_s": median([r["rate"] for r in raw]),
        "circus_events_per_s": median([r["rate"] for r in circus]) if circus else None,
        "plugyard_commands_per_s": median(cmd_ours),
        "raw_commands_per_s": median(cmd_raw),
    }
    result["ratio_vs_raw"] = result["plugyard_events_per_s"] / result["raw_pyzmq_events_per_s"]
    if result["circus_events_per_s"]:
        result["ratio_vs_circus"] = result["plugyard_events_per_s"] / result["circus_events_per_s"]
    result["commands_ratio_vs_raw"] = (
        result["plugyard_commands_per_s"] / result["raw_commands_per_s"]
    )
    result["figures"] = figures(result)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"events per run: {n}, repeats: {repeats} (medians)")
    print(
        f"  plugyard host.publish -> plugin process  {result['plugyard_events_per_s']:>10,.0f} /s"
    )
    print(
        f"  raw pyzmq XPUB/SUB, JSON both sides      {result['raw_pyzmq_events_per_s']:>10,.0f} /s"
    )
    if result["circus_events_per_s"]:
        print(
            f"  circus plugin stack (split+load)         {result['circus_events_per_s']:>10,.0f} /s"
        )
    print(f"  ratio vs raw: {result['ratio_vs_raw']:.2f} (target >= {RAW_TARGET.limit:.2f})")
    if "ratio_vs_circus" in result:
        print(
            f"  ratio vs circus: {result['ratio_vs_circus']:.2f} "
            f"(target > {CIRCUS_TARGET.limit:.2f})"
        )
    print(
        f"command round trips: plugyard {result['plugyard_commands_per_s']:,.0f}/s, "
        f"raw DEALER/ROUTER {result['raw_commands_per_s']:,.0f}/s, "
        f"ratio {result['commands_ratio_vs_raw']:.2f}"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "raw-sub":
        raw_subscriber(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
