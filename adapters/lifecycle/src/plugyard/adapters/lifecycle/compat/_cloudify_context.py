"""Cloudify's ``CloudifyContext`` surface over plugyard's operation context.

cloudify-common plugins read ``from cloudify import ctx``; the object behind it here is a
:class:`CloudifyOperationContext`, a thin view of the running operation's
:class:`~plugyard.sdk.lifecycle.OperationContext`: same node, instance, runtime properties
and storage, with Cloudify's names, Cloudify's exception classes and Cloudify's extras
(``host_ip``, ``tenant_name``, ``provider_context``, ``send_event``...).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cloudify import exceptions as cfy_exceptions  # type: ignore[import-untyped]

from plugyard.sdk.lifecycle import (
    NODE_INSTANCE,
    RELATIONSHIP_INSTANCE,
    NodeContext,
    NodeInstanceContext,
    OperationContext,
    RelationshipSubject,
    RuntimeProperties,
)

__all__ = ["CloudifyOperationContext"]


def _not_here(what: str, kind: str) -> Exception:
    error: Exception = cfy_exceptions.NonRecoverableError(
        f"ctx.{what} is only available in {kind} operations"
    )
    return error


class _Properties(dict[str, Any]):
    """A node's properties: a ``dict``, as in Cloudify; changing it raises Cloudify's
    NonRecoverableError."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise cfy_exceptions.NonRecoverableError(
            "cannot change node properties: they are read-only "
            "(use ctx.instance.runtime_properties)"
        )

    __setitem__ = _refuse
    __delitem__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse
    __ior__ = _refuse


class _RuntimeProperties(dict[str, Any]):
    """An instance's runtime properties as a ``dict`` (so ``json.dumps`` and ``dict``
    methods work, as in Cloudify), writing every change through to plugyard's record of
    changes, which is what gets saved."""

    def __init__(self, inner: RuntimeProperties) -> None:
        super().__init__(inner.to_dict())
        self._inner = inner

    def sync(self) -> None:
        """Read the saved properties again (after ``update()`` or ``refresh()``)."""
        super().clear()
        super().update(self._inner.to_dict())

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._inner[key] = value

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        del self._inner[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> _RuntimeProperties:  # type: ignore[override,misc]
        self.update(other)
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(self))
        return key, self.pop(key)

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    @property
    def dirty(self) -> bool:
        """Whether anything changed since the last save."""
        return self._inner.dirty


class _Node:
    """``ctx.node``: the node template."""

    __slots__ = ("_node",)

    def __init__(self, node: NodeContext) -> None:
        self._node = node

    @property
    def id(self) -> str:
        """The node's name in the blueprint."""
        return self._node.id

    @property
    def name(self) -> str:
        """The node's name in the blueprint (the same as ``id``)."""
        return self._node.id

    @property
    def properties(self) -> _Properties:
        """The node's properties, read-only."""
        return _Properties(self._node.properties)

    @property
    def type(self) -> str | None:
        """The node's type name."""
        return self._node.type

    @property
    def type_hierarchy(self) -> list[str]:
        """The node's type and its ancestors, root first."""
        return list(self._node.type_hierarchy)

    @property
    def number_of_instances(self) -> int:
        """How many instances the node has."""
        return self._node.number_of_instances


class _Instance:
    """``ctx.instance``: the node instance, its runtime properties and relationships."""

    __slots__ = ("_ctx", "_instance", "_node")

    def __init__(
        self, instance: NodeInstanceContext, node: NodeContext, ctx: CloudifyOperationContext
    ) -> None:
        self._instance = instance
        self._node = node
        self._ctx = ctx

    @property
    def id(self) -> str:
        """The node instance id."""
        return self._instance.id

    @property
    def runtime_properties(self) -> _RuntimeProperties:
        """Properties set at run time; saved after the operation, or with ``update()``."""
        return self._ctx.runtime_view(self._instance)

    @property
    def index(self) -> int:
        """The instance's index among its node's instances."""
        return self._instance.index

    @property
    def dirty(self) -> bool:
        """Whether runtime properties have unsaved changes."""
        return self._instance.dirty

    @property
    def scaling_groups(self) -> list[dict[str, Any]]:
        """Scaling groups the instance belongs to (none in a local deployment)."""
        return []

    @property
    def drift(self) -> None:
        """Configuration drift (not tracked locally)."""
        return None

    def update(
        self,
        on_conflict: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        """Save runtime properties now (see Cloudify's ``NodeInstanceContext.update``)."""
        self._instance.update(on_conflict)
        self.runtime_properties.sync()

    def refresh(self, force: bool = False) -> None:
        """Read runtime properties again; unsaved changes are an error unless ``force``."""
        if self._instance.dirty and not force:
            raise cfy_exceptions.NonRecoverableError(
                f"node instance {self.id!r}: cannot refresh with unsaved runtime properties "
                "(call update() first or pass force=True)"
            )
        self._instance.refresh(force=True)
        self.runtime_properties.sync()

    @property
    def host_ip(self) -> str | None:
        """The ``ip`` of the compute host this instance is contained in (or its own)."""
        return self._ctx.host_ip_of(self._instance.id)

    @property
    def relationships(self) -> list[_Relationship]:
        """The instance's relationships, each with ``type``, ``target.node`` and
        ``target.instance``."""
        return [self._ctx.relationship(rel) for rel in self._instance.relationships]

    def __repr__(self) -> str:
        return f"<cloudify NodeInstanceContext {self.id!r}>"


class _Subject:
    """``ctx.source`` / ``ctx.target``: one end of a relationship."""

    __slots__ = ("instance", "node")

    def __init__(self, subject: RelationshipSubject, ctx: CloudifyOperationContext) -> None:
        self.node = _Node(subject.node)
        self.instance = _Instance(subject.instance, subject.node, ctx)


class _Relationship:
    """One entry of ``ctx.instance.relationships``."""

    __slots__ = ("target", "type", "type_hierarchy")

    def __init__(self, rel_type: str, hierarchy: list[str], target: _Subject) -> None:
        self.type = rel_type
        self.type_hierarchy = hierarchy
        self.target = target


class _Operation:
    """``ctx.operation``: name, retry number and ``retry()``."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: OperationContext) -> None:
        self._ctx = ctx

    @property
    def name(self) -> str:
        """The full operation name, e.g. ``cloudify.interfaces.lifecycle.start``."""
        short = self._ctx.operation.name
        if self._ctx.type == RELATIONSHIP_INSTANCE:
            return f"cloudify.interfaces.relationship_lifecycle.{short}"
        if "." in short:
            return short
        return f"cloudify.interfaces.lifecycle.{short}"

    @property
    def retry_number(self) -> int:
        """0 on the first attempt, then 1, 2, ..."""
        return self._ctx.operation.retry_number

    @property
    def max_retries(self) -> int:
        """How many retries the operation gets (-1: no limit)."""
        return self._ctx.operation.max_retries

    @property
    def relationship(self) -> str | None:
        """The relationship type for relationship operations."""
        return self._ctx.operation.relationship

    def retry(self, message: str | None = None, retry_after: float | None = None) -> Any:
        """Ask for the operation to run again; returns Cloudify's ``OperationRetry``."""
        self._ctx.operation.retry(message, retry_after)
        return cfy_exceptions.OperationRetry(message=message or "", retry_after=retry_after)


class _Deployment:
    """``ctx.deployment``."""

    __slots__ = ("id",)

    def __init__(self, deployment_id: str | None) -> None:
        self.id = deployment_id

    @property
    def tenant_name(self) -> None:
        """The tenant: none outside a Cloudify manager."""
        return None

    @property
    def display_name(self) -> str | None:
        """The deployment's display name (its id)."""
        return self.id

    @property
    def creator(self) -> None:
        """Who created the deployment (nobody, locally)."""
        return None

    @property
    def resource_tags(self) -> dict[str, Any]:
        """Resource tags (none locally)."""
        return {}


class _Blueprint:
    """``ctx.blueprint``."""

    __slots__ = ("id",)

    def __init__(self, blueprint_id: str | None) -> None:
        self.id = blueprint_id


class _Plugin(str):
    """``ctx.plugin``: a ``str`` equal to the plugin name, with Cloudify's attributes."""

    _info: Any

    def __new__(cls, info: Any) -> _Plugin:
        plugin = super().__new__(cls, str(info))
        plugin._info = info
        return plugin

    @property
    def name(self) -> str:
        """The plugin's name in the blueprint."""
        return str(self)

    @property
    def package_name(self) -> str | None:
        """The plugin's ``package_name``."""
        value: str | None = self._info.package_name
        return value

    @property
    def package_version(self) -> str | None:
        """The plugin's ``package_version``."""
        value: str | None = self._info.package_version
        return value

    @property
    def source(self) -> None:
        """Where the plugin was installed from (not tracked)."""
        return None

    @property
    def properties(self) -> dict[str, Any]:
        """The plugin's properties (none)."""
        return {}

    @property
    def prefix(self) -> str:
        """The prefix the plugin runs in (``sys.prefix`` locally)."""
        value: str = self._info.prefix
        return value

    @property
    def workdir(self) -> str | None:
        """A folder unique to this deployment and plugin, created on first use."""
        value: str | None = self._info.workdir
        return value


class _BootstrapContext:
    """``ctx.bootstrap_context``: empty locally, as in Cloudify's local workflows."""

    __slots__ = ()

    cloudify_agent: dict[str, Any] = {}
    resources_prefix = ""
    broker_config: dict[str, Any] = {}


class CloudifyOperationContext:
    """The operation context as ``cloudify.context.CloudifyContext`` presents it.

    Built around plugyard's :class:`OperationContext` of the running operation;
    ``plugyard`` is that context, for code that wants it.
    """

    def __init__(
        self,
        inner: OperationContext,
        *,
        host_ip_of: Callable[[str], str | None] | None = None,
        relationship_of: Callable[[dict[str, Any]], tuple[list[str], RelationshipSubject]]
        | None = None,
        parameters: Mapping[str, Any] | None = None,
        resumed: bool = False,
    ) -> None:
        self.plugyard = inner
        self._resumed = resumed
        self._host_ip_of = host_ip_of
        self._relationship_of = relationship_of
        self._parameters = dict(parameters or {})
        self._task_id = uuid.uuid4().hex
        self._runtime_views: dict[str, _RuntimeProperties] = {}

    # -- what it runs for -------------------------------------------------------------------

    @property
    def type(self) -> str:
        """``'deployment'``, ``'node-instance'`` or ``'relationship-instance'``."""
        return self.plugyard.type

    @property
    def node(self) -> _Node:
        """The node (node operations only)."""
        if self.plugyard.type != NODE_INSTANCE:
            raise _not_here("node", "node")
        return _Node(self.plugyard.node)

    @property
    def instance(self) -> _Instance:
        """The node instance (node operations only)."""
        if self.plugyard.type != NODE_INSTANCE:
            raise _not_here("instance", "node")
        return _Instance(self.plugyard.instance, self.plugyard.node, self)

    @property
    def source(self) -> _Subject:
        """The relationship's source (relationship operations only)."""
        if self.plugyard.type != RELATIONSHIP_INSTANCE:
            raise _not_here("source", "relationship")
        return _Subject(self.plugyard.source, self)

    @property
    def target(self) -> _Subject:
        """The relationship's target (relationship operations only)."""
        if self.plugyard.type != RELATIONSHIP_INSTANCE:
            raise _not_here("target", "relationship")
        return _Subject(self.plugyard.target, self)

    @property
    def operation(self) -> _Operation:
        """The running operation."""
        return _Operation(self.plugyard)

    @property
    def deployment(self) -> _Deployment:
        """The deployment (``id``, ``tenant_name``...)."""
        return _Deployment(self.plugyard.deployment.id)

    @property
    def blueprint(self) -> _Blueprint:
        """The blueprint (``id``)."""
        return _Blueprint(self.plugyard.blueprint.id)

    @property
    def plugin(self) -> _Plugin:
        """The plugin that owns the operation."""
        return _Plugin(self.plugyard.plugin)

    # -- the environment --------------------------------------------------------------------

    @property
    def execution_id(self) -> str | None:
        """The running execution's id."""
        return self.plugyard.execution_id

    @property
    def workflow_id(self) -> str | None:
        """The running workflow's name (``install``, ``uninstall``...)."""
        return self.plugyard.workflow_id

    @property
    def task_id(self) -> str:
        """A unique id of this operation call."""
        return self._task_id

    @property
    def task_name(self) -> str | None:
        """The operation's mapping, ``plugin.module.function``."""
        return self.plugyard.task_name

    @property
    def task_target(self) -> None:
        """The agent queue the task was sent to (none locally)."""
        return None

    @property
    def task_queue(self) -> None:
        """The agent queue the task was sent to (none locally)."""
        return None

    @property
    def tenant_name(self) -> None:
        """The tenant: none outside a Cloudify manager, as in Cloudify's local workflows."""
        return None

    @property
    def tenant(self) -> dict[str, Any]:
        """The tenant as a mapping (empty outside a manager)."""
        return {}

    @property
    def local(self) -> bool:
        """Whether the operation runs outside a Cloudify manager (always, here)."""
        return True

    @property
    def resume(self) -> bool:
        """Whether this call belongs to a resumed execution."""
        return self._resumed

    @property
    def timeout(self) -> float | None:
        """The operation's timeout in seconds, if any."""
        value: float | None = getattr(self.plugyard, "timeout", None)
        return value

    @property
    def timeout_recoverable(self) -> bool:
        """Whether running past the timeout is retried."""
        return bool(getattr(self.plugyard, "timeout_recoverable", False))

    @property
    def execution_env(self) -> dict[str, str]:
        """Extra environment variables for the operation (none)."""
        return {}

    @property
    def provider_context(self) -> dict[str, Any]:
        """The provider context (empty locally)."""
        return {}

    @property
    def bootstrap_context(self) -> _BootstrapContext:
        """The bootstrap context (empty locally)."""
        return _BootstrapContext()

    @property
    def capabilities(self) -> dict[str, Any]:
        """Capabilities of the instances this one is contained in (none locally)."""
        return {}

    @property
    def logger(self) -> Any:
        """The operation's logger; its records become the execution's log events."""
        return self.plugyard.logger

    def send_event(self, event: str) -> None:
        """Send a user event; it is recorded with the execution like a log message."""
        self.plugyard.logger.info("%s", event, extra={"cloudify_event": True})

    # -- resources --------------------------------------------------------------------------

    def get_resource(self, resource_path: str) -> bytes:
        """A file from the blueprint's folder, as bytes."""
        return self.plugyard.get_resource(resource_path)

    def get_resource_and_render(
        self, resource_path: str, template_variables: Mapping[str, Any] | None = None
    ) -> bytes:
        """A blueprint resource rendered as a Jinja2 template with ``ctx`` injected.

        As in Cloudify, a resource without template markers comes back as it is, and a
        rendered one loses its final newline (Jinja2's default); rendering is sandboxed.
        """
        from plugyard.sdk.lifecycle import render_template

        if template_variables and "ctx" in template_variables:
            raise cfy_exceptions.NonRecoverableError(
                "Key not allowed - a key named ctx is in template_variables"
            )
        data = self.get_resource(resource_path)
        if not any(marker in data for marker in (b"{{", b"{#", b"{%")):
            return data
        text = render_template(
            data.decode("utf-8"),
            self,
            template_variables,
            resource_path,
            max_size=self.plugyard.max_template_size,
        )
        return text.removesuffix("\n").encode("utf-8")

    def download_resource(self, resource_path: str, target_path: str | None = None) -> str:
        """Copy a blueprint resource to ``target_path`` (or a temporary file); its path."""
        return self.plugyard.download_resource(resource_path, target_path)

    def download_resource_and_render(
        self,
        resource_path: str,
        target_path: str | None = None,
        template_variables: Mapping[str, Any] | None = None,
    ) -> str:
        """Render a blueprint resource and write it to ``target_path`` (or a temp file)."""
        data = self.get_resource_and_render(resource_path, template_variables)
        return OperationContext._write(data, resource_path, target_path)

    # -- helpers for the views --------------------------------------------------------------

    def runtime_view(self, instance: NodeInstanceContext) -> _RuntimeProperties:
        """The one ``dict`` view of an instance's runtime properties in this operation."""
        view = self._runtime_views.get(instance.id)
        if view is None or view._inner is not instance.runtime_properties:
            view = _RuntimeProperties(instance.runtime_properties)
            self._runtime_views[instance.id] = view
        return view

    def host_ip_of(self, instance_id: str) -> str | None:
        """The host ip of an instance, found through the deployment's storage."""
        return self._host_ip_of(instance_id) if self._host_ip_of else None

    def relationship(self, rel: dict[str, Any]) -> _Relationship:
        """A relationship record as Cloudify's ``RelationshipContext``."""
        if self._relationship_of is None:
            raise cfy_exceptions.NonRecoverableError("relationships are not available here")
        hierarchy, subject = self._relationship_of(rel)
        return _Relationship(str(rel["type"]), hierarchy, _Subject(subject, self))

    def __getitem__(self, key: str) -> Any:
        """A node property, or failing that a runtime property."""
        node = self.node
        if key in node.properties:
            return node.properties[key]
        return self.instance.runtime_properties[key]

    def __repr__(self) -> str:
        return f"<CloudifyOperationContext for {self.plugyard!r}>"
