"""The host's life: start and stop order, isolation of failing and hanging plugins, serve()."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from plugyard.host import Host, PluginState
from plugyard.host.testing import run_host
from plugyard.sdk import Event, hookimpl
from plugyard.sdk.testing import EventRecorder


class Recorder:
    """A well-behaved plugin that notes every hook it sees."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        self.log.append(f"{self.name}:configure")

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        self.log.append(f"{self.name}:startup")

    @hookimpl
    def plugyard_event(self, event: Event) -> None:
        if event.topic.startswith("app."):
            self.log.append(f"{self.name}:event:{event.topic}")

    @hookimpl
    def plugyard_shutdown(self) -> None:
        self.log.append(f"{self.name}:shutdown")


class RaisesEverywhere:
    name = "raiser"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        raise RuntimeError("configure broke")

    @hookimpl
    def plugyard_startup(self, host: Host) -> None:
        raise RuntimeError("startup broke")

    @hookimpl
    def plugyard_event(self, event: Event) -> None:
        raise RuntimeError("event broke")

    @hookimpl
    def plugyard_commands(self, host: Host) -> Any:
        raise RuntimeError("commands broke")

    @hookimpl
    def plugyard_shutdown(self) -> None:
        raise RuntimeError("shutdown broke")


class HangsInStartup:
    name = "hanger"

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        await asyncio.sleep(60)


async def test_a_plugin_that_raises_in_every_hook_never_stops_the_others() -> None:
    log: list[str] = []
    good = Recorder("good", log)
    async with run_host([RaisesEverywhere(), good]) as host:
        host.publish("app.ping")
        await host.bus.drain(2)
        assert (await host.run_command("status", name="good"))["status"] == "started"
        assert "status" in [c.name for c in host.commands.list()]
    assert log == ["good:startup", "good:event:app.ping", "good:shutdown"]
    record = host.registry.get("raiser")
    assert record.state is PluginState.FAILED
    assert "startup broke" in (record.error or "")


async def test_a_plugin_that_hangs_in_startup_is_timed_out_and_others_start() -> None:
    log: list[str] = []
    config = {"host": {"startup_timeout": 0.3}}
    started = time.monotonic()

    class Quick(Recorder):
        pass

    host = Host(config, autoload=False, plugins=[HangsInStartup(), Quick("quick", log)])
    async with host:
        assert time.monotonic() - started < 5
        assert host.registry.get("quick").state is PluginState.STARTED
        hanger = host.registry.get("hanger")
        assert hanger.state is PluginState.FAILED
        assert "did not finish plugyard_startup" in (hanger.error or "")
    assert host.stats["hanger"].timeouts == 1


async def test_events_on_start_and_stop_and_state_changes() -> None:
    log: list[str] = []
    host = Host(autoload=False, plugins=[Recorder("rec", log)])
    recorder = EventRecorder.attach(host)
    async with host:
        await host.bus.drain(2)
        assert "host.started" in recorder.topics
        assert recorder.topics.index("plugin.rec.loaded") < recorder.topics.index(
            "plugin.rec.started"
        )
    topics = recorder.topics
    assert "host.stopping" in topics
    assert "plugin.rec.stopped" in topics
    seqs = [event.seq for event in recorder.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


class SlowStopHandle:
    model = "test"
    order = 0

    def __init__(self, log: list[str], label: str, delay: float = 0.0) -> None:
        self.log, self.label, self.delay = log, label, delay

    async def start(self) -> None:
        self.log.append(f"start:{self.label}")

    async def stop(self) -> None:
        await asyncio.sleep(self.delay)
        self.log.append(f"stop:{self.label}")

    def describe(self) -> dict[str, Any]:
        return {"label": self.label}


class HandleAdapter:
    """An adapter that claims objects with a ``handle_label`` attribute."""

    name = "fake-adapter"

    def __init__(self, log: list[str], delays: dict[str, float] | None = None) -> None:
        self.log, self.delays = log, delays or {}

    @hookimpl
    def plugyard_load_plugin(self, spec: Any) -> Any:
        obj = spec.load()
        label = getattr(obj, "handle_label", None)
        if label is None:
            return None
        handle = SlowStopHandle(self.log, label, self.delays.get(label, 0.0))
        handle.order = getattr(obj, "order", 0)
        return handle


def labelled(label: str, order: int = 0) -> Any:
    return type(label, (), {"name": label, "handle_label": label, "order": order})


async def test_plugins_stop_in_reverse_order_and_a_slow_stop_is_cut_off() -> None:
    log: list[str] = []
    adapter = HandleAdapter(log, {"slow": 5.0})
    config = {"host": {"shutdown_timeout": 0.3}}
    plugins = [labelled("late", order=10), labelled("slow"), labelled("early", order=-10)]
    host = Host(config, autoload=False, plugins=plugins, adapters=[adapter])
    async with host:
        assert log == ["start:early", "start:slow", "start:late"]
        assert host.registry.get("fake-adapter").model == "adapter"
    assert log[3:] == ["stop:late", "stop:early"]
    assert host.registry.get("slow").state is PluginState.FAILED
    assert "stop did not finish" in (host.registry.get("slow").error or "")


async def test_start_stop_restart_by_name_through_commands() -> None:
    log: list[str] = []
    async with run_host([labelled("one")], adapters=[HandleAdapter(log)]) as host:
        assert (await host.run_command("stop", name="one"))["state"] == "stopped"
        assert (await host.run_command("start", name="one"))["state"] == "started"
        assert (await host.run_command("restart", name="one"))["state"] == "started"
        assert host.stats["one"].restarts == 1
        status = await host.run_command("status", name="one")
        assert status["details"] == {"label": "one"}
    assert log == ["start:one", "stop:one", "start:one", "stop:one", "start:one", "stop:one"]


async def test_a_host_runs_once() -> None:
    host = Host(autoload=False)
    async with host:
        assert host.running
    with pytest.raises(RuntimeError, match="runs once"):
        await host.start()


async def test_runtime_folder_is_private_and_host_json_is_written(tmp_path: Path) -> None:
    runtime = tmp_path / "rt"
    async with Host({"host": {"runtime_dir": str(runtime)}}, autoload=False) as host:
        host.advertise("endpoint", "ipc://x")
        assert (runtime.stat().st_mode & 0o777) == 0o700
        info = (runtime / "host.json").read_text()
        assert '"endpoint": "ipc://x"' in info
        assert f'"pid": {os.getpid()}' in info
    assert not (runtime / "host.json").exists()


def test_extend_still_works_for_one_release_and_unknown_attributes_explain() -> None:
    host = Host(autoload=False)
    with pytest.warns(DeprecationWarning, match=r"host\.extend\(\) is deprecated"):
        host.extend("tasks", "TASKS")
    assert host.tasks == "TASKS"
    with (
        pytest.warns(DeprecationWarning, match="extend"),
        pytest.raises(ValueError, match="already taken"),
    ):
        host.extend("tasks", 1)
    with pytest.raises(AttributeError, match=r"typed services: MyService\.of\(host\)"):
        _ = host.events


SERVE_SCRIPT = """
import asyncio, sys
from plugyard.host import Host
from plugyard.sdk import hookimpl
from plugyard.adapters.asyncio import AsyncioService

class P:
    name = "p"
    @hookimpl
    def plugyard_shutdown(self):
        print("shutdown hook ran", flush=True)

async def main():
    host = Host({"host": {"runtime_dir": sys.argv[1]}}, autoload=False, plugins=[P()])
    await host.serve(ready=lambda h: print("ready", flush=True))
    print("stopped cleanly", flush=True)

asyncio.run(main())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_shuts_down_gracefully_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent(SERVE_SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "rt")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "shutdown hook ran" in out
    assert "stopped cleanly" in out


async def test_hook_plugins_see_every_event_up_to_host_stopping() -> None:
    seen: list[str] = []

    class Watcher:
        name = "watcher"

        @hookimpl
        def plugyard_event(self, event: Event) -> None:
            seen.append(event.topic)

    async with run_host([Watcher()]):
        pass
    assert "host.started" in seen
    assert "host.stopping" in seen


async def test_a_stopped_hook_plugin_takes_its_commands_with_it() -> None:
    from plugyard.host import Command, CommandError

    class Greets:
        name = "greets"

        @hookimpl
        def plugyard_commands(self) -> list[Command]:
            return [Command("greet", lambda: {"hi": True})]

    async with run_host([Greets()]) as host:
        assert await host.run_command("greet") == {"hi": True}
        await host.run_command("stop", name="greets")
        with pytest.raises(CommandError, match="unknown command 'greet'"):
            await host.run_command("greet")
        await host.run_command("start", name="greets")
        assert await host.run_command("greet") == {"hi": True}


async def test_an_adapter_may_implement_a_hook_another_adapter_adds() -> None:
    class Specs:
        @staticmethod
        @__import__("plugyard.host", fromlist=["hookspec"]).hookspec
        def extra_hook(value: int) -> None: ...

    class Adds:
        name = "adds"

        @hookimpl
        def plugyard_addhooks(self, pluginmanager: Any) -> None:
            pluginmanager.add_hookspecs(Specs)

    class Uses:
        name = "uses"

        @hookimpl
        def extra_hook(self, value: int) -> int:
            return value

    async with run_host([], adapters=[Uses(), Adds()]) as host:
        assert host.registry.get("uses").state is PluginState.LOADED
        assert host.hook.extra_hook(value=3) == [3]


async def test_adapters_add_plugins_at_run_time() -> None:
    log: list[str] = []
    async with run_host() as host:
        record = host.add_plugin("deployment.web", SlowStopHandle(log, "web"), source="blueprint")
        assert record.state is PluginState.LOADED
        assert record.model == "test"
        assert (await host.run_command("start", name="deployment.web"))["state"] == "started"
        with pytest.raises(ValueError, match="already taken"):
            host.add_plugin("deployment.web", SlowStopHandle(log, "web"), source="again")
    assert log == ["start:web", "stop:web"]


async def test_wait_for_stop_returns_on_request_and_leaves_the_host_running() -> None:
    host = Host(autoload=False)
    with pytest.raises(RuntimeError, match="needs a started host"):
        await host.wait_for_stop()
    async with host:
        waiting = asyncio.create_task(host.wait_for_stop())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        host.request_stop()
        await asyncio.wait_for(waiting, 2)
        assert host.running
    assert not host.running
