"""Storage on SQLite and PostgreSQL: records, versioned runtime properties, batches."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugyard.adapters.lifecycle import NodeInstance, Storage
from plugyard.adapters.lifecycle.local import init_env, load_env
from plugyard.sdk.lifecycle import VersionConflict
from plugyard.sdk.testing import require_service

BLUEPRINTS = Path(__file__).parent / "blueprints"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of this test alone (dropped after)."""
    require_service("postgresql")
    import psycopg

    schema = f"lifecycle_test_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql://127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "sqlite":
        store = Storage(tmp_path / "s.db")
    else:
        store = Storage(request.getfixturevalue("postgres_url"))
    yield store
    store.close()


def _deploy(storage: Storage) -> None:
    storage.create_deployment(
        "d", "bp", "/bp.yaml", {"x": 1}, [NodeInstance("n_1", "n", "d", runtime_properties={})]
    )


def test_versioned_updates_refuse_a_stale_writer(storage: Storage) -> None:
    _deploy(storage)
    assert storage.save_runtime_properties("n_1", {"a": 1}, 0) == 1
    with pytest.raises(VersionConflict) as info:
        storage.save_runtime_properties("n_1", {"a": 2}, 0)
    assert (info.value.expected, info.value.actual) == (0, 1)
    assert storage.load_runtime_properties("n_1") == ({"a": 1}, 1)


def test_concurrent_writers_with_merge_lose_nothing(storage: Storage) -> None:
    from plugyard.sdk.lifecycle import NodeInstanceContext

    _deploy(storage)

    def writer(i: int) -> None:
        for j in range(10):
            instance = NodeInstanceContext("n_1", storage)
            instance.runtime_properties[f"w{i}_{j}"] = j
            instance.update()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    data, version = storage.load_runtime_properties("n_1")
    assert len(data) == 40
    assert version >= 40


def test_a_whole_deployment_on_the_storage(storage: Storage, calls: object) -> None:
    env = init_env(BLUEPRINTS / "app.yaml", name="pg", inputs={"app_count": 2}, storage=storage)
    result = env.execute("install", task_retries=0)
    env.close()
    again = load_env("pg", storage)
    assert {i.state for i in again.storage.get_node_instances("pg")} == {"started"}
    ops = storage.get_operations(result.id)
    assert len(ops) == result["succeeded"]
    assert {o["state"] for o in ops} == {"succeeded"}
    assert storage.get_execution(result.id).status == "succeeded"
    assert storage.list_deployments()[0]["inputs"] == {"port": 8080, "app_count": 2}
    assert any(e["topic"] == "workflow.pg.install.succeeded" for e in storage.get_events("pg"))
    storage.delete_deployment("pg")
    assert storage.get_node_instances("pg") == []
    again.close()


def test_unreachable_storage_is_a_clear_error() -> None:
    from plugyard.adapters.lifecycle import StorageError

    with pytest.raises(StorageError, match="cannot open storage"):
        Storage("postgresql://nobody:secret@127.0.0.1:1/none")


@pytest.mark.parametrize("parameters", ["positional", "named"])
def test_a_batch_stores_operations_states_and_events_as_written(
    storage: Storage, parameters: str
) -> None:
    from plugyard.adapters.lifecycle._storage import Batch, _BatchStatements

    if parameters == "named":
        # Drivers with named parameters go through SQLAlchemy text statements instead.
        dialect = storage.engine.dialect
        paramstyle = dialect.paramstyle
        dialect.paramstyle = "named"
        try:
            storage._statements = _BatchStatements(dialect)
        finally:
            dialect.paramstyle = paramstyle
    _deploy(storage)
    error = {"type": "E", "message": "m", "causes": []}
    storage.write_batch(
        Batch(
            new_operations=[
                ("x", "n_1:create", "n_1", "create", "started", 0, None, 1.0, None),
                ("x", "n_1:start", "n_1", "start", "failed", 1, error, 2.0, 3.0),
            ],
            states={"n_1": "created"},
            events=[("d", "x", 4.0, "t.one", '{"a": [1, "b"]}'), ("d", "x", 5.0, "t.two", "{}")],
        )
    )
    storage.write_batch(
        Batch(operations=[("x", "n_1:create", "n_1", "create", "succeeded", 0, None, 1.0, 6.0)])
    )
    ops = {o["key"]: o for o in storage.get_operations("x")}
    assert ops["n_1:create"] == {
        "execution_id": "x",
        "key": "n_1:create",
        "instance_id": "n_1",
        "name": "create",
        "state": "succeeded",
        "retry_number": 0,
        "error": None,
        "started_at": 1.0,
        "ended_at": 6.0,
    }
    assert (ops["n_1:start"]["error"], ops["n_1:start"]["retry_number"]) == (error, 1)
    assert storage.get_node_instance("n_1").state == "created"
    stored = [(e["topic"], e["time"], e["data"]) for e in storage.get_events("d", "x")]
    assert stored == [("t.one", 4.0, {"a": [1, "b"]}), ("t.two", 5.0, {})]
