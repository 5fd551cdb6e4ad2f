"""The adapter on a host: [lifecycle] config, commands, deployments as plugins, events, and a
plugin wrapping every operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle import LifecycleService
from plugyard.adapters.lifecycle._adapter import adapter
from plugyard.host import CommandError, ConfigError, Host
from plugyard.host.testing import run_host
from plugyard.sdk import hookimpl

BLUEPRINTS = Path(__file__).parent / "blueprints"


class Timer:
    """A plain hook plugin that wraps every lifecycle operation."""

    def __init__(self) -> None:
        self.timed: list[tuple[str, str]] = []

    @hookimpl(wrapper=True)
    def plugyard_lifecycle_operation(self, call: Any) -> Any:
        try:
            return (yield)
        finally:
            self.timed.append((call.instance_id, call.operation))


async def test_commands_install_report_and_uninstall(tmp_path: Path, calls: Any) -> None:
    timer = Timer()
    config = {"lifecycle": {"storage_dir": str(tmp_path), "task_retries": 0}}
    async with run_host(plugins={"timer": timer}, config=config, adapters=[adapter]) as host:
        result = await host.run_command(
            "lifecycle.install",
            blueprint=str(BLUEPRINTS / "app.yaml"),
            deployment="web",
            inputs={"app_count": 1},
        )
        assert result["status"] == "succeeded"
        await host.recorder.await_for("workflow.web.install.succeeded")
        assert len(host.recorder.matching("operation.web.*.create.succeeded")) == 3
        assert host.recorder.matching("operation.web.*.create.log")[0].source == "lifecycle"
        assert len(timer.timed) == result["succeeded"]
        record = host.registry.get("lifecycle.web")
        assert (record.model, str(record.state)) == ("lifecycle", "started")
        status = await host.run_command("lifecycle.status", deployment="web")
        assert status["states"] == {"started": 3}
        assert status["last_execution"]["status"] == "succeeded"
        everything = await host.run_command("status", name="lifecycle.web")
        assert everything["details"]["instances"] == 3
        outputs = await host.run_command("lifecycle.outputs", deployment="web")
        assert outputs["outputs"]["host_ip"] == "10.0.0.7"
        executed = await host.run_command(
            "lifecycle.execute", deployment="web", operation="create", node_ids=["db"]
        )
        assert executed["succeeded"] == 1
        await host.run_command("lifecycle.uninstall", deployment="web")
        listed = await host.run_command("lifecycle.instances", deployment="web")
        assert {i["state"] for i in listed["instances"]} == {"deleted"}
    assert (tmp_path / "web.db").is_file()
    assert str(host.registry.get("lifecycle.web").state) == "stopped"


async def test_bad_input_is_a_command_error_and_the_host_stays_up(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("node_templates:\n  web:\n    type: nope\n")
    config = {"lifecycle": {"storage_dir": str(tmp_path)}}
    async with run_host(config=config, adapters=[adapter]) as host:
        with pytest.raises(CommandError, match=r"node_templates\.web\.type: unknown node type"):
            await host.run_command("lifecycle.install", blueprint=str(bad), deployment="x")
        with pytest.raises(CommandError, match="no deployment 'ghost'"):
            await host.run_command("lifecycle.status", deployment="ghost")
        assert host.running
        assert (await host.run_command("lifecycle.status"))["deployments"] == {}


async def test_deployments_in_config_are_host_plugins(tmp_path: Path) -> None:
    config = {
        "lifecycle": {
            "storage_dir": str(tmp_path),
            "deployments": {
                "pre": {"blueprint": str(BLUEPRINTS / "app.yaml"), "inputs": {"app_count": 3}}
            },
        }
    }
    async with run_host(config=config, adapters=[adapter]) as host:
        record = host.registry.get("lifecycle.pre")
        assert str(record.state) == "started"
        assert host.registry.handle("lifecycle.pre").describe()["instances"] == 5
        assert LifecycleService.of(host).envs["pre"].name == "pre"
    assert str(host.registry.get("lifecycle.pre").state) == "stopped"


async def test_a_wrong_lifecycle_section_names_the_key() -> None:
    host = Host({"lifecycle": {"task_retriez": 1}}, autoload=False, adapters=[adapter])
    with pytest.raises(ConfigError, match=r"lifecycle\.task_retriez: unknown key"):
        await host.load()


def test_the_entry_point_names_the_adapter() -> None:
    from plugyard.host import entry_points

    found = {e.name: e.value for e in entry_points("plugyard.adapters")}
    assert found["lifecycle"] == "plugyard.adapters.lifecycle._adapter:adapter"
