"""Delivery faults: raising and hanging handlers, slow plugins, overflow under each policy."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService, QueueFullError
from plugyard.host.testing import run_host
from plugyard.sdk.events import EventPlugin

pytestmark = pytest.mark.timeout(30)


@dataclass
class Tick:
    n: int


class Fast(EventPlugin):
    event_name = "tick"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[int] = []

    async def handle_event(self, n: int) -> None:
        self.seen.append(n)


class Gated(EventPlugin):
    """Handles nothing until its gate opens: its queue fills up."""

    event_name = "tick"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.gate = asyncio.Event()
        self.seen: list[int] = []

    async def handle_event(self, n: int) -> None:
        await self.gate.wait()
        self.seen.append(n)


class Flaky(EventPlugin):
    event_name = "tick"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[int] = []

    async def handle_event(self, n: int, logger: Any) -> None:
        if n % 2:
            raise ValueError(f"odd tick {n}")
        logger.info("even tick %d", n)
        self.seen.append(n)


class Hangs(EventPlugin):
    event_name = "tick"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[int] = []

    async def handle_event(self, n: int) -> None:
        if n == 0:
            await asyncio.sleep(3600)
        self.seen.append(n)


def host_with(plugins: dict[str, Any], **asyncio_config: Any) -> Any:
    return run_host(
        plugins=plugins, config={"asyncio": asyncio_config}, adapters=[AsyncioAdapter()]
    )


def instance(host: Any, name: str) -> Any:
    return host.registry.handle(name).instance


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polls plain state
            await asyncio.sleep(0.005)


async def test_a_raising_handler_is_logged_counted_and_keeps_receiving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with host_with({"flaky": Flaky}) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick)
        results = [await AsyncioService.of(host).emit_and_wait("tick", n=n) for n in range(4)]
        assert [r["flaky"].status for r in results] == ["ok", "error", "ok", "error"]
        assert results[1]["flaky"].error == "ValueError: odd tick 1"
        assert instance(host, "flaky").seen == [0, 2]
        assert host.stats["flaky"].errors == 2
        assert host.stats["flaky"].calls == 4
        failures = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(failures) == 2
        assert "plugin 'flaky' failed on event 'tick'" in failures[0].getMessage()
        assert results[1].event_id in failures[0].getMessage()
        assert failures[0].exc_info is not None
        assert any(
            getattr(r, "event_id", None) == results[0].event_id
            and getattr(r, "plugin", None) == "flaky"
            and r.getMessage() == "even tick 0"
            for r in caplog.records
        )
        failed = await host.recorder.await_for("events.tick.failed", count=2)
        assert [e.data["event_id"] for e in failed] == [results[1].event_id, results[3].event_id]
        assert failed[0].data["plugin"] == "flaky"


async def test_a_hanging_handler_times_out_and_the_plugin_goes_on() -> None:
    async with host_with(
        {"hangs": Hangs}, handler_timeout=5, delivery={"hangs": {"handler_timeout": 0.1}}
    ) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick)
        first = await AsyncioService.of(host).emit_and_wait("tick", n=0)
        assert first["hangs"].status == "timeout"
        assert "0.1s" in (first["hangs"].error or "")
        second = await AsyncioService.of(host).emit_and_wait("tick", n=1)
        assert second.ok
        assert instance(host, "hangs").seen == [1]
        assert host.stats["hangs"].timeouts == 1


class Steady(EventPlugin):
    """Takes 50 ms per event; hangs on event 5."""

    event_name = "tick"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[int] = []

    async def handle_event(self, n: int) -> None:
        await asyncio.sleep(3600 if n == 5 else 0.05)
        self.seen.append(n)


async def test_the_timeout_counts_from_each_handlers_own_start() -> None:
    """Five events of 50 ms in a row outlast a 0.2 s timeout together, never alone."""
    async with host_with({"steady": Steady}, handler_timeout=0.2) as host:
        service = AsyncioService.of(host)
        service.event_types.declare("tick", Tick)
        for n in range(5):
            service.emit("tick", n=n)
        hung = await service.emit_and_wait("tick", n=5)
        assert instance(host, "steady").seen == [0, 1, 2, 3, 4]
        assert hung["steady"].status == "timeout"
        assert hung["steady"].duration >= 0.19
        assert host.stats["steady"].timeouts == 1
        assert (await service.emit_and_wait("tick", n=6)).ok


class Stubborn(EventPlugin):
    """Swallows the cancellation of its timeout on event 0; later events use a timeout of
    their own, which must still work."""

    event_name = "tick"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.own_timeouts = 0

    async def handle_event(self, n: int) -> None:
        if n == 0:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                return
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(3600)
        except TimeoutError:
            self.own_timeouts += 1


async def test_a_handler_that_swallows_its_timeout_leaves_the_plugin_working() -> None:
    async with host_with({"stubborn": Stubborn}, handler_timeout=0.1) as host:
        service = AsyncioService.of(host)
        service.event_types.declare("tick", Tick)
        first = await service.emit_and_wait("tick", n=0)
        assert first["stubborn"].status == "ok"
        assert first["stubborn"].duration >= 0.09
        for n in (1, 2):
            assert (await service.emit_and_wait("tick", n=n)).ok
        assert instance(host, "stubborn").own_timeouts == 2
        assert host.stats["stubborn"].calls == 3


async def test_a_slow_plugin_delays_neither_the_emitter_nor_other_plugins() -> None:
    async with host_with({"gated": Gated, "fast": Fast}) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick)
        for n in range(20):
            AsyncioService.of(host).emit("tick", n=n)
        await until(lambda: len(instance(host, "fast").seen) == 20)
        assert instance(host, "fast").seen == list(range(20))
        assert instance(host, "gated").seen == []
        instance(host, "gated").gate.set()
        await AsyncioService.of(host).emit_and_wait("tick", n=20)
        assert instance(host, "gated").seen == list(range(21))


async def test_overflow_drop_oldest_keeps_the_newest_and_reports_drops() -> None:
    async with host_with({"gated": Gated}, delivery={"gated": {"queue_size": 3}}) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick, overflow="drop_oldest")
        AsyncioService.of(host).emit("tick", n=0)
        await asyncio.sleep(0)  # the consumer takes event 0 and waits at the gate
        for n in range(1, 10):
            AsyncioService.of(host).emit("tick", n=n)
        instance(host, "gated").gate.set()
        await AsyncioService.of(host).emit_and_wait("tick", n=10)
        # the queue (3) kept the newest events; 1 to 7 made room
        assert instance(host, "gated").seen == [0, 8, 9, 10]
        assert host.stats["gated"].drops == 7
        reports = await host.recorder.await_for("events.tick.dropped")
        assert sum(e.data["dropped"] for e in reports) == 7
        assert reports[0].data["plugin"] == "gated"
        assert reports[0].data["policy"] == "drop_oldest"


async def test_overflow_drop_new_keeps_the_oldest() -> None:
    async with host_with({"gated": Gated}, delivery={"gated": {"queue_size": 3}}) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick, overflow="drop_new")
        AsyncioService.of(host).emit("tick", n=0)
        await asyncio.sleep(0)  # the consumer takes event 0 and waits at the gate
        for n in range(1, 10):
            AsyncioService.of(host).emit("tick", n=n)
        result = await AsyncioService.of(host).emit_and_wait("tick", n=10)
        assert result["gated"].status == "dropped"
        instance(host, "gated").gate.set()
        await until(lambda: len(instance(host, "gated").seen) == 4)
        await AsyncioService.of(host).emit_and_wait("tick", n=11)
        assert instance(host, "gated").seen == [0, 1, 2, 3, 11]
        assert host.stats["gated"].drops == 7  # 4 to 10
        reports = await host.recorder.await_for("events.tick.dropped")
        assert sum(e.data["dropped"] for e in reports) == 7


async def test_overflow_block_refuses_plain_emit_and_makes_put_wait() -> None:
    async with host_with(
        {"gated": Gated, "fast": Fast}, delivery={"gated": {"queue_size": 2}}
    ) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick, overflow="block")
        AsyncioService.of(host).emit("tick", n=0)
        await asyncio.sleep(0)  # the consumer takes event 0 and waits at the gate
        AsyncioService.of(host).emit("tick", n=1)
        AsyncioService.of(host).emit("tick", n=2)
        with pytest.raises(
            QueueFullError,
            match=r"plugin 'gated'.*'block'.*event_types\.put",
        ):
            AsyncioService.of(host).emit("tick", n=3)
        put = asyncio.create_task(AsyncioService.of(host).event_types.put("tick", n=3))
        await asyncio.sleep(0.05)
        assert not put.done()
        instance(host, "gated").gate.set()
        await asyncio.wait_for(put, 5)
        await AsyncioService.of(host).emit_and_wait("tick", n=4)
        assert instance(host, "gated").seen == [0, 1, 2, 3, 4]
        # the refused event went to no plugin at all, and nothing was dropped
        assert instance(host, "fast").seen == [0, 1, 2, 3, 4]
        assert host.stats["gated"].drops == 0


async def test_emit_and_wait_with_no_plugins_returns_an_empty_result() -> None:
    async with host_with({}) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick)
        result = await AsyncioService.of(host).emit_and_wait("tick", n=1)
        assert result.outcomes == {}
        assert result.ok


async def test_events_command_lists_types_plugins_and_queues() -> None:
    async with host_with({"fast": Fast}) as host:
        AsyncioService.of(host).event_types.declare("tick", Tick)
        reply = await host.run_command("emit", event="tick", payload={"n": 5})
        assert reply["outcomes"] == {"fast": {"status": "ok", "error": None}}
        listing = await host.run_command("events")
        assert listing["events"]["tick"]["plugins"] == {"fast": 0}
        assert listing["events"]["tick"]["fields"] == ["n"]
        from plugyard.host import CommandError

        with pytest.raises(CommandError, match="not declared"):
            await host.run_command("emit", event="tock")
