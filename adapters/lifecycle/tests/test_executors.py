"""Where operations run: the ``process`` executor (a child per operation, ``ctx`` over a
pipe, killed at its timeout) and what a timeout means with the ``local`` executor."""

from __future__ import annotations

import os
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle.local import init_env
from plugyard.sdk.lifecycle import WorkflowFailed

PLUGINS = Path(__file__).parent / "blueprints" / "plugins"

HEADER = f"""
plugins:
  x:
    package: lc_execplugin
    source: {PLUGINS}
node_templates:
"""


def _blueprint(tmp_path: Path, nodes: str) -> Path:
    path = tmp_path / "blueprint.yaml"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(nodes), "  "))
    (tmp_path / "data.txt").write_text("from the blueprint folder")
    return path


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_process_executor_runs_each_operation_in_a_child_with_ctx_over_a_pipe(
    tmp_path: Path,
) -> None:
    path = _blueprint(
        tmp_path,
        """
        server:
          type: plugyard.nodes.Root
          interfaces:
            lifecycle:
              create: {implementation: x.ops.record_pid, inputs: {value: 7}}
              configure: x.ops.resource
        app:
          type: plugyard.nodes.Root
          interfaces:
            lifecycle:
              create: x.ops.record_pid
          relationships:
            - type: plugyard.relationships.connected_to
              target: server
              source_interfaces:
                relationship_lifecycle:
                  establish: x.ops.link
        """,
    )
    env = init_env(path, storage=tmp_path / "store.db")
    events: list[tuple[str, dict[str, Any]]] = []
    env.subscribe(lambda topic, data: events.append((topic, data)))
    result = env.execute("install", task_retries=0, executor="process")
    assert result["status"] == "succeeded"
    (server,) = env.storage.get_node_instances(node_id="server")
    (app,) = env.storage.get_node_instances(node_id="app")
    pids = {server.runtime_properties["pid"], app.runtime_properties["pid"]}
    assert os.getpid() not in pids and len(pids) == 2
    assert server.runtime_properties["seen"] == 7
    assert server.runtime_properties["text"] == "from the blueprint folder"
    assert server.runtime_properties["source"] == app.id
    assert app.runtime_properties["target"] == server.id
    _props, version = env.storage.load_runtime_properties(server.id)
    assert version >= 3  # create, configure and the relationship each saved a version
    logs = [data for topic, data in events if topic.endswith(".create.log")]
    assert any(d["message"] == f"ran in {server.runtime_properties['pid']}" for d in logs)
    done = [d for topic, d in events if topic.endswith(".create.succeeded")]
    assert {d["ran_on"]["pid"] for d in done} == pids
    env.close()


def test_process_executor_kills_an_operation_past_its_timeout_and_retries_it(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    path = _blueprint(
        tmp_path,
        f"""
        slow:
          type: plugyard.nodes.Root
          interfaces:
            lifecycle:
              create:
                implementation: x.ops.sleep
                inputs: {{seconds: 60, pids: "{pids}"}}
                timeout: 1
                timeout_recoverable: true
                max_retries: 1
                retry_interval: 0
        """,
    )
    env = init_env(path, storage=tmp_path / "store.db")
    states: list[str] = []
    killed: list[int] = []

    def watch(topic: str, data: dict[str, Any]) -> None:
        if topic.startswith("operation.") and not topic.endswith(".log"):
            states.append(topic.rsplit(".", 1)[-1])
            if data.get("ran_on", {}).get("killed"):
                killed.append(data["ran_on"]["pid"])

    env.subscribe(watch)
    with pytest.raises(WorkflowFailed, match=r"timed out after 1s") as info:
        env.execute("install", executor="process")
    assert info.value.error_type == "RecoverableError"
    assert states == ["started", "retrying", "started", "failed"]
    # Each attempt's process was killed and is gone (reaped) when the workflow moved on.
    assert len(set(killed)) == 2 and os.getpid() not in killed
    assert all(_gone(pid) for pid in killed)
    # An attempt that got as far as noting its pid was one of them.
    assert set(_pids(pids)) <= set(killed)
    (slow,) = env.storage.get_node_instances(node_id="slow")
    assert slow.runtime_properties.get("sleeper") in (None, *killed)
    assert "woke" not in slow.runtime_properties
    env.close()


def test_process_executor_retries_as_the_operation_asks_and_reports_crashes(
    tmp_path: Path,
) -> None:
    flaky, crashed = tmp_path / "flaky", tmp_path / "crashed"
    path = _blueprint(
        tmp_path,
        f"""
        flaky:
          type: plugyard.nodes.Root
          interfaces:
            lifecycle:
              create: {{implementation: x.ops.flaky, inputs: {{pids: "{flaky}"}}}}
        crasher:
          type: plugyard.nodes.Root
          relationships:
            - {{type: plugyard.relationships.depends_on, target: flaky}}
          interfaces:
            lifecycle:
              create: {{implementation: x.ops.crash, inputs: {{pids: "{crashed}"}}}}
        """,
    )
    env = init_env(path, storage=tmp_path / "store.db")
    with pytest.raises(WorkflowFailed, match=r"ended with exit code 3") as info:
        env.execute("install", task_retries=1, task_retry_interval=0, executor="process")
    assert info.value.error_type == "OperationProcessDied"
    (node,) = env.storage.get_node_instances(node_id="flaky")
    assert node.runtime_properties["attempts"] == 2
    assert len(_pids(flaky)) == 2 and len(_pids(crashed)) == 2
    env.close()


def test_process_executor_reports_plugin_errors_by_their_type(tmp_path: Path) -> None:
    path = _blueprint(
        tmp_path,
        """
        n:
          type: plugyard.nodes.Root
          interfaces:
            lifecycle:
              create: x.ops.broken
        """,
    )
    env = init_env(path)
    with pytest.raises(WorkflowFailed, match=r"KeyError: 'missing-thing'") as info:
        env.execute("install", task_retries=0, executor="process")
    assert info.value.error_type == "KeyError"
    assert "raise KeyError" in info.value.causes[0]["traceback"]
    env.close()


def test_local_timeout_marks_the_operation_and_ignores_what_it_does_later(
    tmp_path: Path,
) -> None:
    pids, release = tmp_path / "pids", tmp_path / "release"
    path = _blueprint(
        tmp_path,
        f"""
        slow:
          type: plugyard.nodes.Root
          interfaces:
            lifecycle:
              create:
                implementation: x.ops.hold
                inputs: {{pids: "{pids}", release: "{release}"}}
                timeout: 0.3
        """,
    )
    env = init_env(path, name="localtimeout")
    with pytest.raises(WorkflowFailed, match=r"timed out after 0\.3s"):
        env.execute("install", executor="local")
    # The thread cannot be stopped: let it finish, then see that its result was ignored.
    release.touch()
    for thread in threading.enumerate():
        if thread.name.startswith("lifecycle-localtimeout"):
            thread.join(30)
            assert not thread.is_alive()
    assert set(_pids(pids)) <= {os.getpid()}  # ran in this process, if it started at all
    (slow,) = env.storage.get_node_instances(node_id="slow")
    assert "held_by" not in slow.runtime_properties
    env.close()


def test_unknown_executor_is_refused(tmp_path: Path) -> None:
    env = init_env(_blueprint(tmp_path, "n: {type: plugyard.nodes.Root}\n"))
    with pytest.raises(ValueError, match=r"unknown lifecycle executor 'thread'.*local, process"):
        env.execute("install", executor="thread")
    env.close()
