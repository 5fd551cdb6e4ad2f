"""Running one operation the way cloudify-common expects: ``cloudify.state.current_ctx`` set
around the call, Cloudify's exceptions given their Cloudify meaning."""

from __future__ import annotations

import contextlib
import functools
import sys
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from cloudify import exceptions as cfy_exceptions  # type: ignore[import-untyped]
from cloudify import state as cfy_state

from plugyard.sdk.lifecycle import (
    NodeContext,
    NodeInstanceContext,
    NonRecoverableError,
    OperationRetry,
    RecoverableError,
    RelationshipSubject,
)

from ._cloudify_context import CloudifyOperationContext

if TYPE_CHECKING:
    from .._runner import OperationCall
    from .._workflow_context import WorkflowContext

__all__ = ["is_cloudify_function", "operation_scope", "translate_error", "workflow_scope"]

_CLOUDIFY_PACKAGES = ("cloudify", "script_runner", "proxy_tools")


def _from_cloudify(value: Any) -> bool:
    if isinstance(value, types.ModuleType):
        name = value.__name__
    else:
        name = getattr(type(value), "__module__", "") or ""
        if name in ("builtins", "abc", "typing"):
            name = getattr(value, "__module__", "") or ""
    return name.split(".", 1)[0] in _CLOUDIFY_PACKAGES


@functools.lru_cache(maxsize=4096)
def is_cloudify_function(func: Callable[..., Any]) -> bool:
    """Whether ``func`` was written against cloudify-common.

    True when its module imports anything from ``cloudify`` (the ``ctx`` proxy, the
    decorators, the exceptions), or when ``cloudify.decorators.operation`` marked it.
    Such a function is given the Cloudify-shaped context as its ``ctx`` argument.
    """
    target = getattr(func, "__wrapped__", func)
    module = sys.modules.get(getattr(target, "__module__", "") or "")
    names = vars(module).values() if module is not None else ()
    if any(_from_cloudify(value) for value in names):
        return True
    namespace = getattr(target, "__globals__", None) or {}
    return any(_from_cloudify(value) for value in namespace.values())


def translate_error(error: BaseException) -> BaseException:
    """plugyard's exception with the same meaning as a Cloudify one; others unchanged.

    ``NonRecoverableError`` (and ``HttpException``) fail the operation at once,
    ``OperationRetry`` and ``RecoverableError`` retry after ``retry_after``; the message,
    the ``causes`` and the traceback are kept.
    """
    translated: Exception
    if isinstance(error, cfy_exceptions.NonRecoverableError):
        translated = NonRecoverableError(*error.args, causes=list(error.causes or []))
    elif isinstance(error, cfy_exceptions.RecoverableError):
        kind = (
            OperationRetry if isinstance(error, cfy_exceptions.OperationRetry) else RecoverableError
        )
        translated = kind(causes=list(error.causes or []))
        translated.args = error.args
        translated.message = str(error)
        translated.retry_after = error.retry_after
    else:
        return error
    return translated.with_traceback(error.__traceback__)


class _Lookups:
    """What the Cloudify view reads from the deployment beyond plugyard's context."""

    def __init__(self, call: OperationCall) -> None:
        backend = call.ctx._backend
        self.storage = getattr(backend, "storage", None)
        self.blueprint = getattr(backend, "blueprint", None)
        self.backend = backend

    def host_ip(self, instance_id: str) -> str | None:
        if self.storage is None or self.blueprint is None:
            return None
        instance = self.storage.get_node_instance(instance_id)
        while instance.host_id:
            instance = self.storage.get_node_instance(instance.host_id)
        node = self.blueprint.nodes[instance.node_id]
        if not any(t.endswith("nodes.Compute") for t in node.type_hierarchy):
            return None
        ip = instance.runtime_properties.get("ip") or node.properties.get("ip")
        return str(ip) if ip else None

    def relationship(self, rel: dict[str, Any]) -> tuple[list[str], RelationshipSubject]:
        if self.storage is None or self.blueprint is None:
            raise cfy_exceptions.NonRecoverableError("relationships are not available here")
        target = self.storage.get_node_instance(rel["target_instance_id"])
        node = self.blueprint.nodes[target.node_id]
        read = getattr(self.backend, "node_properties", None)
        properties = read(node.id) if read is not None else node.properties
        subject = RelationshipSubject(
            NodeContext(node.id, properties, node.type, list(node.type_hierarchy), node.deploy),
            NodeInstanceContext(
                target.id, self.backend, index=target.index, relationships=target.relationships
            ),
        )
        hierarchy = [str(rel["type"])]
        for spec_node in self.blueprint.nodes.values():
            for spec in spec_node.relationships:
                if spec.type == rel["type"]:
                    hierarchy = [_full_relationship_name(n) for n in reversed(spec.type_hierarchy)]
                    break
        return hierarchy, subject


def _full_relationship_name(name: str) -> str:
    if "." in name:
        return name
    return f"cloudify.relationships.{name}"


@contextlib.contextmanager
def operation_scope(call: OperationCall) -> Iterator[Any]:
    """Set Cloudify's current context for the call; yield the ``ctx`` argument to pass.

    A function written against cloudify-common gets the Cloudify-shaped context; any other
    keeps plugyard's own. Cloudify exceptions leaving the call are translated.
    """
    lookups = _Lookups(call)
    view = CloudifyOperationContext(
        call.ctx,
        host_ip_of=lookups.host_ip,
        relationship_of=lookups.relationship,
        parameters=call.kwargs,
        resumed=call.resumed,
    )
    argument = view if is_cloudify_function(call.function) else call.ctx
    with cfy_state.current_ctx.push(view, call.kwargs):
        try:
            yield argument
        except Exception as error:
            translated = translate_error(error)
            if translated is error:
                raise
            raise translated from None


@contextlib.contextmanager
def workflow_scope(wctx: WorkflowContext, parameters: dict[str, Any]) -> Iterator[Any]:
    """Set Cloudify's current workflow context for a workflow function; yield ``ctx``."""
    with cfy_state.current_workflow_ctx.push(wctx, {**parameters, "ctx": wctx}):
        try:
            yield wctx
        except Exception as error:
            translated = translate_error(error)
            if translated is error:
                raise
            raise translated from None
