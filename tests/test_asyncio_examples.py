"""The asyncio-plugins example, end to end: emitted events reach a local HTTP sink, the teapot
answers over real HTTP, in process and under ``plugyard run``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService
from plugyard.host.testing import run_host
from plugyard.sdk.events import MonitoringPoint

pytestmark = pytest.mark.timeout(60)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "asyncio-plugins"
PLUGIN_DIR = EXAMPLE / "src" / "asyncio_plugins"
ACTIVE = [
    "request_monitoring_plugin_example",
    "event_sending_plugin_example",
    "background_plugin_example",
]


class Sink:
    """A bucket service on a free loopback port that records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                sink.requests.append((self.path, json.loads(raw) if raw else None))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/1/buckets"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def objects(self) -> list[Any]:
        return [body for path, body in self.requests if path.endswith("/objects")]


@pytest.fixture
def sink() -> Iterator[Sink]:
    found = Sink()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def example_config(sink: Sink, runtime: Path) -> dict[str, Any]:
    return {
        "host": {
            "runtime_dir": str(runtime),
            "plugin_dirs": [str(PLUGIN_DIR)],
            "active_plugins": ACTIVE,
        },
        "asyncio": {
            "events": {
                "monitoring_event": {"type": "plugyard.sdk.events:MonitoringPayload"},
                "sending_event": {"type": "plugyard.sdk.events:SendingPayload"},
            },
        },
        "plugins": {
            "request_monitoring_plugin_example": {"url": sink.url, "bucket": "monitoring"},
            "event_sending_plugin_example": {"url": sink.url, "bucket": "events"},
            "background_plugin_example": {"interval": 0.01},
        },
        "http": {"port": 0},
    }


async def test_example_plugins_in_process(
    sink: Sink, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="plugyard.plugins")
    config = example_config(sink, tmp_path / "run")
    async with run_host(config=config, adapters=[AsyncioAdapter()]) as host:
        assert ("/1/buckets?bucket=monitoring", None) in sink.requests
        assert ("/1/buckets?bucket=events", None) in sink.requests
        point = MonitoringPoint("req-1", 1700000000.5, {"resource": "/6/handlers"}, {"t": 0.3})
        monitored = await AsyncioService.of(host).emit_and_wait("monitoring_event", points=[point])
        assert monitored.ok, monitored
        sent = await AsyncioService.of(host).emit_and_wait(
            "sending_event",
            events=[{"event_id": "e-1", "face": {"score": 0.9}}],
            handler_id="h-1",
            account_id="a-1",
            request_id="req-1",
            create_event_time="2024-01-01T00:00:00Z",
            end_event_time="2024-01-01T00:00:01Z",
        )
        assert sent.ok, sent
        assert sink.objects() == [
            {"tags": {"resource": "/6/handlers"}, "fields": {"t": 0.3}},
            {
                "handler_id": "h-1",
                "account_id": "a-1",
                "Luna-Request-Id": "req-1",
                "events": [{"event_id": "e-1", "face": {"score": 0.9}}],
                "event_create_time": "2024-01-01T00:00:00Z",
                "event_end_time": "2024-01-01T00:00:01Z",
            },
        ]
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            teapot = await client.get("/teapot")
        assert (teapot.status_code, teapot.text) == (418, "I am teapot")
        async with asyncio.timeout(5):
            while "temperature: 3" not in caplog.text:  # noqa: ASYNC110 - polls the log
                await asyncio.sleep(0.02)
        assert "I boil water, temperature: 3" in caplog.text
        boiling = [r for r in caplog.records if "I boil water" in r.getMessage()]
        assert boiling[0].name == "plugyard.plugins.background_plugin_example"


async def test_unreachable_sink_fails_initialize_and_the_rest_runs(tmp_path: Path) -> None:
    dead = Sink()
    dead.server.server_close()  # nothing listens there any more
    config = example_config(dead, tmp_path / "run")
    async with run_host(config=config, adapters=[AsyncioAdapter()]) as host:
        record = host.registry.get("request_monitoring_plugin_example")
        assert str(record.state) == "failed"
        assert "initialize() failed: ConnectError" in (record.error or "")
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            assert (await client.get("/teapot")).status_code == 418
            health = (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert "event_sending_plugin_example" in health["failed"]


def _toml(value: Any) -> str:
    return json.dumps(value)


def write_config(path: Path, config: dict[str, Any]) -> None:
    lines = []
    for section, table in config.items():
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        flat = {k: v for k, v in table.items() if not isinstance(v, dict)}
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml(value)}" for key, value in flat.items()]
        for name, sub in nested.items():
            subs = {k: v for k, v in sub.items() if isinstance(v, dict)}
            lines.append(f"[{section}.{name}]")
            lines += [f"{key} = {_toml(v)}" for key, v in sub.items() if not isinstance(v, dict)]
            for sub_name, leaf in subs.items():
                lines.append(f"[{section}.{name}.{sub_name}]")
                lines += [f"{key} = {_toml(v)}" for key, v in leaf.items()]
    path.write_text("\n".join(lines) + "\n")


def test_plugyard_run_serves_the_example_and_stops_on_sigint(sink: Sink, tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    config_file = tmp_path / "plugyard.toml"
    write_config(config_file, example_config(sink, runtime))
    plugyard = Path(sys.executable).with_name("plugyard")
    env = {k: v for k, v in os.environ.items() if k != "PLUGYARD_DISABLE_AUTOLOAD"}
    proc = subprocess.Popen(
        [str(plugyard), "run", "-c", str(config_file), "--log-level", "info"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = _wait_for_url(runtime / "host.json", proc)
        response = httpx.get(url + "/teapot", timeout=5)
        assert (response.status_code, response.text) == (418, "I am teapot")
        listing = httpx.get(url + "/plugins", timeout=5).json()["plugins"]
        states = {p["name"]: p["state"] for p in listing if p["model"] == "asyncio"}
        assert states == dict.fromkeys(ACTIVE, "started")
        time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "I boil water, temperature: 1" in stderr
    assert "plugyard: host stopped" in stderr
    assert "Traceback" not in stderr
    assert ("/1/buckets?bucket=monitoring", None) in sink.requests


def _wait_for_url(info: Path, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"plugyard run exited early: {proc.stderr.read()}")  # type: ignore[union-attr]
        if info.exists():
            data = json.loads(info.read_text() or "{}")
            if "http_url" in data:
                return str(data["http_url"])
        time.sleep(0.05)
    raise AssertionError(f"no http_url in {info} within 20s")
