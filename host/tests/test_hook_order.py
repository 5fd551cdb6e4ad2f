"""Declarative call order: ``@hookimpl(before=[...], after=[...])`` by plugin name, a stable
topological sort whose ties keep pluggy's order, errors at load, and ``plugyard hooks NAME``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from plugyard.host import Host, OrderError, PluginState, hookspec, policy
from plugyard.host._dispatch import PluginManager
from plugyard.sdk import PROJECT_NAME, hookimpl


class Specs:
    @hookspec
    @policy(errors="isolate")
    def order_note(self, seen: list[str]) -> Any: ...

    @hookspec
    def order_plain(self, seen: list[str]) -> Any: ...

    @hookspec(firstresult=True)
    @policy(result="first")
    def order_first(self) -> Any: ...


def plugin(name: str, **opts: Any) -> Any:
    """A plugin called ``name`` whose implementations record its name (``opts`` go to
    ``hookimpl``); a wrapper records ``name:before`` and ``name:after``."""

    if opts.get("wrapper"):

        def wrapped(seen: list[str]) -> Generator[None, Any, Any]:
            seen.append(f"{name}:before")
            result = yield
            seen.append(f"{name}:after")
            return result

        impl = staticmethod(hookimpl(**opts)(wrapped))
        return type(name, (), {"name": name, "order_plain": impl})

    def note(seen: list[str]) -> None:
        seen.append(name)

    def first() -> str:
        return name

    return type(
        name,
        (),
        {
            "name": name,
            "order_note": staticmethod(hookimpl(**opts)(note)),
            "order_plain": staticmethod(hookimpl(**opts)(note)),
            "order_first": staticmethod(hookimpl(**opts)(first)),
        },
    )()


async def loaded(*plugins: Any) -> Host:
    host = Host(autoload=False, plugins={p.name: p for p in plugins})
    host.pm.add_hookspecs(Specs)
    await host.load()
    return host


async def call_order(host: Host) -> tuple[list[str], list[str]]:
    """The order of ``host.call_hook`` (async path) and of pluggy's own call."""
    seen: list[str] = []
    await host.call_hook("order_note", seen=seen)
    plain: list[str] = []
    host.hook.order_plain(seen=plain)
    return seen, plain


def test_without_declarations_the_order_is_pluggys_own() -> None:
    opts: list[dict[str, Any]] = [
        {},
        {"tryfirst": True},
        {"trylast": True},
        {},
        {"trylast": True},
        {"tryfirst": True},
        {"wrapper": True},
        {"wrapper": True, "tryfirst": True},
        {"wrapper": True, "trylast": True},
        {"wrapper": True},
    ]
    ours, raw = PluginManager(PROJECT_NAME), pluggy.PluginManager(PROJECT_NAME)
    for pm in (ours, raw):
        pm.add_hookspecs(Specs)
        for index, chosen in enumerate(opts):
            pm.register(plugin(f"p{index}", **chosen), name=f"p{index}")
    names = [impl.plugin_name for impl in ours.hook.order_plain.get_hookimpls()]
    assert names == [impl.plugin_name for impl in raw.hook.order_plain.get_hookimpls()]
    ours.unregister(name="p3")
    raw.unregister(name="p3")
    ours.register(plugin("p3"), name="p3")
    raw.register(plugin("p3"), name="p3")
    names = [impl.plugin_name for impl in ours.hook.order_plain.get_hookimpls()]
    assert names == [impl.plugin_name for impl in raw.hook.order_plain.get_hookimpls()]


def test_once_the_declaring_plugin_leaves_new_plugins_go_where_pluggy_puts_them() -> None:
    ours, raw = PluginManager(PROJECT_NAME), pluggy.PluginManager(PROJECT_NAME)
    ours.add_hookspecs(Specs)
    raw.add_hookspecs(Specs)
    ours.register(plugin("a"), name="a")
    ours.register(plugin("b"), name="b")
    ours.register(plugin("z", after=["a"]), name="z")  # pluggy alone would call z, b, a
    called = [i.plugin_name for i in reversed(ours.hook.order_plain.get_hookimpls())]
    assert called.index("a") < called.index("z")
    ours.unregister(name="z")
    for name, opts in (("c", {}), ("d", {"tryfirst": True}), ("e", {"trylast": True})):
        ours.register(plugin(name, **opts), name=name)
    for name, opts in (("a", {}), ("b", {}), ("c", {}), ("d", {"tryfirst": True})):
        raw.register(plugin(name, **opts), name=name)
    raw.register(plugin("e", trylast=True), name="e")
    names = [impl.plugin_name for impl in ours.hook.order_plain.get_hookimpls()]
    assert names == [impl.plugin_name for impl in raw.hook.order_plain.get_hookimpls()]


def test_lookups_by_plugin_agree_with_pluggy_after_registering_and_unregistering() -> None:
    pm = PluginManager(PROJECT_NAME)
    pm.add_hookspecs(Specs)
    objects = {f"p{index}": plugin(f"p{index}") for index in range(6)}
    for name, obj in objects.items():
        pm.register(obj, name=name)
    pm.unregister(name="p2")
    pm.set_blocked("p4")
    stranger = plugin("stranger")
    for name, obj in [*objects.items(), ("stranger", stranger)]:
        expected = pluggy.PluginManager.get_name(pm, obj)
        assert pm.get_name(obj) == expected
        assert pm.is_registered(obj) is (expected is not None)
        callers = pm.get_hookcallers(obj)
        raw = pluggy.PluginManager.get_hookcallers(pm, obj)
        assert (None if callers is None else sorted(c.name for c in callers)) == (
            None if raw is None else sorted(c.name for c in raw)
        ), name
    again = plugin("p2")
    pm.register(again, name="p2")  # a new object under a name used before
    assert pm.get_name(again) == "p2" and pm.get_name(objects["p2"]) is None


async def test_a_before_after_chain_orders_every_call_path() -> None:
    # registered a, b, c: pluggy alone would call c, b, a
    host = await loaded(
        plugin("a", before=["b"]),
        plugin("b"),
        plugin("c", after=["b"]),
    )
    assert await call_order(host) == (["a", "b", "c"], ["a", "b", "c"])
    assert (await host.call_hook("order_first")).first == "a"


async def test_ties_keep_pluggys_order_and_declarations_beat_tryfirst_trylast() -> None:
    host = await loaded(
        plugin("early", tryfirst=True),
        plugin("late", trylast=True, before=["boss"]),
        plugin("boss", tryfirst=True),
        plugin("plain"),
        plugin("other"),
    )
    # pluggy alone: boss, early (tryfirst, latest first), other, plain, late
    seen, plain = await call_order(host)
    assert seen == plain == ["late", "boss", "early", "other", "plain"]
    reasons = {p.plugin: p.reason for p in host.pm.call_order("order_note")}
    assert reasons["late"] == "trylast, before boss"
    assert reasons["boss"] == "tryfirst, after late (declared by late)"
    assert reasons["other"].startswith("registration order")


async def test_wrappers_are_ordered_among_wrappers() -> None:
    host = await loaded(
        plugin("outer", wrapper=True, after=["inner"]),
        plugin("inner", wrapper=True),
        plugin("body"),
    )
    seen: list[str] = []
    host.hook.order_plain(seen=seen)
    assert seen == ["inner:before", "outer:before", "body", "outer:after", "inner:after"]


async def test_a_plain_implementation_before_a_wrapper_is_refused_at_load() -> None:
    host = await loaded(plugin("wrap", wrapper=True), plugin("body", before=["wrap"]))
    record = host.registry.get("body")
    assert record.state is PluginState.FAILED
    assert "hook order_plain" in (record.error or "")
    assert "wrappers always run around plain implementations" in (record.error or "")
    assert host.registry.get("wrap").state is PluginState.LOADED


async def test_a_cycle_fails_the_plugin_that_closes_it_and_the_host_goes_on() -> None:
    host = Host(
        autoload=False,
        plugins={
            "a": plugin("a", before=["b"]),
            "b": plugin("b", before=["c"]),
            "c": plugin("c", before=["a"]),
            "d": plugin("d"),
        },
    )
    host.pm.add_hookspecs(Specs)
    async with host:
        record = host.registry.get("c")
        assert record.state is PluginState.FAILED
        error = record.error or ""
        assert "form a cycle" in error and "'a', 'b', 'c'" in error, error
        assert "hook order_" in error
        assert not host.pm.has_plugin("c")
        assert await call_order(host) == (["d", "a", "b"], ["d", "a", "b"])
        assert (await host.run_command("status", name="d"))["status"] == "started"


def test_a_cycle_leaves_pluggy_as_it_was() -> None:
    pm = PluginManager(PROJECT_NAME)
    pm.add_hookspecs(Specs)
    pm.register(plugin("a", after=["b"]), name="a")
    pm.register(plugin("x"), name="x")
    before = [impl.plugin_name for impl in pm.hook.order_plain.get_hookimpls()]
    cycle = r"hook order_\w+: .* plugins 'a', 'b' form a cycle"
    with pytest.raises(OrderError, match=cycle) as info:
        pm.register(plugin("b", after=["a"]), name="b")
    assert set(info.value.plugins) == {"a", "b"}
    assert not pm.has_plugin("b")
    assert [impl.plugin_name for impl in pm.hook.order_plain.get_hookimpls()] == before


async def test_an_unknown_name_fails_the_plugin_at_load_with_a_hint() -> None:
    host = await loaded(plugin("alpha"), plugin("beta", after=["alhpa"]))
    record = host.registry.get("beta")
    assert record.state is PluginState.FAILED
    assert record.error == (
        "hook order_first: before/after names plugin 'alhpa', which this host does not have; "
        "did you mean 'alpha'?"
    )
    assert not host.pm.has_plugin("beta")
    assert host.registry.get("alpha").state is PluginState.LOADED


async def test_a_disabled_plugin_is_known_and_its_absence_changes_nothing() -> None:
    host = Host(
        {"host": {"disabled": ["gone"]}},
        autoload=False,
        plugins={"first": plugin("first", before=["gone"]), "gone": plugin("gone")},
    )
    host.pm.add_hookspecs(Specs)
    await host.load()
    assert host.registry.get("first").state is PluginState.LOADED


async def test_stopping_and_starting_a_plugin_keeps_the_declared_order() -> None:
    host = Host(
        autoload=False,
        plugins={"a": plugin("a", after=["b"]), "b": plugin("b"), "c": plugin("c")},
    )
    host.pm.add_hookspecs(Specs)
    async with host:
        assert (await call_order(host))[0] == ["c", "b", "a"]
        await host.stop_plugin("b")
        assert (await call_order(host))[0] == ["c", "a"]
        await host.start_plugin("b")
        # b registers again, now the latest: pluggy calls it first, and a still follows it
        assert (await call_order(host))[0] == ["b", "c", "a"]


def test_hookimpl_refuses_a_name_that_is_not_a_string() -> None:
    with pytest.raises(TypeError, match=r"hookimpl\(before=\.\.\.\) takes plugin names, got 3"):
        hookimpl(before=[3])  # type: ignore[list-item]


PLUGINS = """
from plugyard.sdk import hookimpl


class Audit:
    @hookimpl(after=["metrics"])
    def plugyard_event(self, event):
        pass


class Metrics:
    @hookimpl(tryfirst=True)
    def plugyard_event(self, event):
        pass


class Tracer:
    @hookimpl(before=["audit"], trylast=True)
    def plugyard_event(self, event):
        pass
"""


def test_plugyard_hooks_name_shows_the_order_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "order_plugins.py").write_text(textwrap.dedent(PLUGINS))
    config = tmp_path / "plugyard.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [host]
            name = "order-cli"
            autoload = false
            runtime_dir = "{tmp_path / "run"}"
            python_path = ["{tmp_path}"]
            [plugins.audit]
            use = "order_plugins:Audit"
            [plugins.metrics]
            use = "order_plugins:Metrics"
            [plugins.tracer]
            use = "order_plugins:Tracer"
            """
        )
    )
    script = Path(sys.executable).parent / "plugyard"
    env = {**os.environ, "PLUGYARD_DISABLE_AUTOLOAD": "1"}
    done = subprocess.run(
        [str(script), "hooks", "--config", str(config), "plugyard_event"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    lines = [line.split() for line in done.stdout.splitlines()[3:]]
    assert [line[:2] for line in lines] == [["1.", "metrics"], ["2.", "tracer"], ["3.", "audit"]]
    first = done.stdout.splitlines()[3]
    assert first.endswith("metrics  tryfirst, before audit (declared by audit)")
    assert "trylast, before audit" in done.stdout
    assert "after metrics, after tracer (declared by tracer)" in done.stdout
    wrong = subprocess.run(
        [str(script), "hooks", "--config", str(config), "plugyard_evnt"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert wrong.returncode == 1
    assert "no hook named 'plugyard_evnt'; did you mean 'plugyard_event'?" in wrong.stderr
