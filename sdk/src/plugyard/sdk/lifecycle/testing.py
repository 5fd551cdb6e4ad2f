"""Testing helpers for lifecycle plugins: ``MockContext`` and the ``mock_ctx`` fixture.

``workflow_test`` runs real workflows, so it is in :mod:`plugyard.adapters.lifecycle.testing`
(the SDK never imports the adapter).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ._context import (
    NodeContext,
    NodeInstanceContext,
    OperationContext,
    OperationInfo,
    PluginInfo,
    RelationshipSubject,
)
from ._errors import NonRecoverableError, VersionConflict
from ._resources import resolve_resource
from ._state import current_ctx

__all__ = ["MockContext", "MockRelationshipSubject", "mock_ctx"]


class _MemoryBackend:
    """Runtime properties in a dict; resources from a dict or a folder."""

    def __init__(
        self,
        resources: Mapping[str, bytes | str] | None = None,
        resource_dir: str | Path | None = None,
    ) -> None:
        self.instances: dict[str, tuple[dict[str, Any], int]] = {}
        self.resources = dict(resources or {})
        self.resource_dir = Path(resource_dir) if resource_dir is not None else None
        self._workdir: Path | None = None

    def load_runtime_properties(self, instance_id: str) -> tuple[dict[str, Any], int]:
        data, version = self.instances.get(instance_id, ({}, 0))
        return dict(data), version

    def save_runtime_properties(
        self, instance_id: str, properties: dict[str, Any], version: int
    ) -> int:
        _, current = self.instances.get(instance_id, ({}, 0))
        if current != version:
            raise VersionConflict(instance_id, version, current)
        self.instances[instance_id] = (dict(properties), current + 1)
        return current + 1

    def read_resource(self, path: str) -> bytes:
        if path in self.resources:
            value = self.resources[path]
            return value.encode("utf-8") if isinstance(value, str) else value
        if self.resource_dir is not None:
            return resolve_resource(self.resource_dir, path).read_bytes()
        raise NonRecoverableError(f"resource {path!r} not found in the mock's resources")

    def workdir(self, plugin_name: str) -> Path | None:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="plugyard-mock-workdir-"))
        return self._workdir / (plugin_name or "plugin")


class MockRelationshipSubject(RelationshipSubject):
    """One end of a relationship for a :class:`MockContext` (``source=`` or ``target=``)."""

    def __init__(
        self,
        node_id: str = "node",
        node_name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        runtime_properties: Mapping[str, Any] | None = None,
        node_type: str | None = None,
    ) -> None:
        backend = _MemoryBackend()
        backend.instances[node_id] = (dict(runtime_properties or {}), 0)
        super().__init__(
            NodeContext(node_name or node_id, properties, node_type),
            NodeInstanceContext(node_id, backend, runtime_properties, 0),
        )


class MockContext(OperationContext):
    """A context for calling an operation directly in a unit test.

    Use it with ``current_ctx`` exactly as a workflow would::

        mock = MockContext(node_id="test_node_id", node_name="test_node_name",
                           properties={"node_property_1": "value_1"})
        try:
            current_ctx.set(mock)
            my_plugin.my_operation()
        finally:
            current_ctx.clear()

    ``update()`` saves into memory with the same version checks as a workflow, resources come
    from ``resources`` (a path-to-content dict) or ``resource_dir``, and passing ``source``
    and ``target`` (:class:`MockRelationshipSubject`) makes a relationship context.
    """

    def __init__(
        self,
        node_id: str | None = None,
        node_name: str | None = None,
        node_type: str | None = None,
        blueprint_id: str | None = None,
        deployment_id: str | None = None,
        execution_id: str | None = None,
        workflow_id: str | None = None,
        properties: Mapping[str, Any] | None = None,
        runtime_properties: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        retry_number: int = 0,
        max_retries: int = 0,
        resources: Mapping[str, bytes | str] | None = None,
        resource_dir: str | Path | None = None,
        source: RelationshipSubject | None = None,
        target: RelationshipSubject | None = None,
        plugin_name: str | None = None,
        index: int = 0,
    ) -> None:
        backend = _MemoryBackend(resources, resource_dir)
        plugin = plugin_name or ""
        node = instance = None
        if source is None and (node_id is not None or node_name is not None or properties):
            instance_id = node_id or node_name or "node"
            backend.instances[instance_id] = (dict(runtime_properties or {}), 0)
            node = NodeContext(node_name or instance_id, properties, node_type)
            instance = NodeInstanceContext(instance_id, backend, runtime_properties, 0, index=index)
        self.mock_backend = backend
        super().__init__(
            backend=backend,
            operation=OperationInfo(operation_name or "mock", retry_number, max_retries),
            deployment_id=deployment_id,
            blueprint_id=blueprint_id,
            execution_id=execution_id,
            workflow_id=workflow_id,
            node=node,
            instance=instance,
            source=source,
            target=target,
            plugin=PluginInfo(plugin, workdir=lambda: backend.workdir(plugin)),
        )


def _fixture(func: Callable[..., Any]) -> Any:
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is not installed
        return func
    return pytest.fixture(func)


@_fixture
def mock_ctx(request: Any) -> Iterator[MockContext]:
    """A :class:`MockContext` set as the current context for the test, cleared after.

    Arguments come from indirect parametrization:
    ``@pytest.mark.parametrize("mock_ctx", [{"properties": {"port": 8000}}], indirect=True)``.
    """
    options = dict(getattr(request, "param", None) or {})
    mock = MockContext(**{"node_id": "node", **options})
    with current_ctx.push(mock):
        yield mock


def __getattr__(name: str) -> Any:
    if name == "workflow_test":
        raise AttributeError(
            "workflow_test runs real workflows, so it lives with the adapter (the SDK never "
            "imports it): from plugyard.adapters.lifecycle.testing import workflow_test"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
