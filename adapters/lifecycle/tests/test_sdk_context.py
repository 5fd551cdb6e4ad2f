"""The author-facing surface: ctx, current_ctx, errors, MockContext and the mock_ctx fixture."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from plugyard.sdk import lifecycle
from plugyard.sdk.lifecycle import (
    NonRecoverableError,
    NotInContext,
    OperationRetry,
    RecoverableError,
    ctx,
    current_ctx,
    exception_to_error_cause,
    operation,
)
from plugyard.sdk.lifecycle.testing import MockContext, MockRelationshipSubject, mock_ctx

__all__ = ["mock_ctx"]  # the fixture, imported as users do in their conftest


@operation
def my_operation(**kwargs: Any) -> str:
    prop1 = ctx.node.properties["node_property_1"]
    ctx.logger.info("node_property_1=%s", prop1)
    ctx.instance.runtime_properties["seen"] = prop1
    return str(prop1)


def test_the_seed_documents_mock_example_runs() -> None:
    mock = MockContext(
        node_id="test_node_id", node_name="test_node_name", properties={"node_property_1": "v1"}
    )
    try:
        current_ctx.set(mock)
        assert my_operation() == "v1"
    finally:
        current_ctx.clear()
    assert mock.instance.runtime_properties["seen"] == "v1"
    assert mock.node.name == "test_node_name"
    assert mock.instance.id == "test_node_id"
    with pytest.raises(NotInContext):
        my_operation()


def test_operation_marker_keeps_the_function_and_records_resumable() -> None:
    @operation(resumable=True)
    def op() -> int:
        return 1

    assert op() == 1
    assert op.plugyard_operation == {"resumable": True}  # type: ignore[attr-defined]
    assert my_operation.plugyard_operation == {"resumable": False}  # type: ignore[attr-defined]


def test_ctx_is_per_thread_and_per_task() -> None:
    seen: dict[str, str] = {}

    def worker(name: str) -> None:
        with current_ctx.push(MockContext(node_id=name)):
            threading.Event().wait(0.01)
            seen[name] = ctx.instance.id

    threads = [threading.Thread(target=worker, args=(f"n{i}",)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert seen == {f"n{i}": f"n{i}" for i in range(5)}
    assert not current_ctx.is_set()

    async def task(name: str) -> str:
        current_ctx.set(MockContext(node_id=name))
        await asyncio.sleep(0.01)
        return ctx.instance.id

    async def both() -> list[str]:
        return list(await asyncio.gather(task("a"), task("b")))

    assert asyncio.run(both()) == ["a", "b"]


def test_push_restores_the_previous_context() -> None:
    outer, inner = MockContext(node_id="outer"), MockContext(node_id="inner")
    with current_ctx.push(outer):
        with current_ctx.push(inner, {"x": 1}):
            assert ctx.instance.id == "inner"
            assert current_ctx.get_parameters() == {"x": 1}
        assert current_ctx.get() is outer
    assert not current_ctx.is_set()


def test_node_properties_are_read_only_and_item_access_falls_back() -> None:
    mock = MockContext(node_id="n", properties={"a": 1}, runtime_properties={"b": 2})
    with pytest.raises(NonRecoverableError, match="read-only"):
        mock.node.properties["a"] = 2  # type: ignore[index]
    assert mock["a"] == 1
    assert mock["b"] == 2


def test_runtime_properties_track_changes_and_update_saves_them() -> None:
    mock = MockContext(node_id="n", runtime_properties={"keep": 1})
    props = mock.instance.runtime_properties
    assert not props.dirty
    props["x"] = 1
    del props["keep"]
    assert props.dirty
    assert props.changed_keys == {"x"}
    mock.instance.update()
    assert not props.dirty
    assert mock.mock_backend.instances["n"] == ({"x": 1}, 1)


def test_update_merges_a_concurrent_write_instead_of_losing_it() -> None:
    mock = MockContext(node_id="n", runtime_properties={"a": 0})
    mock.instance.runtime_properties["mine"] = "local"
    # Another writer saved since we read (version 0 -> 1).
    mock.mock_backend.save_runtime_properties("n", {"a": 0, "theirs": "remote"}, 0)
    mock.instance.update()
    data, version = mock.mock_backend.load_runtime_properties("n")
    assert data == {"a": 0, "theirs": "remote", "mine": "local"}
    assert version == 2


def test_update_calls_the_conflict_handler_with_local_and_latest() -> None:
    mock = MockContext(node_id="n", runtime_properties={"count": 1})
    mock.instance.runtime_properties["count"] = 2
    mock.mock_backend.save_runtime_properties("n", {"count": 5}, 0)
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def add(local: dict[str, Any], latest: dict[str, Any]) -> dict[str, Any]:
        calls.append((local, latest))
        return {"count": latest["count"] + 1}

    mock.instance.update(on_conflict=add)
    assert calls == [({"count": 2}, {"count": 5})]
    assert mock.mock_backend.load_runtime_properties("n")[0] == {"count": 6}


def test_refresh_refuses_to_drop_unsaved_changes() -> None:
    mock = MockContext(node_id="n")
    mock.instance.runtime_properties["x"] = 1
    with pytest.raises(NonRecoverableError, match="unsaved"):
        mock.instance.refresh()
    mock.instance.refresh(force=True)
    assert "x" not in mock.instance.runtime_properties


def test_operation_retry_is_returned_and_remembered() -> None:
    mock = MockContext(node_id="n", retry_number=2, max_retries=5, operation_name="start")
    retry = mock.operation.retry("waiting", retry_after=3)
    assert isinstance(retry, OperationRetry)
    assert isinstance(retry, RecoverableError)
    assert retry.retry_after == 3
    assert mock.operation.requested_retry is retry
    assert (mock.operation.retry_number, mock.operation.max_retries) == (2, 5)
    assert mock.operation.name == "start"


def test_errors_carry_causes_from_exception_to_error_cause() -> None:
    try:
        raise ConnectionRefusedError("port closed")
    except ConnectionRefusedError:
        _, exc, tb = sys.exc_info()
        cause = exception_to_error_cause(exc, tb)
    assert cause["type"] == "ConnectionRefusedError"
    assert cause["message"] == "port closed"
    assert "raise ConnectionRefusedError" in cause["traceback"]
    error = NonRecoverableError("Failed to start HTTP webserver", causes=[cause])
    assert error.causes == [cause]
    recoverable = RecoverableError("later", retry_after=5, causes=[cause])
    assert str(recoverable) == "later [retry_after=5]"


def test_relationship_context_exposes_source_and_target_only() -> None:
    mock = MockContext(
        source=MockRelationshipSubject("app_1", "app", properties={"p": 1}),
        target=MockRelationshipSubject("db_1", "db", runtime_properties={"ip": "10.0.0.1"}),
    )
    assert mock.type == lifecycle.RELATIONSHIP_INSTANCE
    assert mock.source.node.properties["p"] == 1
    assert mock.target.instance.runtime_properties["ip"] == "10.0.0.1"
    with pytest.raises(NonRecoverableError, match=r"ctx\.node"):
        _ = mock.node
    assert MockContext(node_id="n").type == lifecycle.NODE_INSTANCE
    assert MockContext().type == lifecycle.DEPLOYMENT


def test_plugin_info_is_a_string_with_details_and_a_workdir() -> None:
    mock = MockContext(node_id="n", plugin_name="webserver")
    assert mock.plugin == "webserver"
    assert mock.plugin.name == "webserver"
    assert mock.plugin.prefix == sys.prefix
    workdir = mock.plugin.workdir
    assert workdir is not None
    assert Path(workdir).is_dir()


def test_resources_from_dict_and_rendering_with_ctx(tmp_path: Path) -> None:
    mock = MockContext(
        node_id="n",
        deployment_id="dep1",
        resources={"conf.yaml": "deployment_id: {{ctx.deployment.id}}\ntest: {{hello}}\n"},
    )
    rendered = mock.get_resource_and_render("conf.yaml", {"hello": "world"})
    assert rendered == "deployment_id: dep1\ntest: world\n"
    path = mock.download_resource_and_render(
        "conf.yaml", str(tmp_path / "out.yaml"), {"hello": "x"}
    )
    assert Path(path).read_text() == "deployment_id: dep1\ntest: x\n"
    with pytest.raises(NonRecoverableError, match="reserved"):
        mock.get_resource_and_render("conf.yaml", {"ctx": 1})
    with pytest.raises(NonRecoverableError, match="not found"):
        mock.get_resource("missing.txt")


def test_rendering_is_sandboxed() -> None:
    mock = MockContext(node_id="n", resources={"evil": "{{ ctx.__class__.__mro__ }}"})
    with pytest.raises(NonRecoverableError, match="rendering"):
        mock.get_resource_and_render("evil")


def test_resource_paths_cannot_leave_the_folder(tmp_path: Path) -> None:
    (tmp_path / "bp").mkdir()
    (tmp_path / "bp" / "ok.txt").write_text("ok")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "bp" / "link").symlink_to(tmp_path / "secret.txt")
    mock = MockContext(node_id="n", resource_dir=tmp_path / "bp")
    assert mock.get_resource("ok.txt") == b"ok"
    for bad in ("../secret.txt", str(tmp_path / "secret.txt"), "link", "a/../../secret.txt"):
        with pytest.raises(NonRecoverableError, match=r"leaves|absolute"):
            mock.get_resource(bad)


@pytest.mark.parametrize("mock_ctx", [{"properties": {"port": 8080}}], indirect=True)
def test_mock_ctx_fixture_sets_the_current_context(mock_ctx: MockContext) -> None:
    assert ctx.node.properties["port"] == 8080
    assert current_ctx.get() is mock_ctx
