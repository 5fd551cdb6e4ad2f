"""host.call_hook: pluggy's order, named arguments, awaiting, timeouts, error modes, attribution."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from plugyard.host import ErrorMode, HookPolicy, HookTimeout, Host, ResultMode, hookspec, policy
from plugyard.sdk import hookimpl


class Specs:
    @hookspec
    @policy(errors="isolate", timeout=0.2)
    def demo_isolate(self, value: int, extra: str) -> Any: ...

    @hookspec
    @policy(errors="collect", timeout=0.2)
    def demo_collect(self, value: int) -> Any: ...

    @hookspec
    @policy(errors="raise")
    def demo_raise(self, value: int) -> Any: ...

    @hookspec
    @policy(result="first")
    def demo_first(self, value: int) -> Any: ...


def make(name: str, hook: str, func: Any, **opts: Any) -> Any:
    impl = hookimpl(**opts)(func)
    return type(name, (), {"name": name, hook: staticmethod(impl)})


async def loaded_host(*plugins: Any) -> Host:
    host = Host(autoload=False, plugins={p.name: p for p in plugins})
    host.pm.add_hookspecs(Specs)
    await host.load()
    return host


async def test_order_follows_pluggy_tryfirst_trylast_and_lifo() -> None:
    calls: list[str] = []

    def rec(label: str) -> Any:
        return lambda value: calls.append(label)

    plugins = [
        make("a", "demo_isolate", rec("a")),
        make("b", "demo_isolate", rec("b"), trylast=True),
        make("c", "demo_isolate", rec("c")),
        make("d", "demo_isolate", rec("d"), tryfirst=True),
    ]
    host = await loaded_host(*plugins)
    await host.call_hook("demo_isolate", value=1, extra="x")
    plain: list[str] = []
    calls_before = list(calls)
    calls.clear()
    host.hook.demo_isolate(value=1, extra="x")
    plain = list(calls)
    assert calls_before == plain == ["d", "c", "a", "b"]


async def test_each_implementation_gets_only_the_arguments_it_names() -> None:
    seen: dict[str, Any] = {}
    host = await loaded_host(
        make("only_value", "demo_isolate", lambda value: seen.update(v=value)),
        make("only_extra", "demo_isolate", lambda extra: seen.update(e=extra)),
        make("none", "demo_isolate", lambda: seen.update(n=True)),
    )
    outcome = await host.call_hook("demo_isolate", value=7, extra="hi")
    assert outcome.ok
    assert seen == {"v": 7, "e": "hi", "n": True}


@pytest.mark.parametrize("orders", [("ve", "ve"), ("ev", "ev"), ("ve", "ev")])
async def test_arguments_reach_each_implementation_by_name_whatever_their_order(
    orders: tuple[str, str],
) -> None:
    # all implementations alike (arguments gathered once per call) or each its own order
    def taking(order: str) -> Any:
        if order == "ve":
            return lambda value, extra: (value, extra)
        return lambda extra, value: (value, extra)

    host = await loaded_host(
        *(make(f"p{i}", "demo_isolate", taking(o)) for i, o in enumerate(orders))
    )
    for value, extra in ((1, "a"), (2, "b")):
        outcome = await host.call_hook("demo_isolate", value=value, extra=extra)
        assert outcome.ok and outcome.values == [(value, extra), (value, extra)]
        assert await host.call_hook("demo_isolate", extra=extra, value=value) == outcome


async def test_unknown_argument_is_an_error_at_the_call_site() -> None:
    host = await loaded_host()
    with pytest.raises(TypeError, match="has no argument 'valeu'"):
        await host.call_hook("demo_raise", valeu=1)


async def test_awaitables_are_awaited_and_results_attributed() -> None:
    async def slow_double(value: int) -> int:
        await asyncio.sleep(0.01)
        return value * 2

    host = await loaded_host(
        make("sync", "demo_isolate", lambda value: value + 1),
        make("asyn", "demo_isolate", slow_double),
        make("nothing", "demo_isolate", lambda value: None),
    )
    outcome = await host.call_hook("demo_isolate", value=10, extra="")
    assert {(r.plugin, r.value) for r in outcome.results} == {("sync", 11), ("asyn", 20)}
    assert sorted(outcome.values) == [11, 20]


async def test_isolate_records_failures_and_goes_on() -> None:
    def boom(value: int) -> None:
        raise RuntimeError("kaputt")

    async def hang(value: int) -> None:
        await asyncio.sleep(10)

    host = await loaded_host(
        make("ok1", "demo_isolate", lambda value: 1),
        make("boom", "demo_isolate", boom),
        make("hang", "demo_isolate", hang),
        make("ok2", "demo_isolate", lambda value: 2),
    )
    started = time.monotonic()
    outcome = await host.call_hook("demo_isolate", value=0, extra="")
    assert time.monotonic() - started < 2
    assert sorted(outcome.values) == [1, 2]
    failures = {f.plugin: f for f in outcome.failures}
    assert set(failures) == {"boom", "hang"}
    assert isinstance(failures["boom"].error, RuntimeError)
    assert failures["hang"].timed_out
    assert isinstance(failures["hang"].error, HookTimeout)
    assert host.stats["boom"].errors == 1
    assert host.stats["hang"].timeouts == 1
    assert host.stats["ok1"].calls == 1


async def test_a_sync_implementation_that_overruns_is_a_timeout() -> None:
    def blocking(value: int) -> int:
        time.sleep(0.3)
        return 5

    host = await loaded_host(make("blocker", "demo_isolate", blocking))
    outcome = await host.call_hook("demo_isolate", value=0, extra="")
    assert outcome.values == []
    assert outcome.failures[0].timed_out
    assert "blocked the event loop" in str(outcome.failures[0].error)


async def test_collect_calls_everyone_then_raises_an_exception_group() -> None:
    called: list[str] = []

    def fail(label: str) -> Any:
        def impl(value: int) -> None:
            called.append(label)
            raise ValueError(label)

        return impl

    host = await loaded_host(
        make("x", "demo_collect", fail("x")),
        make("ok", "demo_collect", lambda value: called.append("ok")),
        make("y", "demo_collect", fail("y")),
    )
    with pytest.raises(ExceptionGroup) as info:
        await host.call_hook("demo_collect", value=1)
    assert sorted(called) == ["ok", "x", "y"]
    assert sorted(str(e) for e in info.value.exceptions) == ["x", "y"]
    notes = [n for e in info.value.exceptions for n in getattr(e, "__notes__", [])]
    assert any("plugin 'x'" in n for n in notes)


async def test_raise_stops_at_the_first_failure() -> None:
    called: list[str] = []

    def fail(value: int) -> None:
        called.append("fail")
        raise KeyError("first")

    host = await loaded_host(
        make("later", "demo_raise", lambda value: called.append("later")),
        make("fail", "demo_raise", fail),
    )
    with pytest.raises(KeyError):
        await host.call_hook("demo_raise", value=1)
    assert called == ["fail"]


async def test_first_result_mode_stops_at_the_first_non_none() -> None:
    called: list[str] = []

    def answer(label: str, result: Any) -> Any:
        def impl(value: int) -> Any:
            called.append(label)
            return result

        return impl

    host = await loaded_host(
        make("third", "demo_first", answer("third", 3)),
        make("second", "demo_first", answer("second", 2)),
        make("first", "demo_first", answer("first", None)),
    )
    outcome = await host.call_hook("demo_first", value=0)
    assert outcome.first == 2
    assert called == ["first", "second"]


async def test_policy_can_be_overridden_per_call() -> None:
    def boom(value: int) -> None:
        raise RuntimeError("x")

    host = await loaded_host(make("boom", "demo_raise", boom))
    outcome = await host.call_hook(
        "demo_raise", policy=HookPolicy(errors=ErrorMode.ISOLATE, result=ResultMode.ALL), value=1
    )
    assert [f.plugin for f in outcome.failures] == ["boom"]


async def test_a_wrapper_on_an_acall_hook_is_refused_with_a_clear_message() -> None:
    class Wrapping:
        name = "wrapping"

        @hookimpl(wrapper=True)
        def plugyard_startup(self, host: Host) -> Any:
            return (yield)

    async with Host(autoload=False, plugins=[Wrapping()]) as host:
        record = host.registry.get("wrapping")
        assert record.state == "failed"
        assert "wrapper=True" in (record.error or "")
        assert "host.call_hook" in (record.error or "")


async def test_plain_hook_calls_keep_pluggy_semantics() -> None:
    def boom(value: int) -> None:
        raise RuntimeError("plain")

    host = await loaded_host(
        make("ok", "demo_isolate", lambda value, extra: value), make("boom", "demo_isolate", boom)
    )
    with pytest.raises(RuntimeError, match="plain"):
        host.hook.demo_isolate(value=1, extra="")


def test_policy_rejects_a_non_positive_timeout() -> None:
    with pytest.raises(ValueError, match="positive"):
        policy(timeout=0)
