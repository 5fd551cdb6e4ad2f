"""The built-in ``scale`` and ``heal`` workflows: instances added and installed (with what
they contain and their relationships), removed after an uninstall, and reinstalled."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle import Storage
from plugyard.adapters.lifecycle.local import init_env

PLUGYARD = str(Path(sys.executable).parent / "plugyard")

Calls = list[tuple[str, str, float]]
Write = Callable[..., Path]

BLUEPRINT = """
node_types:
  t.Node:
    derived_from: plugyard.nodes.Root
    interfaces:
      lifecycle:
        create: test.ops.record
        start: test.ops.record
        stop: test.ops.record
        delete: test.ops.record
node_templates:
  vm:
    type: t.Node
    instances: {deploy: 2}
  web:
    type: t.Node
    relationships:
      - {type: contained_in, target: vm}
  lb:
    type: t.Node
    relationships:
      - type: connected_to
        target: web
        source_interfaces:
          relationship_lifecycle:
            establish: test.ops.rel_touch
            unlink: test.ops.rel_touch
"""


def _ids(env: Any, node: str) -> list[str]:
    return [i.id for i in env.storage.get_node_instances(env.name, node)]


def _ran(calls: Calls) -> list[tuple[str, str]]:
    return [(where, op) for where, op, _ in calls]


def test_scale_out_installs_new_hosts_with_their_contents_and_links_them(
    calls: Calls, write_blueprint: Write
) -> None:
    env = init_env(write_blueprint(BLUEPRINT))
    env.execute("install", task_retries=0)
    old_vms, old_webs = _ids(env, "vm"), _ids(env, "web")
    (lb,) = _ids(env, "lb")
    calls.clear()
    result = env.execute("scale", {"scalable_entity_name": "vm", "delta": 1}, task_retries=0)
    assert result["status"] == "succeeded"
    new_vms = sorted(set(_ids(env, "vm")) - set(old_vms))
    new_webs = sorted(set(_ids(env, "web")) - set(old_webs))
    assert len(new_vms) == 1 and len(new_webs) == 1
    (web,) = [i for i in env.storage.get_node_instances(env.name, "web") if i.id in new_webs]
    assert web.host_id == new_vms[0] and web.state == "started"
    ran = _ran(calls)
    # Only the new instances run their lifecycle; lb only establishes its new link.
    assert {where for where, _op in ran} == {new_vms[0], new_webs[0], lb}
    assert ran.index((new_vms[0], "start")) < ran.index((new_webs[0], "create"))
    assert [op for where, op in ran if where == lb] == [f"rel:establish:{new_webs[0]}"]
    (lb_instance,) = env.storage.get_node_instances(env.name, "lb")
    targets = [r["target_instance_id"] for r in lb_instance.relationships]
    assert sorted(targets) == sorted([*old_webs, *new_webs])
    env.close()


def test_scale_in_uninstalls_the_newest_and_forgets_them(
    calls: Calls, write_blueprint: Write
) -> None:
    env = init_env(write_blueprint(BLUEPRINT))
    env.execute("install", task_retries=0)
    vms = sorted(env.storage.get_node_instances(env.name, "vm"), key=lambda i: i.index)
    gone_vm = vms[-1].id
    (gone_web,) = [
        i.id for i in env.storage.get_node_instances(env.name, "web") if i.host_id == gone_vm
    ]
    (lb,) = _ids(env, "lb")
    calls.clear()
    env.execute("scale", {"scalable_entity_name": "vm", "delta": -1}, task_retries=0)
    ran = _ran(calls)
    assert {where for where, _op in ran} == {gone_vm, gone_web, lb}
    assert ran.index((lb, f"rel:unlink:{gone_web}")) < ran.index((gone_web, "stop"))
    assert ran.index((gone_web, "delete")) < ran.index((gone_vm, "stop"))
    assert _ids(env, "vm") == [vms[0].id]
    assert gone_web not in _ids(env, "web")
    (lb_instance,) = env.storage.get_node_instances(env.name, "lb")
    assert gone_web not in [r["target_instance_id"] for r in lb_instance.relationships]
    with pytest.raises(ValueError, match=r"node 'vm' has 1 instance\(s\); cannot remove 2"):
        env.execute("scale", {"scalable_entity_name": "vm", "delta": -2}, task_retries=0)
    env.close()


def test_heal_reinstalls_an_instance_with_its_contents_and_relinks(
    calls: Calls, write_blueprint: Write
) -> None:
    env = init_env(write_blueprint(BLUEPRINT))
    env.execute("install", task_retries=0)
    vm = _ids(env, "vm")[0]
    (web,) = [i.id for i in env.storage.get_node_instances(env.name, "web") if i.host_id == vm]
    (lb,) = _ids(env, "lb")
    calls.clear()
    env.execute("heal", {"node_instance_id": vm}, task_retries=0)
    ran = _ran(calls)
    assert {where for where, _op in ran} == {vm, web, lb}
    assert ran == [
        (lb, f"rel:unlink:{web}"),
        (web, "stop"),
        (web, "delete"),
        (vm, "stop"),
        (vm, "delete"),
        (vm, "create"),
        (vm, "start"),
        (web, "create"),
        (web, "start"),
        (lb, f"rel:establish:{web}"),
    ]
    assert {i.state for i in env.storage.get_node_instances(env.name)} == {"started"}
    env.close()


def test_scale_and_heal_check_their_parameters(write_blueprint: Write) -> None:
    env = init_env(write_blueprint(BLUEPRINT))
    with pytest.raises(ValueError, match=r"scale: no node 'vms'.*did you mean 'vm'"):
        env.execute("scale", {"scalable_entity_name": "vms"})
    with pytest.raises(ValueError, match=r"delta must be an integer, got 'two'"):
        env.execute("scale", {"scalable_entity_name": "vm", "delta": "two"})
    with pytest.raises(ValueError, match=r"parameter 'node_instance_id' is required"):
        env.execute("heal", {})
    with pytest.raises(ValueError, match=r"no node instance 'vm_nope'"):
        env.execute("heal", {"node_instance_id": "vm_nope"})
    env.close()


def test_scale_and_heal_from_the_command_line(tmp_path: Path) -> None:
    plugins = Path(__file__).parent / "blueprints" / "plugins"
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(
        f"plugins:\n  test: {{package: lc_testplugin, source: {plugins}}}\n" + BLUEPRINT
    )
    store = tmp_path / "store.db"

    def lifecycle(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PLUGYARD, "lifecycle", *args, "-d", "web", "--storage", str(store)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert lifecycle("install", str(blueprint)).returncode == 0
    scaled = lifecycle("execute", "scale", "-p", "scalable_entity_name=web", "-p", "delta=1")
    assert scaled.returncode == 0, scaled.stderr
    storage = Storage(store)
    webs = storage.get_node_instances("web", "web")
    assert len(webs) == 4  # two per vm now
    healed = lifecycle("execute", "heal", "-p", f"node_instance_id={webs[0].id}")
    assert healed.returncode == 0, healed.stderr
    assert f"{webs[0].id}" in healed.stdout and "delete" in healed.stdout
    storage.close()
