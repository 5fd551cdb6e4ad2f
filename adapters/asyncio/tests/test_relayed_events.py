"""Declared events that began on another host (relayed by an event bridge) reach this host's
event plugins, which may ask where each came from."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService
from plugyard.host.testing import run_host
from plugyard.sdk import Event
from plugyard.sdk.events import EventPlugin

pytestmark = pytest.mark.timeout(30)


@dataclass
class Order:
    order_id: str
    amount: int


class Audit(EventPlugin):
    event_name = "order_placed"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[tuple[str, int, str]] = []
        self.count = asyncio.Event()

    async def handle_event(self, order_id: str, amount: int, origin: str) -> None:
        self.seen.append((order_id, amount, origin))
        self.count.set()


class Plain(EventPlugin):
    event_name = "order_placed"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[str] = []

    async def handle_event(self, order_id: str, amount: int) -> None:
        self.seen.append(order_id)


def remote(topic: str, data: dict[str, Any], seq: int) -> Event:
    return Event(topic, data, "asyncio", 1.0, f"far-{seq}", seq, origin="far", origin_seq=seq)


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polls plain state
            await asyncio.sleep(0.005)


async def test_relayed_declared_events_reach_plugins_in_order_with_their_origin() -> None:
    config = {"asyncio": {"events": {"order_placed": {"type": f"{__name__}:Order"}}}}
    plugins = {"audit": Audit, "plain": Plain}
    async with run_host(plugins=plugins, config=config, adapters=[AsyncioAdapter()]) as host:
        audit = host.registry.handle("audit").instance
        plain = host.registry.handle("plain").instance
        AsyncioService.of(host).emit("order_placed", order_id="here", amount=1)
        for n in range(3):
            host.bus.relay(remote("events.order_placed", {"order_id": f"o{n}", "amount": n}, n))
        await until(lambda: len(audit.seen) == 4 and len(plain.seen) == 4)
        assert audit.seen == [("here", 1, ""), ("o0", 0, "far"), ("o1", 1, "far"), ("o2", 2, "far")]
        assert plain.seen == ["here", "o0", "o1", "o2"]
        # the plugins' own emits are published once, the relayed events are not emitted again
        published = host.recorder.matching("events.order_placed")
        assert [e.origin for e in published] == ["", "far", "far", "far"]


async def test_undeclared_or_mismatched_relayed_events_go_nowhere_and_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = {"asyncio": {"events": {"order_placed": {"type": f"{__name__}:Order"}}}}
    async with run_host(
        plugins={"audit": Audit}, config=config, adapters=[AsyncioAdapter()]
    ) as host:
        audit = host.registry.handle("audit").instance
        host.bus.relay(remote("events.unknown", {"x": 1}, 1))
        host.bus.relay(remote("events.order_placed", {"order_id": "o", "amount": "lots"}, 2))
        host.bus.relay(remote("events.order_placed", {"order_id": "ok", "amount": 3}, 3))
        await until(lambda: audit.seen != [])
        await host.bus.drain(5)
        assert audit.seen == [("ok", 3, "far")]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("from host far" in m and "amount" in m for m in errors), errors
