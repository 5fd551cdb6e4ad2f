"""The operation context: what ``ctx`` exposes to an operation while it runs."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from ._errors import NonRecoverableError, OperationRetry, VersionConflict
from ._resources import DEFAULT_MAX_TEMPLATE_SIZE, render_template

__all__ = [
    "DEPLOYMENT",
    "NODE_INSTANCE",
    "RELATIONSHIP_INSTANCE",
    "BlueprintContext",
    "ContextBackend",
    "DeploymentContext",
    "ImmutableProperties",
    "NodeContext",
    "NodeInstanceContext",
    "OperationContext",
    "OperationInfo",
    "PluginInfo",
    "RelationshipSubject",
    "RuntimeProperties",
]

DEPLOYMENT = "deployment"
NODE_INSTANCE = "node-instance"
RELATIONSHIP_INSTANCE = "relationship-instance"

OPERATIONS_LOGGER = "plugyard.lifecycle.ops"
MAX_CONFLICT_ROUNDS = 100

ConflictHandler = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class ContextBackend(Protocol):
    """What a context needs from whoever runs the operation (a workflow, or a mock)."""

    def load_runtime_properties(self, instance_id: str) -> tuple[dict[str, Any], int]:
        """The stored runtime properties of an instance and their version."""
        ...

    def save_runtime_properties(
        self, instance_id: str, properties: dict[str, Any], version: int
    ) -> int:
        """Store properties if still at ``version``; the new version, or VersionConflict."""
        ...

    def read_resource(self, path: str) -> bytes:
        """A resource's bytes (inside the blueprint folder only)."""
        ...

    def workdir(self, plugin_name: str) -> Path | None:
        """A folder unique to this deployment and plugin, or None outside a deployment."""
        ...


class ImmutableProperties(Mapping[str, Any]):
    """A node's properties: readable like a dict; changing them is a NonRecoverableError."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setitem__(self, key: str, value: Any) -> None:
        raise NonRecoverableError(
            f"cannot set node property {key!r}: node properties are read-only; "
            "use ctx.instance.runtime_properties"
        )

    def __delitem__(self, key: str) -> None:
        raise NonRecoverableError(f"cannot delete node property {key!r}: read-only")

    def __repr__(self) -> str:
        return f"ImmutableProperties({self._data!r})"


class RuntimeProperties(MutableMapping[str, Any]):
    """An instance's runtime properties: a dict that remembers which keys were changed.

    The record of changes lets a save that meets a newer stored version re-apply just those
    changes on top of it, so two operations writing one instance never lose each other's keys.
    """

    __slots__ = ("_changed", "_data", "_deleted")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})
        self._changed: set[str] = set()
        self._deleted: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changed.add(key)
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._deleted.add(key)
        self._changed.discard(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"RuntimeProperties({self._data!r})"

    @property
    def dirty(self) -> bool:
        """Whether anything was set or deleted since the last save."""
        return bool(self._changed or self._deleted)

    @property
    def changed_keys(self) -> frozenset[str]:
        """Keys set since the last save."""
        return frozenset(self._changed)

    def to_dict(self) -> dict[str, Any]:
        """A plain copy."""
        return dict(self._data)

    def merged_onto(self, latest: Mapping[str, Any]) -> dict[str, Any]:
        """``latest`` with this dict's unsaved changes applied (the default conflict rule)."""
        merged = dict(latest)
        for key in self._changed:
            merged[key] = self._data[key]
        for key in self._deleted:
            merged.pop(key, None)
        return merged

    def reset(self, data: Mapping[str, Any]) -> None:
        """Replace the contents with saved data and forget the changes."""
        self._data = dict(data)
        self._changed.clear()
        self._deleted.clear()


class NodeContext:
    """The node (template) an operation runs for: ``id``, ``name``, ``type``, ``properties``."""

    __slots__ = ("id", "number_of_instances", "properties", "type", "type_hierarchy")

    def __init__(
        self,
        node_id: str,
        properties: Mapping[str, Any] | None = None,
        node_type: str | None = None,
        type_hierarchy: list[str] | None = None,
        number_of_instances: int = 1,
    ) -> None:
        self.id = node_id
        self.properties = ImmutableProperties(properties)
        self.type = node_type
        self.type_hierarchy = list(type_hierarchy or ([node_type] if node_type else []))
        self.number_of_instances = number_of_instances

    @property
    def name(self) -> str:
        """The node's name in the blueprint (the same as ``id``)."""
        return self.id

    def __repr__(self) -> str:
        return f"<NodeContext {self.id!r} type={self.type!r}>"


class NodeInstanceContext:
    """One node instance: ``id``, ``runtime_properties`` and ``update()`` to save them now."""

    __slots__ = ("_backend", "_props", "_version", "id", "index", "relationships")

    def __init__(
        self,
        instance_id: str,
        backend: ContextBackend,
        runtime_properties: Mapping[str, Any] | None = None,
        version: int | None = None,
        *,
        index: int = 0,
        relationships: list[dict[str, Any]] | None = None,
    ) -> None:
        self.id = instance_id
        self._backend = backend
        self._props = RuntimeProperties(runtime_properties) if version is not None else None
        self._version = version if version is not None else 0
        self.index = index
        self.relationships = list(relationships or [])

    def _load(self) -> RuntimeProperties:
        if self._props is None:
            data, self._version = self._backend.load_runtime_properties(self.id)
            self._props = RuntimeProperties(data)
        return self._props

    @property
    def runtime_properties(self) -> RuntimeProperties:
        """Properties set at run time; saved after the operation, or now with ``update()``."""
        return self._load()

    @property
    def version(self) -> int:
        """The stored version these runtime properties were read at."""
        self._load()
        return self._version

    @property
    def dirty(self) -> bool:
        """Whether runtime properties have unsaved changes."""
        return self._props is not None and self._props.dirty

    def update(self, on_conflict: ConflictHandler | None = None) -> None:
        """Save runtime properties now; never overwrites a newer stored version blindly.

        If another writer saved first, ``on_conflict(local, latest)`` returns the properties
        to save (by default, this operation's changes applied on top of the latest ones),
        and the save is tried again against the latest version.
        """
        if on_conflict is None and (self._props is None or not self._props.dirty):
            return
        props = self._load()
        wanted = props.to_dict()
        for _ in range(MAX_CONFLICT_ROUNDS):
            try:
                self._version = self._backend.save_runtime_properties(
                    self.id, wanted, self._version
                )
            except VersionConflict:
                latest, self._version = self._backend.load_runtime_properties(self.id)
                if on_conflict is not None:
                    wanted = dict(on_conflict(props.to_dict(), dict(latest)))
                else:
                    wanted = props.merged_onto(latest)
                continue
            props.reset(wanted)
            return
        raise NonRecoverableError(
            f"node instance {self.id!r}: runtime properties kept changing during "
            f"{MAX_CONFLICT_ROUNDS} save attempts"
        )

    def refresh(self, force: bool = False) -> None:
        """Read runtime properties again; unsaved changes are an error unless ``force``."""
        if self.dirty and not force:
            raise NonRecoverableError(
                f"node instance {self.id!r}: refresh() would discard unsaved runtime "
                "properties; call update() first or pass force=True"
            )
        self._props = None
        self._load()

    def __repr__(self) -> str:
        return f"<NodeInstanceContext {self.id!r}>"


class RelationshipSubject:
    """One end of a relationship (``ctx.source`` or ``ctx.target``): its node and instance."""

    __slots__ = ("instance", "node")

    def __init__(self, node: NodeContext, instance: NodeInstanceContext) -> None:
        self.node = node
        self.instance = instance


class OperationInfo:
    """The running operation: ``name``, ``retry_number``, ``max_retries`` and ``retry()``."""

    __slots__ = ("_retry", "max_retries", "name", "relationship", "retry_number")

    def __init__(
        self,
        name: str,
        retry_number: int = 0,
        max_retries: int = 0,
        relationship: str | None = None,
    ) -> None:
        self.name = name
        self.retry_number = retry_number
        self.max_retries = max_retries
        self.relationship = relationship
        self._retry: OperationRetry | None = None

    def retry(self, message: str | None = None, retry_after: float | None = None) -> OperationRetry:
        """Ask to run this operation again after ``retry_after`` seconds (or the interval).

        Return its result from the operation (``return ctx.operation.retry(...)``); the retry
        happens even if the operation then returns normally, and counts against max_retries.
        """
        self._retry = OperationRetry(message or "operation requested a retry", retry_after)
        return self._retry

    @property
    def requested_retry(self) -> OperationRetry | None:
        """The retry the operation asked for, if any."""
        return self._retry


class PluginInfo(str):
    """The plugin that owns the operation; equal to its name, with details as attributes."""

    package_name: str | None
    package_version: str | None
    prefix: str
    _workdir: Callable[[], Path | None]

    def __new__(
        cls,
        name: str,
        package_name: str | None = None,
        package_version: str | None = None,
        workdir: Callable[[], Path | None] | None = None,
        prefix: str | None = None,
    ) -> PluginInfo:
        info = super().__new__(cls, name)
        info.package_name = package_name
        info.package_version = package_version
        info.prefix = prefix or sys.prefix
        info._workdir = workdir or (lambda: None)
        return info

    @property
    def name(self) -> str:
        """The plugin's name as declared in the blueprint's ``plugins``."""
        return str(self)

    @property
    def workdir(self) -> str | None:
        """A folder unique to this (deployment, plugin) pair, created on first use."""
        path = self._workdir()
        if path is None:
            return None
        path.mkdir(parents=True, exist_ok=True)
        return str(path)


class DeploymentContext:
    """The deployment the operation runs in (``id``)."""

    __slots__ = ("id",)

    def __init__(self, deployment_id: str | None) -> None:
        self.id = deployment_id


class BlueprintContext:
    """The blueprint the deployment was made from (``id``)."""

    __slots__ = ("id",)

    def __init__(self, blueprint_id: str | None) -> None:
        self.id = blueprint_id


class OperationContext:
    """Everything an operation can know and do; reach it as ``ctx``.

    ``ctx.type`` is ``'node-instance'`` for node operations (``ctx.node``, ``ctx.instance``),
    ``'relationship-instance'`` for relationship operations (``ctx.source``, ``ctx.target``),
    and ``'deployment'`` otherwise.
    """

    def __init__(
        self,
        *,
        backend: ContextBackend,
        operation: OperationInfo,
        deployment_id: str | None = None,
        blueprint_id: str | None = None,
        execution_id: str | None = None,
        workflow_id: str | None = None,
        node: NodeContext | None = None,
        instance: NodeInstanceContext | None = None,
        source: RelationshipSubject | None = None,
        target: RelationshipSubject | None = None,
        plugin: PluginInfo | None = None,
        task_name: str | None = None,
    ) -> None:
        self._backend = backend
        self.operation = operation
        self.deployment = DeploymentContext(deployment_id)
        self.blueprint = BlueprintContext(blueprint_id)
        self.execution_id = execution_id
        self.workflow_id = workflow_id
        self._node = node
        self._instance = instance
        self._source = source
        self._target = target
        self.plugin = plugin or PluginInfo("", workdir=lambda: None)
        self.task_name = task_name
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None

    @property
    def type(self) -> str:
        """``'node-instance'``, ``'relationship-instance'`` or ``'deployment'``."""
        if self._source is not None:
            return RELATIONSHIP_INSTANCE
        if self._instance is not None:
            return NODE_INSTANCE
        return DEPLOYMENT

    @property
    def node(self) -> NodeContext:
        """The node this operation runs for (node operations only)."""
        if self._node is None:
            raise NonRecoverableError(
                f"ctx.node is only available in node operations (this is a {self.type} "
                "context; relationship operations use ctx.source and ctx.target)"
            )
        return self._node

    @property
    def instance(self) -> NodeInstanceContext:
        """The node instance this operation runs for (node operations only)."""
        if self._instance is None:
            raise NonRecoverableError(
                f"ctx.instance is only available in node operations (this is a {self.type} context)"
            )
        return self._instance

    @property
    def source(self) -> RelationshipSubject:
        """The source end of the relationship (relationship operations only)."""
        if self._source is None:
            raise NonRecoverableError("ctx.source is only available in relationship operations")
        return self._source

    @property
    def target(self) -> RelationshipSubject:
        """The target end of the relationship (relationship operations only)."""
        if self._target is None:
            raise NonRecoverableError("ctx.target is only available in relationship operations")
        return self._target

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry the deployment, instance and operation."""
        if self._logger is None:
            name = f"{OPERATIONS_LOGGER}.{self.plugin.name or 'operation'}"
            self._logger = logging.LoggerAdapter(logging.getLogger(name), self.log_fields())
        return self._logger

    def log_fields(self) -> dict[str, Any]:
        """The identity every log record of this operation carries."""
        instance = self._instance or (self._source.instance if self._source else None)
        return {
            "deployment_id": self.deployment.id,
            "execution_id": self.execution_id,
            "workflow_id": self.workflow_id,
            "node_instance_id": instance.id if instance else None,
            "operation": self.operation.name,
            "plugin": self.plugin.name or None,
        }

    def instances(self) -> list[NodeInstanceContext]:
        """The instances this context may change (one, or both ends of a relationship)."""
        if self._source is not None and self._target is not None:
            return [self._source.instance, self._target.instance]
        return [self._instance] if self._instance is not None else []

    def save(self) -> None:
        """Save every touched instance's runtime properties (done after each operation)."""
        for instance in self.instances():
            instance.update()

    # -- resources ------------------------------------------------------------------------

    def get_resource(self, resource_path: str) -> bytes:
        """A file from the blueprint's folder, as bytes."""
        return self._backend.read_resource(resource_path)

    def get_resource_and_render(
        self, resource_path: str, template_variables: Mapping[str, Any] | None = None
    ) -> str:
        """A blueprint resource rendered as a Jinja2 template: sandboxed, bounded by
        :attr:`max_template_size`, with a read-only copy of this context's data as ``ctx``."""
        text = self.get_resource(resource_path).decode("utf-8")
        return render_template(
            text, self, template_variables, resource_path, max_size=self.max_template_size
        )

    @property
    def max_template_size(self) -> int:
        """Characters a rendered template may hold (the host's ``[lifecycle]
        max_template_size``; 16 MiB elsewhere)."""
        size = getattr(self._backend, "max_template_size", None)
        return size if isinstance(size, int) and size > 0 else DEFAULT_MAX_TEMPLATE_SIZE

    def download_resource(self, resource_path: str, target_path: str | None = None) -> str:
        """Copy a blueprint resource to ``target_path`` (or a temporary file); its path."""
        return self._write(self.get_resource(resource_path), resource_path, target_path)

    def download_resource_and_render(
        self,
        resource_path: str,
        target_path: str | None = None,
        template_variables: Mapping[str, Any] | None = None,
    ) -> str:
        """Render a blueprint resource and write it to ``target_path`` (or a temporary file)."""
        text = self.get_resource_and_render(resource_path, template_variables)
        return self._write(text.encode("utf-8"), resource_path, target_path)

    @staticmethod
    def _write(data: bytes, resource_path: str, target_path: str | None) -> str:
        if target_path is None:
            suffix = Path(resource_path).suffix
            fd, target_path = tempfile.mkstemp(suffix=suffix, prefix="plugyard-resource-")
            os.close(fd)
        target = Path(target_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        tmp.write_bytes(data)
        shutil.move(str(tmp), str(target))
        return str(target)

    def __getitem__(self, key: str) -> Any:
        """A node property, or failing that a runtime property, by name."""
        if key in self.node.properties:
            return self.node.properties[key]
        return self.instance.runtime_properties[key]

    def __repr__(self) -> str:
        where = self._instance.id if self._instance else self.deployment.id
        return f"<OperationContext {self.operation.name!r} on {where!r}>"
