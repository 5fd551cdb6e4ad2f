"""One host under five models: every model's plugins are registry records, the host's
filters apply to all of them, and every door (the CLI included) runs plugins on a host."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from plugyard.host import Config, Host, PluginState

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EXAMPLE_CONFIG = EXAMPLES / "plugyard.toml"
PLUGYARD = str(Path(sys.executable).parent / "plugyard")

ONE_OF_EACH = {
    "webserver": "lifecycle",
    "logger": "zmq",
    "background_plugin_example": "asyncio",
    "gwexample": "celery",
    "dog": "pod",
    "hello_hooks": "hooks",
}
"""A plugin of each model in examples/plugyard.toml, and its model."""


def example_config(tmp_path: Path, **host: Any) -> Config:
    """examples/plugyard.toml, with its runtime and storage in ``tmp_path`` and ``host``
    settings added."""
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["host"] = {**raw["host"], "runtime_dir": str(tmp_path / "run"), **host}
    raw["lifecycle"] = {**raw.get("lifecycle", {}), "storage_dir": str(tmp_path / "lc")}
    raw["celery"] = {"state_dir": str(tmp_path / "celery"), "embedded_worker": False}
    raw["pod"] = {"database": f"sqlite:///{tmp_path / 'pod.db'}"}
    raw["plugins"]["logger"]["filename"] = str(tmp_path / "events.log")
    return Config(raw, path=EXAMPLE_CONFIG)


def test_plugins_json_lists_a_plugin_of_every_model(tmp_path: Path) -> None:
    done = subprocess.run(
        [PLUGYARD, "plugins", "--json", "-c", str(EXAMPLE_CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**_env(), "PLUGYARD_HOST__RUNTIME_DIR": str(tmp_path / "run")},
    )
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout)}
    for name, model in ONE_OF_EACH.items():
        assert records[name]["model"] == model, records[name]
        assert records[name]["state"] == "loaded", records[name]
        assert records[name]["source"], records[name]
    assert records["webserver"]["version"] == "1.0"
    assert "blueprint.yaml plugins.webserver" in records["webserver"]["source"]
    assert {r["model"] for r in records.values()} >= {*ONE_OF_EACH.values(), "adapter"}


@pytest.mark.parametrize(("name", "model"), sorted(ONE_OF_EACH.items()))
async def test_disabling_any_plugin_by_name_keeps_it_from_loading(
    tmp_path: Path, name: str, model: str
) -> None:
    host = Host(example_config(tmp_path, disabled=[name]))
    await host.load()
    record = host.registry.get(name)
    assert record.state is PluginState.DISABLED
    assert record.error == "listed in [host] disabled"
    # a disabled plugin is never imported: its model is known where its source declares it
    assert record.model == (model if name == "webserver" else "unknown")
    assert host.registry.handle(name) is None
    others = [n for n in ONE_OF_EACH if n != name]
    assert all(host.registry.get(n).state is PluginState.LOADED for n in others)


async def test_an_allow_list_applies_to_every_model(tmp_path: Path) -> None:
    host = Host(example_config(tmp_path, enabled=["dog", "webserver"]))
    await host.load()
    states = {n: host.registry.get(n).state for n in ONE_OF_EACH}
    assert states["dog"] is PluginState.LOADED
    assert states["webserver"] is PluginState.LOADED
    for name in set(ONE_OF_EACH) - {"dog", "webserver"}:
        assert states[name] is PluginState.DISABLED, name
        assert host.registry.get(name).error == "not listed in [host] enabled"


async def test_a_disabled_pod_plugin_cannot_be_launched(tmp_path: Path) -> None:
    from plugyard.adapters.pod import PodService
    from plugyard.sdk.pod import PodError

    config = example_config(tmp_path, disabled=["dog", "logger"])
    async with Host(config) as host:
        pod = PodService.of(host)
        with pytest.raises(PodError, match="pod plugin 'dog' is disabled"):
            await pod.launch({"plugin_module": "pod_dog_plugin", "plugin_name": "ExamplePlugin"})


async def test_a_run_names_its_plugin_and_is_a_record(tmp_path: Path) -> None:
    from plugyard.adapters.pod import PodService

    config = example_config(tmp_path, disabled=["logger"])
    async with Host(config) as host:
        pod = PodService.of(host)
        run = await pod.launch(
            {"plugin_module": "pod_dog_plugin", "plugin_name": "ExamplePlugin"}, "inprocess"
        )
        final = await pod.wait(run["id"], 30)
        assert final["status"] == "done", final
        record = host.registry.get(f"pod.run.{run['id']}")
        assert record.model == "pod"
        details = host.registry.handle(record.name)
        assert details is not None and details.describe()["plugin"] == "dog"
        assert host.registry.get(record.name).state is PluginState.STOPPED
        assert host.registry.handle("dog").describe()["launches"] == 1  # type: ignore[union-attr]


async def test_a_disabled_lifecycle_plugin_fails_its_workflows_before_any_operation(
    tmp_path: Path,
) -> None:
    from plugyard.adapters.lifecycle import LifecycleService

    config = example_config(tmp_path, disabled=["webserver", "logger"])
    async with Host(config) as host:
        service = LifecycleService.of(host)
        assert host.registry.get("lifecycle.web").state is PluginState.STARTED
        with pytest.raises(ValueError, match="lifecycle plugin 'webserver' is disabled"):
            await service.run("web", "install")
        instances = service.envs["web"].storage.get_node_instances("web")
        assert {i.state for i in instances} == {"uninitialized"}


WRAPPER = """
import json, os
from plugyard.sdk import hookimpl

class Audit:
    def __init__(self, log):
        self.log = log

    def _write(self, entry):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\\n")

    @hookimpl(wrapper=True)
    def plugyard_lifecycle_operation(self, call):
        self._write({"op": call.operation, "instance": call.instance_id, "pid": os.getpid()})
        return (yield)

    @hookimpl
    def plugyard_event(self, event):
        if event.topic.startswith("operation.") and event.topic.endswith(".succeeded"):
            self._write({"event": event.topic})
"""

BLUEPRINT = """
plugins:
  steps: {{package: cli_steps, source: {src}}}
node_types:
  step:
    derived_from: plugyard.nodes.Root
    interfaces:
      lifecycle:
        create: steps.ops.noop
        start: steps.ops.noop
node_templates:
  only: {{type: step}}
"""


def test_a_wrapper_from_the_configuration_runs_on_lifecycle_install_from_the_cli(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "cli_steps").mkdir(parents=True)
    (src / "cli_steps" / "__init__.py").write_text("")
    (src / "cli_steps" / "ops.py").write_text("def noop(**kwargs):\n    return None\n")
    (src / "audit_wrapper.py").write_text(textwrap.dedent(WRAPPER))
    blueprint = tmp_path / "bp.yaml"
    blueprint.write_text(BLUEPRINT.format(src=src))
    log = tmp_path / "audit.jsonl"
    (tmp_path / "plugyard.toml").write_text(
        textwrap.dedent(
            f"""
            [host]
            autoload = false
            adapters = ["lifecycle"]
            python_path = ["src"]
            runtime_dir = "run"

            [plugins.audit]
            use = "audit_wrapper:Audit"
            log = {json.dumps(str(log))}
            """
        )
    )
    done = subprocess.run(
        [PLUGYARD, "lifecycle", "install", str(blueprint), "-d", "one", "--task-retries", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("install succeeded")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    ops = [(e["op"], e["instance"].split("_")[0]) for e in entries if "op" in e]
    assert ("create", "only") in ops and ("start", "only") in ops
    assert {e["pid"] for e in entries if "op" in e} != {0}
    events = [e["event"] for e in entries if "event" in e]
    assert any(".create.succeeded" in e for e in events), entries
    assert any(".start.succeeded" in e for e in events), entries


def _env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    return env
