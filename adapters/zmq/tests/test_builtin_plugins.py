"""The built-in subscriber plugins, each end to end through a host and its plugin process."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

from conftest import wait_until, zmq_host

BUILTINS = "plugyard.adapters.zmq.plugins"


async def test_event_logger_appends_every_event_as_json(runtime_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    plugins = {"events": {"use": f"{BUILTINS}:EventLogger", "filename": str(log)}}
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        sent = [host.publish("app.logged", n=i) for i in range(10)]

        def logged() -> list[dict[str, object]]:
            lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
            return [x for x in lines if x["topic"] == "app.logged"]

        lines = await wait_until(lambda: len(logged()) == 10 and logged(), what="10 lines")
    assert [line["data"] for line in lines] == [{"n": i} for i in range(10)]
    assert [line["seq"] for line in lines] == [e.seq for e in sent]
    assert all(line["source"] == "host" and line["id"] for line in lines)
    assert "host.stopping" in [json.loads(x)["topic"] for x in log.read_text().splitlines()]


async def test_event_logger_text_format_is_the_tutorials(runtime_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "events.txt"
    plugins = {"events": {"use": f"{BUILTINS}:EventLogger", "filename": str(log), "format": "text"}}
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        host.publish("plugin.web.started", port=80)
        await wait_until(
            lambda: log.exists() and "started web::" in log.read_text(), what="a text line"
        )
    line = next(x for x in log.read_text().splitlines() if x.startswith("started web::"))
    assert "'data': {'port': 80}" in line


async def test_flapping_alerts_runs_its_command_and_retries(
    runtime_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "alert.txt"
    command = [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write(sys.argv[2])"]
    plugins = {
        "alerts": {
            "use": f"{BUILTINS}:Flapping",
            "command": [*command, str(marker), "{name}:{crashes}"],
            "retry_in": 0.2,
            "max_retry": 1,
        },
        "crashy": {
            "use": "zmq_test_plugins:CrashAtStart",
            "process": {"flap_attempts": 2, "backoff_initial": 0.02},
        },
    }
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        alert = await host.recorder.await_for("alert.crashy.flapping", timeout=10)
        assert alert[0].data["name"] == "crashy" and alert[0].data["crashes"] == 2
        await wait_until(lambda: host.stats["crashy"].restarts >= 1, 10, "a retry by restart")
        await host.recorder.await_for("alert.crashy.flapping", count=2, timeout=10)
        await wait_until(
            lambda: marker.exists() and marker.read_text().count("crashy:2") == 2,
            10,
            "two alerts run",
        )
        await asyncio.sleep(0.6)
        assert len(host.recorder.matching("plugin.crashy.flapping")) == 2, "max_retry = 1"


async def test_statsd_emitter_counts_events_per_topic(runtime_dir: Path) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    plugins = {
        "statsd": {
            "use": f"{BUILTINS}:StatsdEmitter",
            "port": port,
            "prefix": "yard",
            "flush_interval": 0.05,
        }
    }
    counts: dict[str, int] = {}

    def receive() -> int:
        while True:
            try:
                packet = server.recv(4096)
            except BlockingIOError:
                return counts.get("yard.app.metric", 0)
            for line in packet.decode().splitlines():
                name, _, rest = line.partition(":")
                counts[name] = counts.get(name, 0) + int(rest.split("|")[0])

    try:
        async with zmq_host(runtime_dir, plugins=plugins) as host:
            for _ in range(7):
                host.publish("app.metric")
            host.publish("weird:topic|x")
            await wait_until(lambda: receive() == 7, what="7 counted events")
            await wait_until(lambda: receive() and "yard.weird_topic_x" in counts, what="sanitised")
    finally:
        server.close()
    assert counts["yard.app.metric"] == 7
