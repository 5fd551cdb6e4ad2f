"""Hot reload and unload of one plugin of each of the five models in one running host: the
new version takes over, nothing of the unloaded one remains, the others keep running, and
events and commands are served throughout."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import celery.app  # noqa: F401  (imported here, not on the host's loop inside a hook's timeout)
import pytest

from plugyard.adapters.asyncio import AsyncioService
from plugyard.adapters.celery import CeleryService
from plugyard.host import Config, Host, PluginState

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "examples" / "plugyard.toml"

FIVE = {
    "webserver": "lifecycle",
    "logger": "zmq",
    "background_plugin_example": "asyncio",
    "gwexample": "celery",
    "dog": "pod",
}


def example_config(tmp_path: Path) -> Config:
    """examples/plugyard.toml with its runtime and storage in ``tmp_path``."""
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["host"] = {**raw["host"], "runtime_dir": str(tmp_path / "run"), "startup_timeout": 60.0}
    raw["lifecycle"] = {**raw.get("lifecycle", {}), "storage_dir": str(tmp_path / "lc")}
    raw["celery"] = {"state_dir": str(tmp_path / "celery"), "embedded_worker": False}
    raw["pod"] = {"database": f"sqlite:///{tmp_path / 'pod.db'}"}
    raw["plugins"]["logger"]["filename"] = str(tmp_path / "events.log")
    return Config(raw, path=EXAMPLE_CONFIG)


class Traffic:
    """Publishes events and runs a command, one after the other, until stopped; every event
    must reach the subscriber and every command must answer."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.sent: list[int] = []
        self.seen: list[int] = []
        self.commands = 0
        self.stopping = asyncio.Event()
        host.subscribe("traffic.tick", lambda event: self.seen.append(event.seq), name="traffic")

    async def run(self) -> None:
        while not self.stopping.is_set():
            event = self.host.publish("traffic.tick")
            self.sent.append(event.seq)
            await self.host.wait_delivered(event)
            assert "plugins" in await self.host.run_command("list")
            self.commands += 1


def traces(host: Host, name: str) -> list[str]:
    """Whatever of plugin ``name`` is still registered anywhere in the host."""
    found = []
    if name in host.registry:
        found.append("registry record")
    if host.pm.has_plugin(name):
        found.append("pluggy registration")
    for caller_name in dir(host.pm.hook):
        caller = getattr(host.pm.hook, caller_name)
        if hasattr(caller, "get_hookimpls"):
            found += [
                f"hook {caller_name}" for i in caller.get_hookimpls() if i.plugin_name == name
            ]
    found += [f"command {c.name}" for c in host.commands.list() if c.source == name]
    found += [f"subscription {s.pattern}" for s in host.bus._subs if s.name == name]
    found += [f"process {p.name}" for p in host.processes.list() if p.name == name]
    routes = AsyncioService.of(host).routes.owners().get(name, [])
    found += [f"route {path}" for path in routes]
    return found


async def test_reload_then_unload_one_plugin_of_each_model(tmp_path: Path) -> None:
    async with Host(example_config(tmp_path)) as host:
        for name, model in FIVE.items():
            assert host.registry.get(name).model == model
        states = {record.name: record.state for record in host.plugins}
        assert not [r for r in host.plugins if r.state is PluginState.FAILED], host.plugins
        celery = CeleryService.of(host)
        tasks = {t for t in celery.app.tasks if t.startswith("gwexample.")}
        assert tasks
        routes = AsyncioService.of(host).routes.owners()["background_plugin_example"]
        traffic = Traffic(host)
        running = asyncio.create_task(traffic.run())
        try:
            for name in FIVE:
                record = await host.reload_plugin(name)
                assert record.state is states[name], (name, record.error)
                assert record.error is None
                assert {r.name: r.state for r in host.plugins} == states
            assert {t for t in celery.app.tasks if t.startswith("gwexample.")} == tasks
            assert AsyncioService.of(host).routes.owners()["background_plugin_example"] == routes
            assert host.processes.get("logger").state.value == "running"

            left = dict(states)
            for name in FIVE:
                await host.run_command("plugins.unload", name=name)
                del left[name]
                assert traces(host, name) == [], name
                assert {r.name: r.state for r in host.plugins} == left
            assert not {t for t in celery.app.tasks if t.startswith("gwexample.")}
        finally:
            traffic.stopping.set()
            await running
        assert traffic.commands > 0
        assert traffic.seen == traffic.sent
        assert host.registry.get("hello_hooks").state is PluginState.STARTED
