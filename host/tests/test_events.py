"""The event stream: numbering, glob subscriptions, ordering, threads, overflow, isolation."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from plugyard.host import Host, Stats
from plugyard.host._bus import EventBus
from plugyard.host.testing import run_host
from plugyard.sdk import Event, hookimpl


async def test_events_are_numbered_and_delivered_in_order_to_matching_globs() -> None:
    async with run_host() as host:
        await host.bus.drain(1)
        got: dict[str, list[str]] = {"all": [], "app": [], "exact": []}
        host.subscribe("*", lambda e: got["all"].append(e.topic))
        host.subscribe("app.*", lambda e: got["app"].append(e.topic))
        host.subscribe("app.a.b", lambda e: got["exact"].append(e.topic))
        first = host.publish("app.a.b", x=1)
        second = host.publish("other.thing")
        third = host.publish("app.c")
        assert second.seq == first.seq + 1 == third.seq - 1
        assert first.id != second.id and first.source == "host"
        await host.bus.drain(2)
    assert got["app"] == ["app.a.b", "app.c"]
    assert got["exact"] == ["app.a.b"]
    assert got["all"][:3] == ["app.a.b", "other.thing", "app.c"]


async def test_async_subscribers_and_plugyard_event_see_every_event() -> None:
    seen: list[int] = []

    class Observer:
        name = "observer"

        @hookimpl
        async def plugyard_event(self, event: Event) -> None:
            if event.topic == "tick":
                await asyncio.sleep(0)
                seen.append(event.data["n"])

    received: list[int] = []

    async def on_tick(event: Event) -> None:
        received.append(event.data["n"])

    async with run_host([Observer()]) as host:
        host.subscribe("tick", on_tick)
        for n in range(50):
            host.publish("tick", n=n)
        await host.bus.drain(2)
    assert seen == received == list(range(50))


async def test_publishing_from_threads_is_safe_and_seq_stays_unique() -> None:
    async with run_host() as host:
        topics: list[int] = []
        host.subscribe("thread.*", lambda e: topics.append(e.seq))

        def worker() -> None:
            for _ in range(500):
                host.publish("thread.x")

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        assert await host.bus.drain(5)
    assert len(topics) == 2000 and len(set(topics)) == 2000 and topics == sorted(topics)


async def test_a_failing_subscriber_is_isolated_and_counted(caplog: Any) -> None:
    ok: list[str] = []

    def bad(event: Event) -> None:
        raise ValueError("bad subscriber")

    async with run_host() as host:
        host.subscribe("x", bad, name="bad-sub")
        host.subscribe("x", lambda e: ok.append(e.topic))
        host.publish("x")
        await host.bus.drain(2)
        assert host.stats["bad-sub"].errors == 1
    assert ok == ["x"]
    assert "event subscriber bad-sub failed on x" in caplog.text


async def test_unsubscribe() -> None:
    async with run_host() as host:
        got: list[str] = []
        stop = host.subscribe("x", lambda e: got.append(e.topic))
        host.publish("x")
        await host.bus.drain(1)
        stop()
        host.publish("x")
        await host.bus.drain(1)
    assert got == ["x"]


async def test_overflow_drops_the_oldest_and_counts() -> None:
    stats = Stats()
    bus = EventBus("h", stats, maxsize=10)
    got: list[int] = []
    bus.subscribe("*", lambda e: got.append(e.data["n"]))
    for n in range(25):
        bus.publish("e", {"n": n})
    await bus.start()
    await bus.drain(2)
    await bus.stop()
    assert got == list(range(15, 25))
    assert bus.dropped == 15 and stats["host"].drops == 15


async def test_events_published_before_start_are_delivered_after() -> None:
    host = Host(autoload=False)
    got: list[str] = []
    host.subscribe("early", lambda e: got.append(e.topic))
    host.publish("early")
    async with host:
        await host.bus.drain(1)
    assert got == ["early"]


def test_event_round_trips_and_bad_input_is_named() -> None:
    import pytest

    from plugyard.sdk import EventFormatError

    event = Event("a.b", {"k": [1, 2]}, "src", 12.5, "id-1", 7)
    assert Event.from_dict(event.to_dict()) == event
    assert Event.from_dict(event.body(), topic="a.b") == event
    assert event.matches("a") and event.matches("a.b") and not event.matches("a.bc")
    with pytest.raises(EventFormatError, match="event.seq"):
        Event.from_dict({"topic": "t", "seq": "1"})
    with pytest.raises(EventFormatError, match="event.data"):
        Event.from_dict({"topic": "t", "data": []})
    with pytest.raises(EventFormatError, match="event.topic"):
        Event.from_dict({"data": {}})


async def test_a_long_burst_of_synchronous_deliveries_lets_other_tasks_run() -> None:
    async with run_host() as host:
        await host.bus.drain(1)
        seen: list[int] = []
        host.subscribe("burst.*", lambda e: seen.append(e.seq))
        progress: list[int] = []

        async def ticker() -> None:
            while True:
                progress.append(len(seen))
                await asyncio.sleep(0)

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        for n in range(2000):
            host.publish("burst.item", n=n)
        await host.bus.drain(10)
        tick.cancel()
        assert len(seen) == 2000
        during = [count for count in progress if 0 < count < 2000]
        assert len(during) >= 10, "the dispatcher delivered the whole burst without yielding"


async def test_relayed_events_keep_their_origin_and_take_the_next_local_seq() -> None:
    import pytest

    async with run_host() as host:
        got: list[Event] = []
        host.subscribe("far.*", got.append)
        local = host.publish("far.local")
        far = Event("far.tick", {"n": 1}, "src", 3.5, "other-41", 41, "other", 41)
        relayed = host.bus.relay(far)
        assert relayed.seq == local.seq + 1
        assert (relayed.id, relayed.time, relayed.origin, relayed.origin_seq) == (
            "other-41",
            3.5,
            "other",
            41,
        )
        await host.wait_delivered(relayed)
        assert [e.topic for e in got] == ["far.local", "far.tick"]
        assert got[1] == relayed
        with pytest.raises(ValueError, match="no origin"):
            host.bus.relay(Event("far.tick", {}, "src"))


def test_origin_travels_in_the_wire_forms_only_when_set() -> None:
    import pytest

    from plugyard.sdk import EventFormatError

    own = Event("a.b", {"k": 1}, "src", 1.0, "me-1", 1)
    assert "origin" not in own.to_dict() and "origin" not in own.body()
    far = Event("a.b", {"k": 1}, "src", 1.0, "far-9", 3, "far", 9)
    assert far.to_dict()["origin"] == "far" and far.body()["origin_seq"] == 9
    assert Event.from_dict(far.to_dict()) == far
    assert Event.from_dict(far.body(), topic="a.b") == far
    with pytest.raises(EventFormatError, match="event.origin_seq"):
        Event.from_dict({"topic": "t", "origin": "far", "origin_seq": "9"})
    with pytest.raises(EventFormatError, match="event.origin"):
        Event.from_dict({"topic": "t", "origin": 5})
