"""Life cycle: initialise all, start background work, close in reverse; failures contained."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService
from plugyard.host.testing import run_host
from plugyard.sdk.events import BackgroundPlugin, EventPlugin

pytestmark = pytest.mark.timeout(30)


def journal_plugins(journal: list[str], fail_init: str | None = None) -> dict[str, Any]:
    """Three plugins that write their life-cycle calls to ``journal``."""

    class Base:
        name: str

        async def initialize(self) -> None:
            journal.append(f"init {self.app.name}")  # type: ignore[attr-defined]
            if self.app.name == fail_init:  # type: ignore[attr-defined]
                raise RuntimeError("bucket service unreachable")

        async def close(self) -> None:
            journal.append(f"close {self.app.name}")  # type: ignore[attr-defined]

    class First(Base, EventPlugin):
        event_name = "tick"

        async def handle_event(self, **payload: Any) -> None:
            journal.append(f"event {self.app.name}")

    class Second(Base, BackgroundPlugin):
        async def start(self) -> None:
            journal.append(f"start {self.app.name}")

    class Third(Base, BackgroundPlugin):
        async def start(self) -> None:
            journal.append(f"start {self.app.name}")

    return {"first": First, "second": Second, "third": Third}


def host_with(plugins: Any, config: dict[str, Any] | None = None) -> Any:
    return run_host(plugins=plugins, config=config, adapters=[AsyncioAdapter()])


async def test_initialise_all_then_start_then_close_in_reverse() -> None:
    journal: list[str] = []
    async with host_with(journal_plugins(journal)) as host:
        assert journal == [
            "init first",
            "init second",
            "init third",
            "start second",
            "start third",
        ]
        assert {r.name: str(r.state) for r in host.plugins if r.model == "asyncio"} == {
            "first": "started",
            "second": "started",
            "third": "started",
        }
        journal.clear()
    assert journal == ["close third", "close second", "close first"]


async def test_a_failing_initialize_fails_that_plugin_only_and_skips_its_close() -> None:
    journal: list[str] = []
    async with host_with(journal_plugins(journal, fail_init="second")) as host:
        record = host.registry.get("second")
        assert str(record.state) == "failed"
        assert record.error == "initialize() failed: RuntimeError: bucket service unreachable"
        assert "start second" not in journal
        assert str(host.registry.get("third").state) == "started"
        journal.clear()
    assert journal == ["close third", "close first"]


async def test_a_hanging_initialize_times_out() -> None:
    class Slow(BackgroundPlugin):
        async def initialize(self) -> None:
            await asyncio.sleep(3600)

    async with host_with({"slow": Slow}, {"asyncio": {"initialize_timeout": 0.1}}) as host:
        record = host.registry.get("slow")
        assert str(record.state) == "failed"
        assert "did not finish within 0.1s" in (record.error or "")


class Boiler(BackgroundPlugin):
    """Starts two tasks: one runs until cancelled, one dies."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.cancelled = False

    async def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self.boil(), name="boil"),
            asyncio.create_task(self.crash(), name="crash"),
        ]

    async def boil(self) -> None:
        try:
            while True:  # noqa: ASYNC110 - a periodic job, as a plugin would write it
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def crash(self) -> None:
        await asyncio.sleep(0.01)
        raise OSError("kettle melted")


async def test_background_tasks_are_tracked_a_dying_one_recorded_the_rest_cancelled() -> None:
    async with host_with({"boiler": Boiler}) as host:
        [died] = await host.recorder.await_for("asyncio.boiler.task_died")
        assert died.data == {"plugin": "boiler", "task": "crash", "error": "OSError: kettle melted"}
        handle = host.registry.handle("boiler")
        details = handle.describe()
        assert details["tasks"] == ["boil"]
        assert details["died"][0]["task"] == "crash"
        record = host.registry.get("boiler")
        assert str(record.state) == "started"
        assert record.error == "background task 'crash' died: OSError: kettle melted"
        assert host.stats["boiler"].errors == 1
        plugin = handle.instance
    assert plugin.cancelled
    assert handle.tracker.running() == []


async def test_stop_and_restart_a_plugin_by_name() -> None:
    journal: list[str] = []
    async with host_with(journal_plugins(journal)) as host:
        journal.clear()
        await host.run_command("restart", name="second")
        assert journal == ["close second", "init second", "start second"]
        await host.run_command("stop", name="first")
        from plugyard.adapters.asyncio import EventHub

        hub: EventHub = AsyncioService.of(host).event_types
        hub.declare("tick", dict_free_payload())
        result = await AsyncioService.of(host).emit_and_wait("tick")
        assert result.outcomes == {}
        await host.run_command("start", name="first")
        result = await AsyncioService.of(host).emit_and_wait("tick")
        assert result["first"].ok


def dict_free_payload() -> type:
    from dataclasses import dataclass

    @dataclass
    class Empty:
        pass

    return Empty


async def test_plugins_share_state_by_name() -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        value: int

    class Batcher(EventPlugin):
        event_name = "point"

        async def handle_event(self, value: int) -> None:
            self.app.state_of("flusher").batch.append(value)

    class Flusher(BackgroundPlugin):
        async def initialize(self) -> None:
            self.app.state.batch = []
            self.flushed: list[list[int]] = []

        def flush(self) -> None:
            self.flushed.append(self.app.state.batch[:])
            self.app.state.batch.clear()

    async with host_with({"batcher": Batcher, "flusher": Flusher}) as host:
        AsyncioService.of(host).event_types.declare("point", Point)
        for value in range(3):
            await AsyncioService.of(host).emit_and_wait("point", value=value)
        flusher = host.registry.handle("batcher").app.plugin("flusher")
        flusher.flush()
        assert flusher.flushed == [[0, 1, 2]]
        with pytest.raises(KeyError, match="no event or background plugin named 'nope'"):
            host.registry.handle("batcher").app.plugin("nope")


async def test_app_gives_config_logger_and_declarations() -> None:
    seen: dict[str, Any] = {}

    class Probe(BackgroundPlugin):
        async def initialize(self) -> None:
            seen["config"] = dict(self.app.config)
            seen["logger"] = self.app.logger.name
            seen["events"] = dict(self.app.events)

    config = {
        "asyncio": {"events": {"sending_event": {"type": "plugyard.sdk.events:SendingPayload"}}},
    }
    async with host_with({"probe": Probe}, config):
        pass
    from plugyard.sdk.events import SendingPayload

    assert seen == {
        "config": {},  # objects handed to the host directly have no options
        "logger": "plugyard.plugins.probe",
        "events": {"sending_event": SendingPayload},
    }


def write_plugin(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


PLUGIN_FILE = """
from plugyard.sdk.events import BackgroundPlugin, EventPlugin
from plugyard.adapters.asyncio import AsyncioService

class AbstractLooking(EventPlugin):
    event_name = "tick"

class Teapot(BackgroundPlugin):
    async def initialize(self):
        self.bucket = self.app.config.get("bucket")
"""


async def test_active_plugins_from_plugin_dirs_by_file_name(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "teapot", PLUGIN_FILE)
    write_plugin(tmp_path / "plugins", "inactive", PLUGIN_FILE)
    config = {
        "asyncio": {
            "plugin_dirs": [str(tmp_path / "plugins")],
            "active_plugins": ["teapot", "missing"],
        },
        "plugins": {"teapot": {"bucket": "plugin_test_bucket"}},
    }
    async with host_with({}, config) as host:
        assert str(host.registry.get("teapot").state) == "started"
        assert host.registry.handle("teapot").instance.bucket == "plugin_test_bucket"
        missing = host.registry.get("missing")
        assert str(missing.state) == "failed"
        assert "not found in plugin_dirs" in (missing.error or "")
        assert "[asyncio] active_plugins" in (missing.error or "")
        assert "inactive" not in host.registry


async def test_a_module_with_several_plugin_classes_must_name_one(tmp_path: Path) -> None:
    write_plugin(
        tmp_path,
        "two",
        """
        from plugyard.sdk.events import BackgroundPlugin

        class One(BackgroundPlugin):
            pass

        class Two(BackgroundPlugin):
            pass
        """,
    )
    config = {"asyncio": {"plugin_dirs": [str(tmp_path)], "active_plugins": ["two"]}}
    async with host_with({}, config) as host:
        error = host.registry.get("two").error or ""
        assert "several plugin classes (One, Two)" in error
        assert "use = 'module:Class'" in error


async def test_use_in_config_loads_a_plugin_class() -> None:
    config = {"plugins": {"tea": {"use": "examples_free_teapot:Teapot"}}}
    import sys
    import types

    module = types.ModuleType("examples_free_teapot")

    class Teapot(BackgroundPlugin):
        pass

    Teapot.__module__ = module.__name__
    module.Teapot = Teapot  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        async with host_with({}, config) as host:
            record = host.registry.get("tea")
            assert (record.model, str(record.state)) == ("asyncio", "started")
    finally:
        del sys.modules[module.__name__]


async def test_bad_event_plugin_classes_fail_to_load_with_a_reason() -> None:
    class NoName(EventPlugin):
        async def handle_event(self, **payload: Any) -> None:
            pass

    class Blocking(EventPlugin):
        event_name = "tick"

        def handle_event(self, **payload: Any) -> None:  # type: ignore[override]
            pass

    async with host_with({"noname": NoName, "blocking": Blocking}) as host:
        assert "has no class attribute event_name" in (host.registry.get("noname").error or "")
        assert "must be 'async def'" in (host.registry.get("blocking").error or "")
