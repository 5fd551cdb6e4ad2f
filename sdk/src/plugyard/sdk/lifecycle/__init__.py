"""What a lifecycle-operations plugin author imports.

A plugin is a module of operation functions; a blueprint maps node lifecycle operations
(``create``, ``configure``, ``start``, ``stop``, ``delete``) to them, and workflows run them
with ``ctx`` set to the node instance they act on::

    from plugyard.sdk.lifecycle import ctx, operation

    @operation
    def start(**kwargs):
        port = ctx.node.properties["port"]
        ctx.instance.runtime_properties["url"] = f"http://127.0.0.1:{port}/"
        ctx.logger.info("started on %s", port)

Errors say what the workflow does next: :class:`RecoverableError` (and any other exception)
retries, :class:`NonRecoverableError` fails the workflow at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exports import lazy_exports
from ._context import (
    DEPLOYMENT,
    NODE_INSTANCE,
    RELATIONSHIP_INSTANCE,
    BlueprintContext,
    ContextBackend,
    DeploymentContext,
    ImmutableProperties,
    NodeContext,
    NodeInstanceContext,
    OperationContext,
    OperationInfo,
    PluginInfo,
    RelationshipSubject,
    RuntimeProperties,
)
from ._errors import (
    ErrorCause,
    NonRecoverableError,
    NotInContext,
    OperationRetry,
    RecoverableError,
    VersionConflict,
    WorkflowFailed,
    exception_to_error_cause,
)
from ._operation import OPERATION_ATTR, operation
from ._resources import render_template, resolve_resource
from ._state import CurrentContext, ctx, current_ctx

if TYPE_CHECKING:
    from .testing import MockContext, MockRelationshipSubject

__all__ = [
    "DEPLOYMENT",
    "NODE_INSTANCE",
    "OPERATION_ATTR",
    "RELATIONSHIP_INSTANCE",
    "BlueprintContext",
    "ContextBackend",
    "CurrentContext",
    "DeploymentContext",
    "ErrorCause",
    "ImmutableProperties",
    "MockContext",
    "MockRelationshipSubject",
    "NodeContext",
    "NodeInstanceContext",
    "NonRecoverableError",
    "NotInContext",
    "OperationContext",
    "OperationInfo",
    "OperationRetry",
    "PluginInfo",
    "RecoverableError",
    "RelationshipSubject",
    "RuntimeProperties",
    "VersionConflict",
    "WorkflowFailed",
    "ctx",
    "current_ctx",
    "exception_to_error_cause",
    "operation",
    "render_template",
    "resolve_resource",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {name: ".testing" for name in ("MockContext", "MockRelationshipSubject")},
    public=__all__,
)
