"""Workflows on a local environment: order, parallelism, errors, retries, timeouts, events,
the operation wrapper hook, runtime properties and resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle.local import init_env
from plugyard.sdk import hookimpl
from plugyard.sdk.lifecycle import NonRecoverableError, WorkflowFailed

BLUEPRINTS = Path(__file__).parent / "blueprints"
Calls = list[tuple[str, str, float]]
Write = Callable[..., Path]


def _index(calls: Calls, instance_prefix: str, name: str) -> int:
    for i, (where, op, _) in enumerate(calls):
        if where.startswith(instance_prefix) and op == name:
            return i
    raise AssertionError(f"{instance_prefix} {name} did not run: {calls}")


def test_install_runs_in_relationship_order_and_uninstall_reverses_it(calls: Calls) -> None:
    env = init_env(BLUEPRINTS / "app.yaml", inputs={"app_count": 2})
    events: list[str] = []
    env.subscribe(lambda topic, data: events.append(topic))
    result = env.execute("install", task_retries=0)
    assert result["status"] == "succeeded"
    assert result["failed"] == 0
    host_done = _index(calls, "host_", "start")
    db_start = _index(calls, "db_", "start")
    assert _index(calls, "db_", "create") > host_done
    for app in (i for i in env.storage.get_node_instances(node_id="app")):
        order = [op for where, op, _ in calls if where == app.id]
        assert order[0] == "create"
        assert order.index("configure") > order.index(f"rel:preconfigure:{_db(env)}")
        assert order.index(f"rel:establish:{_db(env)}") > order.index("async:start")
        assert min(i for i, c in enumerate(calls) if c[0] == app.id) > db_start
        assert app.state == "started"
        assert app.runtime_properties["inputs"] == {"db_ip": "10.0.0.7", "fixed": 7}
    assert env.outputs() == {"app_port": 8080, "host_ip": "10.0.0.7", "url": "http://10.0.0.7:8080"}
    assert events[0] == "workflow.local.install.started"
    assert events[-1] == "workflow.local.install.succeeded"
    assert any(t.startswith("operation.local.app_") and t.endswith(".create.log") for t in events)
    calls.clear()
    env.execute("uninstall", task_retries=0)
    assert _index(calls, "app_", "stop") < _index(calls, "db_", "stop")
    assert _index(calls, "db_", "delete") < _index(calls, "host_", "stop")
    assert {i.state for i in env.storage.get_node_instances()} == {"deleted"}
    env.close()


def _db(env: Any) -> str:
    return str(env.storage.get_node_instances(node_id="db")[0].id)


def test_concurrent_relationship_writes_to_one_instance_are_all_kept(calls: Calls) -> None:
    env = init_env(BLUEPRINTS / "app.yaml", inputs={"app_count": 6})
    env.execute("install", task_retries=0)
    db = env.storage.get_node_instances(node_id="db")[0]
    apps = env.storage.get_node_instances(node_id="app")
    for app in apps:
        assert db.runtime_properties[f"from_{app.id}_preconfigure"] is True
        assert db.runtime_properties[f"from_{app.id}_establish"] is True
        assert app.runtime_properties["target_side_preconfigure"] is True
        assert app.runtime_properties["source_preconfigure"] == db.id
    env.close()


PARALLEL = """
node_templates:
{nodes}
"""


def _nodes(count: int, op: str, extra: str = "") -> str:
    lines = []
    for i in range(count):
        lines.append(
            f"  n{i}:\n    type: plugyard.nodes.Root\n    interfaces:\n      lifecycle:\n"
            f"        create: {{implementation: {op}{extra}}}\n"
        )
    return "".join(lines)


def test_independent_instances_run_in_parallel(calls: Calls, write_blueprint: Write) -> None:
    path = write_blueprint(
        PARALLEL.format(nodes=_nodes(4, "test.ops.sleep", ", inputs: {seconds: 0.4}"))
    )
    env = init_env(path)
    env.execute("install", task_retries=0, task_thread_pool_size=4)
    starts = sorted(t for _, op, t in calls if op == "sleep")
    assert len(starts) == 4
    assert starts[-1] - starts[0] < 0.3  # all four started before the first one finished
    env.close()


def test_nonrecoverable_error_fails_at_once_with_causes(
    calls: Calls, write_blueprint: Write
) -> None:
    path = write_blueprint(PARALLEL.format(nodes=_nodes(1, "test.ops.fail_nonrecoverable")))
    env = init_env(path)
    topics: list[str] = []
    env.subscribe(lambda topic, data: topics.append(topic))
    with pytest.raises(WorkflowFailed) as info:
        env.execute("install", task_retries=5, task_retry_interval=0)
    assert [op for _, op, _ in calls] == ["fail"]
    failure = info.value
    assert failure.error_type == "NonRecoverableError"
    assert "Failed to start" in failure.message
    types = [c["type"] for c in failure.causes]
    assert types == ["NonRecoverableError", "ConnectionRefusedError"]
    assert "nothing listens" in failure.causes[1]["message"]
    execution = env.storage.get_execution(failure.execution_id or "")
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["causes"][1]["type"] == ("ConnectionRefusedError")
    assert topics[-1] == "workflow.local.install.failed"
    assert any(t.endswith(".create.failed") for t in topics)
    env.close()


def test_any_other_exception_is_retried_until_task_retries_runs_out(
    calls: Calls, write_blueprint: Write
) -> None:
    env = init_env(write_blueprint(PARALLEL.format(nodes=_nodes(1, "test.ops.fail_plain"))))
    with pytest.raises(WorkflowFailed, match="plain failure") as info:
        env.execute("install", task_retries=2, task_retry_interval=0)
    assert [op for _, op, _ in calls] == ["fail_plain"] * 3
    assert info.value.error_type == "ValueError"
    env.close()


def test_recoverable_error_is_retried_until_it_succeeds(
    calls: Calls, write_blueprint: Write
) -> None:
    env = init_env(write_blueprint(PARALLEL.format(nodes=_nodes(1, "test.ops.flaky"))))
    result = env.execute("install", task_retries=3, task_retry_interval=10)
    assert [op for _, op, _ in calls] == ["flaky:0", "flaky:1", "flaky:2"]
    assert result["retried"] == 2
    (instance,) = env.storage.get_node_instances()
    assert instance.runtime_properties["flaky_done_at"] == 2
    ops = env.storage.get_operations(result.id)
    assert ops[0]["state"] == "succeeded"
    assert ops[0]["retry_number"] == 2
    env.close()


def test_per_operation_max_retries_overrides_and_exhausts(
    calls: Calls, write_blueprint: Write
) -> None:
    env = init_env(
        write_blueprint(PARALLEL.format(nodes=_nodes(1, "test.ops.flaky", ", max_retries: 1")))
    )
    with pytest.raises(WorkflowFailed, match="not yet"):
        env.execute("install", task_retries=-1, task_retry_interval=0)
    assert [op for _, op, _ in calls] == ["flaky:0", "flaky:1"]
    env.close()


def test_requested_retry_counts_against_max_retries(calls: Calls, write_blueprint: Write) -> None:
    env = init_env(write_blueprint(PARALLEL.format(nodes=_nodes(1, "test.ops.wait_retry"))))
    with pytest.raises(WorkflowFailed, match="waiting") as info:
        env.execute("install", task_retries=0)
    assert info.value.error_type == "OperationRetry"
    env.close()


def test_retry_after_does_not_hold_a_worker(calls: Calls, write_blueprint: Write) -> None:
    nodes = _nodes(1, "test.ops.wait_retry", ", inputs: {after: 0.5}").replace("n0", "a_waiter")
    nodes += _nodes(3, "test.ops.sleep", ", inputs: {seconds: 0.05}")
    env = init_env(write_blueprint(PARALLEL.format(nodes=nodes)))
    env.execute("install", task_retries=1, task_thread_pool_size=1)
    first = next(t for _, op, t in calls if op == "wait_retry:0")
    second = next(t for _, op, t in calls if op == "wait_retry:1")
    others = [t for _, op, t in calls if op == "sleep"]
    assert second - first >= 0.45
    assert len(others) == 3
    assert all(first < t < second for t in others)
    env.close()


def test_timeout_fails_a_hanging_operation(calls: Calls, write_blueprint: Write) -> None:
    env = init_env(
        write_blueprint(
            PARALLEL.format(
                nodes=_nodes(1, "test.ops.sleep", ", inputs: {seconds: 1.0}, timeout: 0.1")
            )
        )
    )
    with pytest.raises(WorkflowFailed, match=r"timed out after 0\.1s") as info:
        env.execute("install", task_retries=3, task_retry_interval=0)
    assert info.value.error_type == "NonRecoverableError"
    env.close()


def test_execute_operation_on_chosen_nodes_with_kwargs(calls: Calls) -> None:
    env = init_env(BLUEPRINTS / "app.yaml", inputs={"app_count": 2})
    env.execute(
        "execute_operation",
        {"operation": "create", "node_ids": ["db"], "operation_kwargs": {"extra": 1}},
        task_retries=0,
    )
    assert [where[:3] for where, _, _ in calls] == ["db_"]
    (db,) = env.storage.get_node_instances(node_id="db")
    assert db.runtime_properties["inputs"] == {"extra": 1}
    with pytest.raises(ValueError, match="unknown parameter 'nodes'"):
        env.execute("execute_operation", {"operation": "create", "nodes": []})
    with pytest.raises(ValueError, match="no node maps operation 'explode'"):
        env.execute("execute_operation", {"operation": "explode"})
    with pytest.raises(ValueError, match="did you mean 'install'"):
        env.execute("instal")
    env.close()


class Audit:
    """Wraps every operation: records it and can veto one."""

    def __init__(self, veto: str | None = None) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.veto = veto

    @hookimpl(wrapper=True)
    def plugyard_lifecycle_operation(self, call: Any) -> Any:
        self.seen.append((call.instance_id, call.operation, call.implementation))
        if call.operation == self.veto:
            raise NonRecoverableError(f"audit refused {call.operation}")
        result = yield
        self.seen.append((call.instance_id, call.operation, "done"))
        return result


def test_a_wrapper_plugin_sees_every_operation(calls: Calls) -> None:
    env = init_env(BLUEPRINTS / "app.yaml", inputs={"app_count": 1})
    audit = Audit()
    env.pm.register(audit)
    result = env.execute("install", task_retries=0)
    started = [s for s in audit.seen if s[2] != "done"]
    finished = [s for s in audit.seen if s[2] == "done"]
    assert len(started) == len(finished) == result["succeeded"]
    assert any(s[1] == "start" and s[2] == "test.ops.async_record" for s in started)
    env.close()


def test_a_wrapper_can_refuse_an_operation(calls: Calls) -> None:
    env = init_env(BLUEPRINTS / "app.yaml", inputs={"app_count": 1})
    env.pm.register(Audit(veto="configure"))
    with pytest.raises(WorkflowFailed, match="audit refused configure"):
        env.execute("install", task_retries=0)
    env.close()


def test_resources_render_inside_the_blueprint_folder_only(
    calls: Calls, write_blueprint: Write, tmp_path: Path
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "conf.txt").write_text(
        "deployment_id: {{ctx.deployment.id}}\ntest: {{hello}}\n"
        "port: {{ctx.node.properties.port}}\n"
    )
    (tmp_path.parent / "secret.txt").write_text("secret")
    path = write_blueprint(
        """
        node_types:
          t:
            properties:
              port: {default: 81}
        node_templates:
          web:
            type: t
            interfaces:
              lifecycle:
                create: test.ops.render
                start: test.ops.escape
        """
    )
    env = init_env(path, name="dep-1")
    with pytest.raises(WorkflowFailed, match="leaves the blueprint folder") as info:
        env.execute("install", task_retries=3, task_retry_interval=0)
    assert info.value.error_type == "NonRecoverableError"
    (web,) = env.storage.get_node_instances()
    assert web.runtime_properties["rendered"] == "deployment_id: dep-1\ntest: world\nport: 81\n"
    env.close()


def test_resume_skips_operations_that_succeeded(
    calls: Calls, write_blueprint: Write, tmp_path: Path
) -> None:
    flag = tmp_path / "fail-once"
    flag.write_text("x")
    path = write_blueprint(
        f"""
        node_templates:
          web:
            type: plugyard.nodes.Root
            interfaces:
              lifecycle:
                create: test.ops.record
                configure: {{implementation: test.ops.fail_if_exists, inputs: {{path: "{flag}"}}}}
                start: test.ops.record
        """
    )
    env = init_env(path, storage=tmp_path / "local.db")
    with pytest.raises(WorkflowFailed) as info:
        env.execute("install", task_retries=0)
    flag.unlink()
    result = env.resume(info.value.execution_id or "")
    assert result["status"] == "succeeded"
    assert result["skipped"] == 1
    assert [op for _, op, _ in calls] == ["create", "fail_if_exists", "fail_if_exists", "start"]
    assert env.storage.get_execution(result.id).status == "succeeded"
    env.close()


def test_storage_file_reopens_with_load_env(calls: Calls, tmp_path: Path) -> None:
    from plugyard.adapters.lifecycle.local import load_env

    env = init_env(BLUEPRINTS / "app.yaml", name="web", storage=tmp_path / "web.db")
    env.execute("install", task_retries=0)
    env.close()
    again = load_env("web", tmp_path / "web.db")
    assert {i.state for i in again.storage.get_node_instances()} == {"started"}
    assert again.outputs()["host_ip"] == "10.0.0.7"
    events = again.storage.get_events("web")
    assert events[0]["topic"] == "workflow.web.install.started"
    assert any(e["topic"].endswith(".log") for e in events)
    again.close()
