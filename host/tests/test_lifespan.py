"""Start and stop order: ``plugyard_started`` after every plugin, events delivered at stop,
and waiting for an event's delivery instead of sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plugyard.host import Host, PluginState
from plugyard.sdk import Event, HandleBase, hookimpl


class Journal:
    """A plain hook plugin that notes what it sees."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl
    def plugyard_started(self, host: Any) -> None:
        states = {r.name: str(r.state) for r in host.plugins if r.model == "ticker"}
        self.log.append(f"started-hook {states}")

    @hookimpl
    def plugyard_event(self, event: Event) -> None:
        if event.topic in ("host.started", "host.stopping"):
            self.log.append(f"event {event.topic}")


class Ticker(HandleBase):
    model = "ticker"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def start(self) -> None:
        self.log.append("ticker start")


class TickerAdapter:
    name = "tickers"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl
    def plugyard_load_plugin(self, spec: Any) -> Ticker | None:
        return Ticker(self.log) if spec.name == "ticker" else None

    @hookimpl
    def plugyard_started(self) -> None:
        raise RuntimeError("cannot announce")


async def test_started_runs_after_every_plugin_and_before_host_started() -> None:
    log: list[str] = []
    plugins = {"journal": Journal(log), "ticker": object()}
    host = Host(autoload=False, plugins=plugins, adapters=[TickerAdapter(log)])
    async with host:
        await host.wait_delivered(host.bus.last_seq)
        assert log[:3] == [
            "ticker start",
            "started-hook {'ticker': 'started'}",
            "event host.started",
        ]
        adapter = host.registry.get("tickers")
        assert adapter.state is PluginState.FAILED
        assert adapter.error == "plugyard_started: cannot announce"
        assert host.registry.get("ticker").state is PluginState.STARTED


async def test_host_stopping_reaches_plugyard_event_of_plain_hook_plugins() -> None:
    """Pins the promise of the ``plugyard_event`` docstring."""
    log: list[str] = []
    async with Host(autoload=False, plugins={"journal": Journal(log)}):
        pass
    assert log[-1] == "event host.stopping"


class Slow:
    def __init__(self) -> None:
        self.seen: list[int] = []

    @hookimpl
    async def plugyard_event(self, event: Event) -> None:
        if event.topic.startswith("order."):
            await asyncio.sleep(0)
            self.seen.append(event.data["n"])


async def test_wait_delivered_returns_once_every_observer_has_the_event() -> None:
    slow = Slow()
    async with Host(autoload=False, plugins={"slow": slow}) as host:
        last = None
        for n in range(200):
            last = host.publish("order.placed", n=n)
        assert last is not None
        await host.wait_delivered(last)
        assert slow.seen == list(range(200))
        await host.wait_delivered(last.seq)  # already delivered: returns at once


async def test_wait_delivered_refuses_a_seq_not_yet_published_and_times_out_when_stopped() -> None:
    host = Host(autoload=False)
    await host.load()
    event = host.publish("order.placed", n=1)
    with pytest.raises(TimeoutError, match=f"event seq {event.seq} not delivered within"):
        await host.wait_delivered(event, timeout=0.05)
    with pytest.raises(ValueError, match="no event with seq 99"):
        await host.wait_delivered(99)
