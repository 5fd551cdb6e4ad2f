"""Hosts sharing one event stream through Redis: origin kept, no echo, losses counted."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from plugyard.adapters.bridge import BridgeService, adapter, redact_url
from plugyard.host import CommandError, Host
from plugyard.sdk.testing import EventRecorder, require_service


@pytest.fixture
def stream() -> Iterator[str]:
    """A stream name of this test's own; the stream and its position keys are deleted after."""
    require_service("redis")
    name = f"plugyard-test:{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis()
    keys = [name, *client.scan_iter(f"{name}:*")]
    client.delete(*keys)
    client.close()


def bridged(url: str, stream: str, name: str, tmp_path: Path, **events: Any) -> Host:
    config = {
        # a loaded CI machine can take seconds to import Redis: the tests are not about that
        "host": {"name": name, "runtime_dir": str(tmp_path / name), "startup_timeout": 120},
        "events": {"bridge": url, "stream": stream, "block": 0.2, "retry": 0.05, **events},
    }
    return Host(config, autoload=False, adapters={"bridge": adapter})


@asynccontextmanager
async def running(*hosts: Host) -> AsyncIterator[None]:
    started: list[Host] = []
    try:
        for host in hosts:
            await host.start()
            started.append(host)
        yield
    finally:
        for host in reversed(started):
            await host.stop()


async def test_each_host_sees_the_others_events_with_their_origin_and_never_its_own(
    stream: str, tmp_path: Path
) -> None:
    url = "redis://127.0.0.1:6379/0"
    a = bridged(url, stream, "a", tmp_path)
    b = bridged(url, stream, "b", tmp_path)
    seen_a = EventRecorder.attach(a, "app.*")
    seen_b = EventRecorder.attach(b, "app.*")
    async with running(a, b):
        sent = [a.publish("app.tick", n=n) for n in range(50)]
        b.publish("app.from_b", n=1)
        got = await seen_b.await_for("app.tick", count=50, timeout=10)
        await seen_a.await_for("app.from_b", timeout=10)
        assert [e.data["n"] for e in got] == list(range(50))
        assert {e.origin for e in got} == {a.id}
        assert [e.origin_seq for e in got] == [e.seq for e in sent]
        assert [e.id for e in got] == [e.id for e in sent]
        # B numbers what it relays in its own sequence, without gaps
        assert [e.seq for e in got] == list(range(got[0].seq, got[0].seq + 50))
        from_b = seen_a.matching("app.from_b")[0]
        assert from_b.origin == b.id
        assert from_b.to_dict()["origin"] == b.id
        # nobody receives its own events back, and relayed events are not written again
        assert all(e.origin == "" for e in seen_a.matching("app.tick"))
        assert all(e.origin == "" for e in seen_b.matching("app.from_b"))
        a.publish("app.last")
        await seen_b.await_for("app.last", timeout=10)
        status = await b.run_command("bridge")
        assert status["relayed"] >= 51
        assert status["up"] is True
        assert status["lost"] == 0
        assert len(seen_a.matching("app.tick")) == 50
    assert redis.Redis().xlen(stream) == sum(
        s.published for s in (BridgeService.of(a), BridgeService.of(b))
    )


async def test_a_host_back_from_a_stop_catches_up_and_counts_what_retention_removed(
    stream: str, tmp_path: Path
) -> None:
    url = "redis://127.0.0.1:6379/0"
    a = bridged(url, stream, "a", tmp_path)
    b1 = bridged(url, stream, "b", tmp_path)
    seen1 = EventRecorder.attach(b1, "app.*")
    async with running(a):
        async with running(b1):
            a.publish("app.hello")
            await seen1.await_for("app.hello", timeout=10)
        # b is down: a goes on publishing
        ticks = [a.publish("app.tick", n=n) for n in range(20)]
        assert await BridgeService.of(a).flush(60)
        client = redis.Redis()
        # the stream loses a's event n=5 before b comes back, as retention would
        doomed = [i for i, fields in client.xrange(stream) if b'"n":5}' in fields[b"e"]]
        assert len(doomed) == 1
        client.xdel(stream, *doomed)
        client.close()
        b2 = bridged(url, stream, "b", tmp_path)
        seen2 = EventRecorder.attach(b2, "*")
        async with running(b2):
            got = await seen2.await_for("app.tick", count=19, timeout=10)
            assert [e.data["n"] for e in got] == [n for n in range(20) if n != 5]
            assert [e.origin_seq for e in got] == [t.seq for t in ticks if t.data["n"] != 5]
            assert not seen2.matching("app.hello")
            missed = await seen2.await_for("bridge.missed", timeout=10)
            assert missed[0].data["missed"] == 1
            assert missed[0].data["origin"] == a.id
            assert BridgeService.of(b2).missed == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_events_redis_could_not_take_are_counted_logged_and_reported(
    stream: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()
    url = f"redis://:sekret@127.0.0.1:{port}/0"
    host = bridged(url, stream, "alone", tmp_path, buffer=5)
    seen = EventRecorder.attach(host, "bridge.*")
    caplog.set_level(logging.WARNING, "plugyard.adapters.bridge")
    server: subprocess.Popen[bytes] | None = None
    async with running(host):
        down = await seen.await_for("bridge.down", timeout=10)
        assert "sekret" not in str(down[0].data)
        await host.bus.drain(5)
        service = BridgeService.of(host)
        before, held = service.lost, service.describe()["buffered"]
        for n in range(12):
            host.publish("app.tick", n=n)
        await host.bus.drain(5)
        assert service.lost - before == held + 12 - 5
        assert service.describe()["buffered"] == 5
        total = service.lost
        server = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                "sekret",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            lost = await seen.await_for("bridge.lost", timeout=20)
            assert lost[0].data["lost"] == total
            up = seen.matching("bridge.up")
            assert up and up[0].data["lost"] == total
            assert await service.flush(10)
            client = redis.Redis(port=port, password="sekret")
            written = [json.loads(fields[b"e"]) for _, fields in client.xrange(stream)]
            ticks = [e["data"]["n"] for e in written if e["topic"] == "app.tick"]
            assert ticks == [7, 8, 9, 10, 11]
            assert {e["topic"] for e in written} >= {"bridge.up", "bridge.lost"}
            client.close()
        finally:
            server.terminate()
            server.wait(10)
    messages = [r.getMessage() for r in caplog.records]
    assert any("does not answer" in m for m in messages)
    assert any(f"{total} own events were lost" in m for m in messages)
    assert not any("sekret" in m for m in messages)


def test_urls_lose_their_password_before_anyone_sees_them() -> None:
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("redis://u:pw@h/0") == "redis://u:***@h/0"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"


async def test_a_host_without_a_bridge_has_no_bridge_service(tmp_path: Path) -> None:
    host = Host(
        {"host": {"runtime_dir": str(tmp_path / "run")}},
        autoload=False,
        adapters={"bridge": adapter},
    )
    async with host:
        assert BridgeService.find(host) is None
        with pytest.raises(CommandError, match="bridge"):
            await host.run_command("bridge")
