"""ZMQ subscriber benchmark: plugyard's event path and command socket beside the raw blocks.

Events: ``host.publish`` -> host event bus -> XPUB -> a SubscriberPlugin process that decodes
every body and counts, against (1) raw pyzmq XPUB(NODROP)/SUB with the same payload and
``json.dumps``/``json.loads`` on the two sides, and (2) circus's own plugin stack (a
``circus.plugins.CircusPlugin`` subclass run by ``circus.plugins.main``, doing
``split_data`` + ``load_message``) fed the same bodies by a raw XPUB. Delivered events/s =
received / (arrival of the last one - start of publishing), CLOCK_MONOTONIC in both processes.
The headline figure has ~190 bytes of event data (the project's pyzmq anchor); the curve
repeats it with 1, 4 and 16 KiB.

Commands: sequential round trips per second of ``list`` over the host's ROUTER, from a client
process (``HostClient``), against a raw DEALER client process and a ROUTER echo of the same
request (blocking, in the benchmark process).

Rounds alternate plugyard / raw; each ratio is the median of the per-round ratios. Targets:
events >= 0.75x raw pyzmq (lossless: every event is counted), faster than circus's plugin
stack; ``list`` round trips >= 0.75x the raw echo.

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
import time
from pathlib import Path
from typing import Any

import zmq
from _figures import Target, figure, skipped

from plugyard.adapters.zmq import ZmqService
from plugyard.sdk.subscriber import SubscriberPlugin

RAW_TARGET = Target(">=", 0.75)
"""Events delivered to a plugin process: at least 75 % of raw pyzmq's rate."""
COMMANDS_TARGET = Target(">=", 0.75)
"""``list`` round trips: at least 75 % of a raw DEALER/ROUTER echo's."""
CIRCUS_TARGET = Target(">", 1.0)
"""Events delivered to a plugin process: faster than circus's plugin stack."""

HERE = Path(__file__).resolve().parent
BODY = 190
"""Bytes of event data in the headline figure (the project's pyzmq anchor's body)."""
SIZES = (BODY, 1024, 4096, 16384)
"""Event data sizes, the x axis of the events curve."""
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


def payload(size: int) -> dict[str, Any]:
    """The benchmark's event data, padded so that its JSON takes about ``size`` bytes."""
    base = dict(PAYLOAD)
    pad = size - len(json.dumps(base)) - len(', "pad": ""')
    if pad > 0:
        base["pad"] = "x" * pad
    return base


async def plugyard_events(n: int, folder: Path, size: int = BODY) -> dict[str, float]:
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
        publish, data = host.publish, payload(size)
        start = time.perf_counter()
        for i in range(n):
            publish("bench.item", **data)
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


def raw_events(n: int, folder: Path, size: int = BODY) -> dict[str, float]:
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
        body = payload(size)
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


def command_client(kind: str, endpoint: str, n: int) -> None:
    """The client process: ``n`` sequential ``list`` round trips, then its rate on stdout."""
    if kind == "plugyard":
        from plugyard.adapters.zmq import HostClient

        with HostClient(endpoint) as client:
            client.call("list")
            start = time.perf_counter()
            for _ in range(n):
                client.call("list")
            print(json.dumps({"rate": n / (time.perf_counter() - start)}), flush=True)
        return
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoint)
    dealer.send(json.dumps({"id": "0", "command": "list", "properties": {}}).encode())
    dealer.recv()
    start = time.perf_counter()
    for i in range(n):
        dealer.send(json.dumps({"id": str(i), "command": "list", "properties": {}}).encode())
        json.loads(dealer.recv())
    print(json.dumps({"rate": n / (time.perf_counter() - start)}), flush=True)
    dealer.close(linger=0)
    ctx.term()


def client_process(kind: str, endpoint: str, n: int) -> subprocess.Popen[str]:
    argv = [sys.executable, __file__, "cmd-client", kind, endpoint, str(n)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def client_rate(child: subprocess.Popen[str]) -> float:
    out, _ = child.communicate(timeout=300)
    if child.returncode != 0:
        raise RuntimeError(f"command client exited with status {child.returncode}")
    return float(json.loads(out.strip().splitlines()[-1])["rate"])


async def plugyard_commands(n: int, folder: Path) -> float:
    from plugyard.adapters.zmq import adapter
    from plugyard.host import Host

    config = {"host": {"name": "cmd", "runtime_dir": str(folder / "rc"), "log_level": "warning"}}
    async with Host(config, autoload=False, adapters=[adapter]) as host:
        child = client_process("plugyard", ZmqService.of(host).endpoint, n)
        return await asyncio.to_thread(client_rate, child)


def raw_commands(n: int, folder: Path) -> float:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    endpoint = f"ipc://{folder}/echo.sock"
    router.bind(endpoint)
    child = client_process("raw", endpoint, n)
    try:
        for _ in range(n + 1):
            while not router.poll(100):
                if child.poll() is not None:
                    break
            else:
                ident, body = router.recv_multipart()
                request = json.loads(body)
                reply = {"id": request["id"], "status": "ok", "time": time.time(), "plugins": []}
                router.send_multipart([ident, json.dumps(reply).encode()])
                continue
            break
        return client_rate(child)
    finally:
        child.kill()
        router.close(linger=0)
        ctx.term()


# -- main ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def paired(ours: list[float], raw: list[float]) -> float:
    """The median of the per-round ratios: each round's two sides ran one after the other."""
    return median([a / b for a, b in zip(ours, raw, strict=True) if b])


def curves(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The events curve over the data size, beside raw pyzmq, in the shape ``run_all.py``
    draws (see ``_figures.py``)."""
    sizes = result["sizes"]
    return [
        {
            "name": "events_vs_raw_pyzmq",
            "title": "`host.publish` -> plugin process",
            "x_label": "event data (bytes of JSON)",
            "unit": "events/s",
            "log_x": True,
            "series": [
                {
                    "label": "`host.publish`",
                    "raw": False,
                    "points": [
                        [int(x), round(c["plugyard_events_per_s"])] for x, c in sizes.items()
                    ],
                },
                {
                    "label": "raw pyzmq XPUB/SUB",
                    "raw": True,
                    "points": [
                        [int(x), round(c["raw_pyzmq_events_per_s"])] for x, c in sizes.items()
                    ],
                },
            ],
        }
    ]


def figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures beside their raw building blocks, with the targets, for ``run_all.py``."""
    label = "`host.publish` -> plugin process"
    found = []
    for size, case in result["sizes"].items():
        headline = int(size) == BODY
        found.append(
            figure(
                "events_vs_raw_pyzmq" if headline else f"events_vs_raw_pyzmq_{size}_bytes",
                label + ("" if headline else f", {size} bytes of data"),
                unit="events/s",
                plugyard=round(case["plugyard_events_per_s"]),
                raw=round(case["raw_pyzmq_events_per_s"]),
                raw_label="raw pyzmq XPUB/SUB",
                ratio=case["ratio_vs_raw"],
                target=RAW_TARGET if headline else None,
            )
        )
    ours = round(result["sizes"][BODY]["plugyard_events_per_s"])
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
            ratio=result["commands_ratio_vs_raw"],
            target=COMMANDS_TARGET,
        )
    )
    return found


def measure_events(n: int, repeats: int, size: int, folder: Path) -> dict[str, Any]:
    ours: list[dict[str, float]] = []
    raw: list[dict[str, float]] = []
    for _ in range(repeats):
        ours.append(asyncio.run(plugyard_events(n, folder, size)))
        raw.append(raw_events(n, folder, size))
    return {
        "plugyard_events_per_s": median([r["rate"] for r in ours]),
        "plugyard_received": min(r["received"] for r in ours),
        "raw_pyzmq_events_per_s": median([r["rate"] for r in raw]),
        "ratio_vs_raw": round(paired([r["rate"] for r in ours], [r["rate"] for r in raw]), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    n, repeats, calls = (3_000, 1, 300) if args.quick else (100_000, 5, 3_000)
    folder = Path(tempfile.mkdtemp(prefix="bz-"))
    os.environ["PYTHONPATH"] = str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")
    sys.path.insert(0, str(HERE))
    try:
        sizes = {
            size: measure_events(n if size == BODY else n // 2, repeats, size, folder)
            for size in SIZES
        }
        circus = [r for r in (circus_events(n, folder) for _ in range(min(repeats, 3))) if r]
        cmd_ours: list[float] = []
        cmd_raw: list[float] = []
        for _ in range(repeats):
            cmd_ours.append(asyncio.run(plugyard_commands(calls, folder)))
            cmd_raw.append(raw_commands(calls, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    headline = sizes[BODY]
    result: dict[str, Any] = {
        "bench": "bench_zmq",
        "mode": "quick" if args.quick else "full",
        "events": n,
        "repeats": repeats,
        "sizes": sizes,
        "plugyard_events_per_s": headline["plugyard_events_per_s"],
        "plugyard_received": headline["plugyard_received"],
        "raw_pyzmq_events_per_s": headline["raw_pyzmq_events_per_s"],
        "ratio_vs_raw": headline["ratio_vs_raw"],
        "circus_events_per_s": median([r["rate"] for r in circus]) if circus else None,
        "plugyard_commands_per_s": median(cmd_ours),
        "raw_commands_per_s": median(cmd_raw),
        "commands_ratio_vs_raw": round(paired(cmd_ours, cmd_raw), 3),
    }
    if result["circus_events_per_s"]:
        result["ratio_vs_circus"] = result["plugyard_events_per_s"] / result["circus_events_per_s"]
    result["curves"] = curves(result)
    result["figures"] = figures(result)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"events per run: {n} ({n // 2} past {BODY} bytes), {repeats} round(s), alternating")
    for size, case in sizes.items():
        print(
            f"  {size:>6} bytes: plugyard {case['plugyard_events_per_s']:>10,.0f}/s "
            f"({case['plugyard_received']} received), raw pyzmq "
            f"{case['raw_pyzmq_events_per_s']:>10,.0f}/s, ratio {case['ratio_vs_raw']:.2f}"
        )
    if result["circus_events_per_s"]:
        print(
            f"  circus plugin stack (split+load)  {result['circus_events_per_s']:>10,.0f}/s, "
            f"ratio {result['ratio_vs_circus']:.2f} (target > {CIRCUS_TARGET.limit:.2f})"
        )
    print(
        f"command round trips: plugyard {result['plugyard_commands_per_s']:,.0f}/s, "
        f"raw DEALER/ROUTER {result['raw_commands_per_s']:,.0f}/s, "
        f"ratio {result['commands_ratio_vs_raw']:.2f} (target >= {COMMANDS_TARGET.limit:.2f})"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "raw-sub":
        raw_subscriber(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "cmd-client":
        command_client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(main())
