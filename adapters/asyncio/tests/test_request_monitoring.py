"""Request monitoring: plugyard's HTTP server emits one ``monitoring_event`` per request, with
LUNA's point shape, to native and LUNA monitoring plugins alike; it can be switched off."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService
from plugyard.host.testing import run_host
from plugyard.sdk.events import (
    BackgroundPlugin,
    BaseRequestMonitoringPlugin,
    MonitoringPayload,
    MonitoringPoint,
    route,
)

pytestmark = pytest.mark.timeout(30)


class Recorder(BaseRequestMonitoringPlugin):
    """Keeps every point; ``wait_for(n)`` waits until ``n`` have arrived."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.points: list[MonitoringPoint] = []
        self.arrived = asyncio.Event()

    async def flush_point_to_monitoring(self, points: list[MonitoringPoint], logger: Any) -> None:
        self.points.extend(points)
        self.arrived.set()

    async def wait_for(self, count: int) -> list[MonitoringPoint]:
        async with asyncio.timeout(5):
            while len(self.points) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.points


class Things(BackgroundPlugin):
    @route("/things/{thing_id:int}")
    async def thing(self, request: Request) -> Response:
        return PlainTextResponse(str(request.path_params["thing_id"]))

    @route("/boom")
    async def boom(self, request: Request) -> Response:
        raise RuntimeError("kettle exploded")


@dataclass
class OwnPayload:
    """An application's own payload for ``monitoring_event``."""

    value: int


def config(tmp_path: Any, **http: Any) -> dict[str, Any]:
    return {"host": {"runtime_dir": str(tmp_path / "run")}, "http": {"port": 0, **http}}


async def test_every_request_gives_one_point(tmp_path: Any) -> None:
    plugins = {"recorder": Recorder, "things": Things}
    before = time.time()
    async with run_host(plugins, config(tmp_path), adapters=[AsyncioAdapter()]) as host:
        assert AsyncioService.of(host).event_types["monitoring_event"].payload is MonitoringPayload
        recorder = host.registry.handle("recorder").instance
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            thing = await client.get("/things/7", headers={"X-Request-Id": "req-thing"})
            await client.get("/nowhere", headers={"X-Request-Id": "req-404"})
            await client.get("/boom", headers={"X-Request-Id": "req-500"})
            health = await client.get("/health")
        points = await recorder.wait_for(4)
    after = time.time()
    by_id = {point.request_id: point for point in points}
    assert len(points) == len(by_id) == 4
    generated = health.headers["x-request-id"]
    assert thing.headers["x-request-id"] == "req-thing"
    assert set(by_id) == {"req-thing", "req-404", "req-500", generated}
    assert by_id["req-thing"].tags == {
        "service": host.name,
        "route": "GET:/things/{thing_id:int}",
        "status_code": 200,
    }
    assert by_id["req-404"].tags["route"] == "GET:/nowhere"
    assert by_id["req-404"].tags["status_code"] == 404
    assert by_id["req-500"].tags["status_code"] == 500
    assert by_id[generated].tags["route"] == "GET:/health"
    for point in points:
        assert before <= point.event_time <= after
        assert point.fields["request_id"] == point.request_id
        assert 0 <= point.fields["execution_time"] < 5


class Annotating(Recorder):
    """Overrides ``handle_event``: the adapter must call it, not go straight to the flush."""

    async def handle_event(self, points: list[MonitoringPoint], logger: Any) -> None:
        for point in points:
            point.tags["seen_by"] = "handle_event"
        await super().handle_event(points=points, logger=logger)


async def test_a_plugin_that_overrides_handle_event_is_called_through_it(tmp_path: Any) -> None:
    plugins = {"plain": Recorder, "annotating": Annotating}
    async with run_host(plugins, config(tmp_path), adapters=[AsyncioAdapter()]) as host:
        plain = host.registry.handle("plain").instance
        annotating = host.registry.handle("annotating").instance
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            await client.get("/health", headers={"X-Request-Id": "req-1"})
        annotated = await annotating.wait_for(1)
        seen = await plain.wait_for(1)
    assert [p.request_id for p in seen] == [p.request_id for p in annotated] == ["req-1"]
    assert annotated[0].tags["seen_by"] == "handle_event"
    assert isinstance(annotated[0].fields["execution_time"], float)


async def test_the_last_requests_points_reach_the_plugins_when_the_host_stops(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Points wait a few milliseconds to go out in a batch (here: a minute, longer than the
    test); stopping the host hands the waiting points to the plugin before it stops."""
    from plugyard.adapters.asyncio import _monitoring

    monkeypatch.setattr(_monitoring, "FLUSH_DELAY", 60.0)
    plugins = {"recorder": Recorder, "things": Things}
    async with run_host(plugins, config(tmp_path), adapters=[AsyncioAdapter()]) as host:
        recorder = host.registry.handle("recorder").instance
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            ids = [f"req-last-{n}" for n in range(3)]
            for request_id in ids:
                await client.get("/things/1", headers={"X-Request-Id": request_id})
    assert [point.request_id for point in recorder.points] == ids


async def test_the_request_id_header_is_configurable(tmp_path: Any) -> None:
    settings = config(tmp_path, request_id_header="Luna-Request-Id")
    async with run_host({"recorder": Recorder}, settings, adapters=[AsyncioAdapter()]) as host:
        recorder = host.registry.handle("recorder").instance
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            named = await client.get("/health", headers={"Luna-Request-Id": "1765080000,abc"})
            other = await client.get("/health", headers={"X-Request-Id": "ignored"})
        points = await recorder.wait_for(2)
    assert named.headers["luna-request-id"] == "1765080000,abc"
    assert "x-request-id" not in named.headers
    assert other.headers["luna-request-id"] != "ignored"
    assert [p.request_id for p in points] == ["1765080000,abc", other.headers["luna-request-id"]]


async def test_switched_off_no_point_is_emitted(tmp_path: Any) -> None:
    settings = config(tmp_path, request_monitoring=False)
    async with run_host({"recorder": Recorder}, settings, adapters=[AsyncioAdapter()]) as host:
        assert "monitoring_event" not in AsyncioService.of(host).event_types
        AsyncioService.of(host).event_types.declare("monitoring_event", MonitoringPayload)
        recorder = host.registry.handle("recorder").instance
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            assert (await client.get("/health")).status_code == 200
        marker = MonitoringPoint("marker", time.time())
        assert (await AsyncioService.of(host).emit_and_wait("monitoring_event", points=[marker])).ok
    # the queue is in order: a point of the request would have come before the marker
    assert recorder.points == [marker]


async def test_an_application_serving_the_app_itself_monitors_only_when_asked(
    tmp_path: Any,
) -> None:
    bare = {"host": {"runtime_dir": str(tmp_path / "bare")}}
    async with run_host({"recorder": Recorder}, bare, adapters=[AsyncioAdapter()]) as host:
        assert "monitoring_event" not in AsyncioService.of(host).event_types
    asked = {
        "host": {"runtime_dir": str(tmp_path / "asked")},
        "http": {"enabled": False, "request_monitoring": True},
    }
    async with run_host({"recorder": Recorder}, asked, adapters=[AsyncioAdapter()]) as host:
        assert "http_url" not in host.advertised
        recorder = host.registry.handle("recorder").instance
        transport = httpx.ASGITransport(app=AsyncioService.of(host).asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            await client.get("/health", headers={"X-Request-Id": "mounted"})
        [point] = await recorder.wait_for(1)
    assert point.request_id == "mounted"


async def test_another_payload_type_turns_monitoring_off_with_a_warning(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="plugyard.adapters.asyncio.http")
    settings = config(tmp_path)
    settings["asyncio"] = {"events": {"monitoring_event": {"type": f"{__name__}:OwnPayload"}}}
    async with (
        run_host({}, settings, adapters=[AsyncioAdapter()]) as host,
        httpx.AsyncClient(timeout=5) as client,
    ):
        assert (await client.get(f"{host.advertised['http_url']}/health")).status_code == 200
    assert "request monitoring is off: event 'monitoring_event' is declared with payload" in (
        caplog.text
    )


class GatedRecorder(Recorder):
    """Handles nothing until its gate opens, so its queue fills up."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.gate = asyncio.Event()

    async def flush_point_to_monitoring(self, points: list[MonitoringPoint], logger: Any) -> None:
        await self.gate.wait()
        await super().flush_point_to_monitoring(points, logger)


async def test_a_full_queue_keeps_the_newest_points_and_counts_the_rest(tmp_path: Any) -> None:
    """Points handed over in a batch obey the plugin's queue size one by one, as emitted
    events do: under ``drop_oldest`` (the default) the newest stay, and every point dropped
    is counted."""
    settings = config(tmp_path)
    settings["asyncio"] = {"delivery": {"slow": {"queue_size": 3}}}
    async with run_host({"slow": GatedRecorder}, settings, adapters=[AsyncioAdapter()]) as host:
        slow = host.registry.handle("slow").instance
        ids = [f"req-{n}" for n in range(8)]
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            for request_id in ids:
                await client.get("/health", headers={"X-Request-Id": request_id})
        drops = await host.recorder.await_for("events.monitoring_event.dropped")
        slow.gate.set()
        async with asyncio.timeout(5):
            while True:  # every point is either handled or counted as dropped
                slow.arrived.clear()
                if len(slow.points) + host.stats["slow"].drops >= len(ids):
                    break
                await slow.arrived.wait()
        kept = [point.request_id for point in slow.points]
        assert kept == sorted(kept) and kept[-3:] == ids[-3:]  # in order, the newest kept
        assert host.stats["slow"].drops == len(ids) - len(kept) > 0
        assert drops[0].data["plugin"] == "slow"
