"""Compatibility with the originals of the lifecycle model, active only where installed.

With cloudify-common installed (``pip install cloudify-common``), operations written
against it run unchanged: ``from cloudify import ctx`` reads the running operation's
context and Cloudify's exceptions keep their meaning. The layer switches on once something
has imported ``cloudify`` (a plugin module does, when its blueprint is read), so that
deployments of plugyard's own plugins never pay for importing it; without cloudify-common
nothing here is imported.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._runner import OperationCall
    from .._workflow_context import WorkflowContext

__all__ = [
    "cloudify_in_use",
    "cloudify_installed",
    "operation_scope",
    "resumable",
    "workflow_scope",
]


@functools.cache
def cloudify_installed() -> bool:
    """Whether cloudify-common (the ``cloudify`` package with ``cloudify.state``) is there."""
    try:
        return importlib.util.find_spec("cloudify.state") is not None
    except (ImportError, ValueError):
        return False


def cloudify_in_use() -> bool:
    """Whether cloudify-common has been imported (by a plugin, the script runner...)."""
    return sys.modules.get("cloudify.state") is not None


def operation_scope(call: OperationCall) -> contextlib.AbstractContextManager[Any]:
    """The context an operation call runs in; yields the ``ctx`` argument to pass.

    Plain plugyard unless cloudify-common is in use; see
    :func:`._cloudify_operation.operation_scope` otherwise.
    """
    if not cloudify_in_use():
        return contextlib.nullcontext(call.ctx)
    from ._cloudify_operation import operation_scope as cloudify_scope

    return cloudify_scope(call)


def workflow_scope(
    wctx: WorkflowContext, parameters: dict[str, Any]
) -> contextlib.AbstractContextManager[Any]:
    """The context a workflow function runs in; yields the ``ctx`` argument to pass.

    With cloudify-common, ``from cloudify.workflows import ctx`` reads ``wctx`` too and
    Cloudify's exceptions are translated.
    """
    if not cloudify_in_use():
        return contextlib.nullcontext(wctx)
    from ._cloudify_operation import workflow_scope as cloudify_scope

    return cloudify_scope(wctx, parameters)


def resumable(func: Any) -> bool:
    """Whether an original's marker says ``func`` may run again on resume
    (``cloudify.decorators.operation(resumable=True)``)."""
    return cloudify_in_use() and getattr(func, "resumable", False) is True
