"""Declaring event types and emitting them: validation at the call site, host events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pydantic
import pytest

from plugyard.adapters.asyncio import (
    AsyncioAdapter,
    AsyncioService,
    PayloadError,
    UnknownEventError,
)
from plugyard.host import ConfigError
from plugyard.host.testing import run_host
from plugyard.sdk.events import EventPlugin, MonitoringPoint

pytestmark = pytest.mark.timeout(30)


@dataclass
class Order:
    order_id: str
    amount: int
    tags: list[str] = field(default_factory=list)


class OrderModel(pydantic.BaseModel):
    order_id: str
    amount: int


def recorder(event: str) -> type[EventPlugin]:
    class Recorder(EventPlugin):
        event_name = event
        seen: list[dict[str, Any]]

        async def initialize(self) -> None:
            self.seen = []

        async def handle_event(self, **payload: Any) -> None:
            self.seen.append(payload)

    return Recorder


def host_with(plugins: dict[str, Any], config: dict[str, Any] | None = None) -> Any:
    return run_host(plugins=plugins, config=config, adapters=[AsyncioAdapter()])


async def test_emit_delivers_payload_fields_as_keyword_arguments() -> None:
    async with host_with({"a": recorder("order"), "b": recorder("order")}) as host:
        AsyncioService.of(host).event_types.declare("order", Order)
        await AsyncioService.of(host).emit_and_wait("order", order_id="o-1", amount=3)
        for name in ("a", "b"):
            seen = host.registry.handle(name).instance.seen
            assert seen == [{"order_id": "o-1", "amount": 3, "tags": []}]


async def test_emit_returns_at_once_and_delivers_in_order() -> None:
    async with host_with({"a": recorder("order")}) as host:
        AsyncioService.of(host).event_types.declare("order", Order)
        ids = [
            AsyncioService.of(host).emit("order", order_id=f"o-{i}", amount=i) for i in range(50)
        ]
        assert len(set(ids)) == 50
        await AsyncioService.of(host).emit_and_wait("order", order_id="last", amount=0)
        seen = host.registry.handle("a").instance.seen
        assert [p["amount"] for p in seen[:50]] == list(range(50))


async def test_undeclared_event_is_an_error_at_the_call_site() -> None:
    async with host_with({"a": recorder("order")}) as host:
        AsyncioService.of(host).event_types.declare("order", Order)
        with pytest.raises(UnknownEventError, match=r"'ordr' is not declared.*mean 'order'"):
            AsyncioService.of(host).emit("ordr", order_id="x", amount=1)
        with pytest.raises(UnknownEventError):
            await AsyncioService.of(host).emit_and_wait("nothing")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"order_id": "x"}, r"missing field 'amount'"),
        ({"order_id": "x", "amount": 1, "colour": "red"}, r"unknown field 'colour'"),
        ({"order_id": "x", "amount": "many"}, r"amount: .*integer.*'many'"),
        ({"order_id": "x", "amount": 1, "tags": "a"}, r"tags: .*list"),
    ],
)
async def test_wrong_payload_is_an_error_naming_the_field(
    payload: dict[str, Any], message: str
) -> None:
    async with host_with({"a": recorder("order")}) as host:
        AsyncioService.of(host).event_types.declare("order", Order)
        with pytest.raises(PayloadError, match=message):
            AsyncioService.of(host).emit("order", **payload)
        await AsyncioService.of(host).emit_and_wait("order", order_id="ok", amount=1)
        assert [p["order_id"] for p in host.registry.handle("a").instance.seen] == ["ok"]


async def test_pydantic_payload_types_validate_and_coerce() -> None:
    async with host_with({"a": recorder("order")}) as host:
        AsyncioService.of(host).event_types.declare("order", OrderModel)
        await AsyncioService.of(host).emit_and_wait("order", order_id="o", amount="7")
        assert host.registry.handle("a").instance.seen == [{"order_id": "o", "amount": 7}]
        with pytest.raises(PayloadError, match="amount"):
            AsyncioService.of(host).emit("order", order_id="o", amount=[1])


async def test_every_emitted_event_is_a_host_event_with_the_payload_serialised() -> None:
    async with host_with({"a": recorder("monitoring_event")}) as host:
        from plugyard.sdk.events import MonitoringPayload

        AsyncioService.of(host).event_types.declare("monitoring_event", MonitoringPayload)
        point = MonitoringPoint("r-1", 1.5, {"route": "/x"}, {"took": 0.2})
        event_id = AsyncioService.of(host).emit("monitoring_event", points=[point])
        [event] = await host.recorder.await_for("events.monitoring_event")
        assert event.id == event_id
        assert event.source == "asyncio"
        serialised = {"request_id": "r-1", "event_time": 1.5, "tags": {"route": "/x"}}
        assert event.data == {"points": [{**serialised, "fields": {"took": 0.2}}]}
        await AsyncioService.of(host).emit_and_wait("monitoring_event", points=[])
        seen = host.registry.handle("a").instance.seen
        assert seen[0]["points"] == [point]


@dataclass
class Reading:
    """Plain fields only: exactly typed payloads need no conversion."""

    sensor: str
    value: float
    ok: bool = True


async def test_plain_payloads_are_checked_and_converted_like_any_other() -> None:
    async with host_with({"a": recorder("reading")}) as host:
        service = AsyncioService.of(host)
        service.event_types.declare("reading", Reading)
        await service.emit_and_wait("reading", sensor="s1", value=1.5)
        await service.emit_and_wait("reading", sensor="s2", value=3, ok=False)
        await service.emit_and_wait("reading", sensor="s3", value=float("inf"))
        seen = host.registry.handle("a").instance.seen
        assert seen[:2] == [
            {"sensor": "s1", "value": 1.5, "ok": True},
            {"sensor": "s2", "value": 3.0, "ok": False},
        ]
        assert type(seen[1]["value"]) is float
        assert seen[2]["value"] == float("inf")
        events = await host.recorder.await_for("events.reading", count=3)
        assert [e.data for e in events] == [
            {"sensor": "s1", "value": 1.5, "ok": True},
            {"sensor": "s2", "value": 3.0, "ok": False},
            {"sensor": "s3", "value": None, "ok": True},
        ]
        for payload, message in (
            ({"sensor": "s", "value": "high"}, r"value: .*'high'"),
            ({"sensor": "s", "value": 1.0, "ok": "maybe"}, r"ok: .*'maybe'"),
            ({"value": 1.0}, r"missing field 'sensor'"),
            ({"sensor": "s", "value": 1.0, "unit": "C"}, r"unknown field 'unit'"),
        ):
            with pytest.raises(PayloadError, match=message):
                service.emit("reading", **payload)


async def test_declaration_rules() -> None:
    async with host_with({}) as host:
        AsyncioService.of(host).event_types.declare("order", Order)
        AsyncioService.of(host).event_types.declare("order", Order, overflow="drop_new")
        assert AsyncioService.of(host).event_types["order"].overflow == "drop_new"
        with pytest.raises(ValueError, match="already declared"):
            AsyncioService.of(host).event_types.declare("order", OrderModel)
        with pytest.raises(ValueError, match="event name"):
            AsyncioService.of(host).event_types.declare("bad name", Order)
        with pytest.raises(ValueError, match="overflow must be one of"):
            AsyncioService.of(host).event_types.declare("x", Order, overflow="explode")
        with pytest.raises(TypeError, match="dataclass or a pydantic model"):
            AsyncioService.of(host).event_types.declare("y", dict)

        @dataclass
        class WithLogger:
            logger: str

        with pytest.raises(ValueError, match="'logger' is reserved"):
            AsyncioService.of(host).event_types.declare("z", WithLogger)


async def test_event_types_declared_in_configuration() -> None:
    config = {
        "asyncio": {
            "events": {
                "monitoring_event": {
                    "type": "plugyard.sdk.events:MonitoringPayload",
                    "overflow": "drop_new",
                }
            }
        }
    }
    async with host_with({}, config) as host:
        assert "monitoring_event" in AsyncioService.of(host).event_types
        assert AsyncioService.of(host).event_types["monitoring_event"].overflow == "drop_new"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"asyncio": {"events": {"e": {"type": "no.such.module:T"}}}}, r"asyncio\.events\.e"),
        ({"asyncio": {"queue_size": 0}}, r"asyncio\.queue_size"),
        ({"asyncio": {"colour": 1}}, r"asyncio\.colour: unknown key"),
        ({"http": {"host": "0.0.0.0"}}, r"http: .*not a loopback address.*allow_remote"),
        ({"http": {"port": 70000}}, r"http\.port"),
    ],
)
async def test_bad_configuration_names_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        async with host_with({}, config):
            pass


async def test_emit_from_another_thread_needs_emit_threadsafe() -> None:
    async with host_with({"a": recorder("order")}) as host:
        AsyncioService.of(host).event_types.declare("order", Order)
        with pytest.raises(RuntimeError, match="emit_threadsafe"):
            await asyncio.to_thread(AsyncioService.of(host).emit, "order", order_id="t", amount=1)
        await asyncio.to_thread(
            AsyncioService.of(host).event_types.emit_threadsafe, "order", order_id="t", amount=2
        )
        await host.recorder.await_for("events.order")
        await AsyncioService.of(host).emit_and_wait("order", order_id="u", amount=3)
        assert [p["amount"] for p in host.registry.handle("a").instance.seen] == [2, 3]
