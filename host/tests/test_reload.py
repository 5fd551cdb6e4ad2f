"""Hot unload and reload by name: cleanup, no trace left, a new version from disk, a failed
import that keeps the old version, historic hooks replayed, and ``[host] watch``."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugyard.host import CommandError, Host, PluginLoadError, PluginState
from plugyard.sdk import Command, hookimpl

VERSION = """
from plugyard.sdk import Command, hookimpl

RELEASE = {release!r}
UNLOADED = []


class Greeter:
    @hookimpl
    def plugyard_addhooks(self, pluginmanager):
        UNLOADED.append("addhooks")

    @hookimpl
    def plugyard_commands(self):
        return [Command("greet", lambda: {{"release": RELEASE}})]

    @hookimpl
    def plugyard_event(self, event):
        if event.topic == "app.ping":
            UNLOADED.append(("event", RELEASE, event.seq))

    @hookimpl
    async def plugyard_unload(self, name):
        if name == "greeter":
            UNLOADED.append(("unload", RELEASE))
"""


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Iterator[Path]:
    module = f"greeter_{time.monotonic_ns()}"
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{module}.py").write_text(textwrap.dedent(VERSION.format(release=1)))
    sys.path.insert(0, str(folder))
    try:
        yield folder / f"{module}.py"
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module, None)


class Bystander:
    name = "bystander"

    def __init__(self) -> None:
        self.seen: list[int] = []

    @hookimpl
    def plugyard_event(self, event: Any) -> None:
        if event.topic == "app.ping":
            self.seen.append(event.seq)

    @hookimpl
    def plugyard_commands(self) -> list[Command]:
        return [Command("bystander.ping", lambda: {"pong": True})]


class Helper:
    name = "helper"

    @hookimpl
    def plugyard_configure(self) -> None:
        """An adapter with nothing to configure."""


def config(tmp_path: Path, plugin: Path, **host: Any) -> dict[str, Any]:
    return {
        "host": {"name": "reload", "runtime_dir": str(tmp_path / "run"), **host},
        "plugins": {"greeter": {"use": f"{plugin.stem}:Greeter"}},
    }


def write_version(plugin: Path, release: int | str) -> None:
    """Write a new version of the plugin ("broken": one that does not compile), with a time
    stamp clearly later than the last, whatever the clock's granularity."""
    stamp = plugin.stat().st_mtime_ns
    text = "def broken(:\n" if release == "broken" else VERSION.format(release=release)
    plugin.write_text(textwrap.dedent(text))
    later = stamp + 2_000_000_000
    os.utime(plugin, ns=(later, later))


def module_of(host: Host) -> Any:
    return sys.modules[type(host.pm.get_plugin("greeter")).__module__]


def no_trace(host: Host, name: str) -> None:
    assert name not in host.registry
    assert not host.pm.has_plugin(name)
    assert all(impl.plugin_name != name for impl in host.pm.hook.plugyard_event.get_hookimpls())
    assert name not in {command.source for command in host.commands.list()}
    assert all(sub.name != name for sub in host.bus._subs)


async def test_unload_runs_the_cleanup_and_leaves_no_trace(
    tmp_path: Path, plugin_dir: Path
) -> None:
    bystander = Bystander()
    async with Host(
        config(tmp_path, plugin_dir), autoload=False, plugins=[bystander], adapters=[Helper()]
    ) as host:
        module = module_of(host)
        host.subscribe("app.*", lambda event: None, name="greeter")
        assert (await host.run_command("greet")) == {"release": 1}
        await host.run_command("plugins.unload", name="greeter")
        assert ("unload", 1) in module.UNLOADED
        no_trace(host, "greeter")
        with pytest.raises(CommandError, match="unknown command"):
            await host.run_command("greet")
        event = host.publish("app.ping")
        await host.wait_delivered(event)
        assert bystander.seen == [event.seq]
        assert not [entry for entry in module.UNLOADED if entry[0] == "event"]
        assert await host.run_command("bystander.ping") == {"pong": True}
        with pytest.raises(CommandError, match="no plugin named 'greeter'"):
            await host.run_command("plugins.unload", name="greeter")
        with pytest.raises(CommandError, match="adapters cannot be unloaded"):
            await host.run_command("plugins.unload", name="helper")
        assert host.pm.has_plugin("helper")


async def test_reload_swaps_in_the_new_version_from_disk(tmp_path: Path, plugin_dir: Path) -> None:
    bystander = Bystander()
    async with Host(config(tmp_path, plugin_dir), autoload=False, plugins=[bystander]) as host:
        old = module_of(host)
        write_version(plugin_dir, 2)
        reply = await host.run_command("plugins.reload", name="greeter")
        assert reply == {"name": "greeter", "state": "started", "error": None}
        new = module_of(host)
        assert new is not old and new.RELEASE == 2
        assert ("unload", 1) in old.UNLOADED
        assert new.UNLOADED[0] == "addhooks"  # the historic hook was replayed to the new one
        assert await host.run_command("greet") == {"release": 2}
        event = host.publish("app.ping")
        await host.wait_delivered(event)
        assert ("event", 2, event.seq) in new.UNLOADED
        assert not [e for e in old.UNLOADED if e[0] == "event" and e[2] == event.seq]
        assert bystander.seen == [event.seq]
        assert host.registry.get("greeter").state is PluginState.STARTED


async def test_a_reload_that_fails_to_import_keeps_the_old_version(
    tmp_path: Path, plugin_dir: Path
) -> None:
    async with Host(config(tmp_path, plugin_dir), autoload=False) as host:
        old = module_of(host)
        write_version(plugin_dir, "broken")
        with pytest.raises(PluginLoadError, match="import failed: SyntaxError"):
            await host.reload_plugin("greeter")
        with pytest.raises(CommandError, match="import failed: SyntaxError"):
            await host.run_command("plugins.reload", name="greeter")
        assert module_of(host) is old and sys.modules[plugin_dir.stem] is old
        assert host.registry.get("greeter").state is PluginState.STARTED
        assert await host.run_command("greet") == {"release": 1}


async def test_an_object_handed_to_the_host_reloads_as_it_is(tmp_path: Path) -> None:
    bystander = Bystander()
    async with Host(
        {"host": {"runtime_dir": str(tmp_path / "run")}}, autoload=False, plugins=[bystander]
    ) as host:
        record = await host.reload_plugin("bystander")
        assert record.state is PluginState.STARTED
        assert host.pm.get_plugin("bystander") is bystander
        assert await host.run_command("bystander.ping") == {"pong": True}


async def test_watch_reloads_a_plugin_whose_file_changed(tmp_path: Path, plugin_dir: Path) -> None:
    async with Host(config(tmp_path, plugin_dir, watch=True), autoload=False) as host:
        reloaded = asyncio.get_running_loop().create_future()
        host.subscribe(
            "plugin.greeter.reloaded",
            lambda event: reloaded.done() or reloaded.set_result(event.data),
        )
        write_version(plugin_dir, 333)
        data = await asyncio.wait_for(reloaded, 10)
        assert data["state"] == "started"
        assert await host.run_command("greet") == {"release": 333}
