"""The registry's transition table: every state change goes through it."""

from __future__ import annotations

import pytest

from plugyard.host import TRANSITIONS, Host, InvalidTransition, PluginRecord, PluginState
from plugyard.host._registry import Registry
from plugyard.sdk import HandleBase


def _registry() -> tuple[Registry, list[tuple[str, str | None]]]:
    seen: list[tuple[str, str | None]] = []

    def record(new: PluginRecord, previous: PluginState | None) -> None:
        seen.append((str(new.state), str(previous) if previous else None))

    return Registry(record), seen


def test_allowed_changes_are_announced_and_bad_ones_refused() -> None:
    registry, seen = _registry()
    registry.add(PluginRecord("p", "hooks", "object", None, PluginState.DISCOVERED))
    registry.transition("p", PluginState.LOADED)
    registry.transition("p", PluginState.STARTED)
    with pytest.raises(InvalidTransition, match="cannot go from started to disabled"):
        registry.transition("p", PluginState.DISABLED)
    registry.transition("p", PluginState.FAILED, "boom")
    registry.transition("p", PluginState.FAILED, "boom again")  # a new reason, no event
    assert registry.get("p").error == "boom again"
    assert seen == [
        ("discovered", None),
        ("loaded", "discovered"),
        ("started", "loaded"),
        ("failed", "started"),
    ]


def test_disabled_is_final_and_update_cannot_change_a_state() -> None:
    registry, _ = _registry()
    registry.add(PluginRecord("p", "hooks", "object", None, PluginState.DISCOVERED))
    registry.transition("p", PluginState.DISABLED, "listed in [host] disabled")
    for state in PluginState:
        if state is not PluginState.DISABLED:
            with pytest.raises(InvalidTransition):
                registry.transition("p", state)
    with pytest.raises(TypeError, match="transition"):
        registry.update("p", state=PluginState.STARTED)
    assert TRANSITIONS[PluginState.DISABLED] == frozenset()


class Handle(HandleBase):
    model = "test"


async def test_the_host_method_is_the_one_door_and_checks_the_table() -> None:
    async with Host(autoload=False) as host:
        host.add_plugin("thing", Handle(), source="test", started=True)
        assert host.registry.get("thing").state is PluginState.STARTED
        with pytest.raises(InvalidTransition, match="'thing' cannot go from started to loaded"):
            host.set_plugin_state("thing", PluginState.LOADED)
        host.set_plugin_state("thing", PluginState.FAILED, "lost its connection")
        record = await host.restart_plugin("thing")
        assert record.state is PluginState.STARTED and record.error is None
