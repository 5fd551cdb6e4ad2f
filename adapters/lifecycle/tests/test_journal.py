"""The execution journal as the user guide describes it ("How an execution is recorded"):
an operation's start is stored before it runs, many instances share each commit, and the
contexts an execution makes are shared where they cannot differ."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from plugyard.adapters.lifecycle._storage import Batch
from plugyard.adapters.lifecycle.local import init_env

Calls = list[tuple[str, str, float]]
Write = Callable[..., Path]

BLUEPRINT = """
node_templates:
  one:
    type: plugyard.nodes.Root
    instances: {{deploy: {count}}}
    interfaces:
      lifecycle:
        create: test.ops.own_record
  two:
    type: plugyard.nodes.Root
    instances: {{deploy: {count}}}
    interfaces:
      lifecycle:
        create: test.ops.own_record
"""


def test_each_operation_finds_its_start_stored_and_commits_are_shared(
    calls: Calls, write_blueprint: Write, tmp_path: Path
) -> None:
    from lc_testplugin import ops

    env = init_env(write_blueprint(BLUEPRINT.format(count=150)), storage=tmp_path / "s.db")
    ops.STORES[:] = [env.storage]
    ops.NODES.clear()
    flushes: list[int] = []
    write_batch = env.storage.write_batch

    def counted(batch: Batch) -> None:
        flushes.append(len(batch.new_operations) + len(batch.operations))
        write_batch(batch)

    env.storage.write_batch = counted  # type: ignore[method-assign]
    result = env.execute("install", task_retries=0, task_thread_pool_size=2)
    assert result["succeeded"] == 300
    assert {state for _, state, _ in calls} == {"started"}
    assert len(calls) == 300
    stored = env.storage.get_operations(result.id)
    assert len(stored) == 300
    assert {row["state"] for row in stored} == {"succeeded"}
    # Group commit: instances that became ready together stored their starts together.
    assert max(flushes) == 300
    assert len(flushes) < 100
    events = env.storage.get_events(env.name, result.id)
    assert sum(e["topic"].endswith(".create.started") for e in events) == 300
    assert sum(e["topic"].endswith(".create.succeeded") for e in events) == 300
    # One node context per node and execution (their properties read no secrets).
    assert {
        node: len({ident for n, ident in ops.NODES if n == node}) for node in ("one", "two")
    } == {
        "one": 1,
        "two": 1,
    }
    env.close()
