"""The host's phases: explicit moves only, and a failed load that can be tried again."""

from __future__ import annotations

from typing import Any

import pytest

from plugyard.host import ConfigError, Host, Phase, PhaseError, PluginState
from plugyard.host._phases import Phases
from plugyard.sdk import hookimpl


class Hello:
    @hookimpl
    def plugyard_startup(self) -> None:
        """Nothing: being registered is the point."""


def test_only_the_moves_of_the_table_are_allowed() -> None:
    phases = Phases()
    assert phases.current is Phase.NEW
    with pytest.raises(PhaseError, match="cannot go from new to started"):
        phases.move(Phase.STARTED)
    for step in (Phase.LOADING, Phase.LOADED, Phase.STARTING, Phase.STARTED, Phase.STOPPING):
        phases.move(step)
    phases.move(Phase.STOPPED)
    assert not phases.allows(Phase.LOADING)
    with pytest.raises(PhaseError):
        phases.move(Phase.NEW)


async def test_a_host_goes_through_its_phases_and_runs_once() -> None:
    host = Host(autoload=False, plugins={"hello": Hello()})
    assert host.phase is Phase.NEW
    await host.load()
    assert host.phase is Phase.LOADED
    await host.start()
    assert host.phase is Phase.STARTED and host.running
    await host.stop()
    assert host.phase is Phase.STOPPED and not host.running
    with pytest.raises(PhaseError, match="a Host runs once"):
        await host.start()


class Strict:
    """An adapter whose configuration is refused the first time only."""

    name = "strict"

    def __init__(self) -> None:
        self.attempts = 0

    @hookimpl
    def plugyard_configure(self, host: Any) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise ConfigError("plugyard.toml: strict.level: must be a number")


async def test_load_after_a_config_error_rolls_back_and_works() -> None:
    strict = Strict()
    host = Host(autoload=False, adapters=[strict], plugins={"hello": Hello()})
    with pytest.raises(ConfigError, match="strict.level"):
        await host.load()
    assert host.phase is Phase.NEW
    assert len(host.registry) == 0
    assert host.pm.get_plugin("strict") is None
    await host.load()
    assert host.phase is Phase.LOADED
    assert strict.attempts == 2
    assert host.registry.get("strict").state is PluginState.LOADED
    assert host.registry.get("hello").state is PluginState.LOADED
    async with host:
        assert (await host.run_command("status", name="hello"))["status"] == "started"


async def test_an_unread_section_fails_every_load_the_same_way() -> None:
    host = Host({"tpyo": {"x": 1}}, autoload=False, plugins={"hello": Hello()})
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"\[tpyo\]: no loaded adapter reads this section"):
            await host.load()
        assert host.phase is Phase.NEW
        assert "hello" not in host.registry
