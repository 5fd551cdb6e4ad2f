"""Running one operation away from the engine (a child process, a Celery worker): what the
engine sends (a plain-data request), what comes back (a plain-data outcome), and the code
on the far side that rebuilds ``ctx`` around a backend and calls the function."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plugyard.sdk.lifecycle import (
    ContextBackend,
    ErrorCause,
    NodeContext,
    NodeInstanceContext,
    NonRecoverableError,
    OperationContext,
    OperationInfo,
    OperationRetry,
    PluginInfo,
    RecoverableError,
    RelationshipSubject,
    exception_to_error_cause,
)

from ._runner import OperationCall, is_async

__all__ = [
    "OPERATIONS_LOGGER",
    "OperationInterrupted",
    "RemoteOperationError",
    "describe_call",
    "error_from_outcome",
    "run_request",
]

OPERATIONS_LOGGER = "plugyard.lifecycle.ops"
"""The logger ``ctx.logger`` writes to; its records become ``operation....log`` events."""

LogSink = Callable[[dict[str, Any]], None]


class RemoteOperationError(Exception):
    """An exception raised by an operation in another process, by its type name and message
    (the class itself may not exist here); retried like any recoverable error."""

    remote_type = "Exception"


class OperationInterrupted(Exception):
    """The process running an operation died and the operation is not resumable, so it was
    not run again: the execution waits for ``resume``."""


def _subject(node: NodeContext, instance: NodeInstanceContext) -> dict[str, Any]:
    return {
        "node": {
            "id": node.id,
            "properties": dict(node.properties),
            "type": node.type,
            "type_hierarchy": list(node.type_hierarchy),
            "number_of_instances": node.number_of_instances,
        },
        "instance": {
            "id": instance.id,
            "index": instance.index,
            "relationships": list(instance.relationships),
        },
    }


def describe_call(call: OperationCall) -> dict[str, Any]:
    """The plain data another process needs to run ``call`` (no live objects)."""
    ctx = call.ctx
    func = call.function
    request: dict[str, Any] = {
        "function": {"module": func.__module__, "qualname": func.__qualname__},
        "sys_path": list(sys.path),
        "deployment_id": call.deployment_id,
        "execution_id": call.execution_id,
        "workflow_id": call.workflow_id,
        "instance_id": call.instance_id,
        "operation": call.operation,
        "implementation": call.implementation,
        "plugin": call.plugin,
        "retry_number": call.retry_number,
        "resumed": call.resumed,
        "kwargs": call.kwargs,
        "blueprint_id": ctx.blueprint.id,
        "task_name": ctx.task_name,
        "info": {
            "name": ctx.operation.name,
            "retry_number": ctx.operation.retry_number,
            "max_retries": ctx.operation.max_retries,
            "relationship": ctx.operation.relationship,
        },
        "plugin_info": {
            "name": str(ctx.plugin),
            "package_name": ctx.plugin.package_name,
            "package_version": ctx.plugin.package_version,
            "workdir": ctx.plugin._workdir() and str(ctx.plugin._workdir()),
        },
    }
    if ctx.type == "relationship-instance":
        request["source"] = _subject(ctx.source.node, ctx.source.instance)
        request["target"] = _subject(ctx.target.node, ctx.target.instance)
    elif ctx.type == "node-instance":
        request["self"] = _subject(ctx.node, ctx.instance)
    return request


def _load_function(spec: dict[str, str], sys_path: list[str]) -> Callable[..., Any]:
    for entry in reversed(sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    qualname = spec["qualname"]
    if "<locals>" in qualname:
        raise NonRecoverableError(
            f"{spec['module']}.{qualname} is defined inside a function; an operation that runs "
            "in another process must be importable from its module"
        )
    value: Any = importlib.import_module(spec["module"])
    for part in qualname.split("."):
        value = getattr(value, part)
    if not callable(value):
        raise NonRecoverableError(f"{spec['module']}.{spec['qualname']} is not callable")
    return value  # type: ignore[no-any-return]


def _rebuild_subject(data: dict[str, Any], backend: ContextBackend) -> RelationshipSubject:
    node, instance = data["node"], data["instance"]
    return RelationshipSubject(
        NodeContext(
            node["id"],
            node["properties"],
            node["type"],
            node["type_hierarchy"],
            node["number_of_instances"],
        ),
        NodeInstanceContext(
            instance["id"],
            backend,
            index=instance["index"],
            relationships=instance["relationships"],
        ),
    )


def _rebuild_call(request: dict[str, Any], backend: ContextBackend) -> OperationCall:
    info = request["info"]
    plugin = request["plugin_info"]
    workdir = Path(plugin["workdir"]) if plugin["workdir"] else None
    common: dict[str, Any] = {
        "backend": backend,
        "operation": OperationInfo(
            info["name"], info["retry_number"], info["max_retries"], info["relationship"]
        ),
        "deployment_id": request["deployment_id"],
        "blueprint_id": request["blueprint_id"],
        "execution_id": request["execution_id"],
        "workflow_id": request["workflow_id"],
        "plugin": PluginInfo(
            plugin["name"],
            plugin["package_name"],
            plugin["package_version"],
            workdir=lambda: workdir,
            prefix=sys.prefix,
        ),
        "task_name": request["task_name"],
    }
    if "source" in request:
        ctx = OperationContext(
            source=_rebuild_subject(request["source"], backend),
            target=_rebuild_subject(request["target"], backend),
            **common,
        )
    elif "self" in request:
        me = _rebuild_subject(request["self"], backend)
        ctx = OperationContext(node=me.node, instance=me.instance, **common)
    else:
        ctx = OperationContext(**common)
    return OperationCall(
        deployment_id=request["deployment_id"],
        execution_id=request["execution_id"],
        workflow_id=request["workflow_id"],
        instance_id=request["instance_id"],
        operation=request["operation"],
        implementation=request["implementation"],
        plugin=request["plugin"],
        retry_number=request["retry_number"],
        ctx=ctx,
        kwargs=request["kwargs"],
        function=_load_function(request["function"], request["sys_path"]),
        resumed=request["resumed"],
    )


class _SinkHandler(logging.Handler):
    """Hands each ``ctx.logger`` record, as plain data, to the engine's side."""

    FIELDS = ("deployment_id", "execution_id", "workflow_id", "node_instance_id", "operation")

    def __init__(self, sink: LogSink, execution_id: str, operation: str) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.execution_id = execution_id
        self.operation = operation

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = {name: getattr(record, name, None) for name in self.FIELDS}
            if (data["execution_id"], data["operation"]) != (self.execution_id, self.operation):
                return  # another operation running in this process at the same time
            data.update(name=record.name, levelno=record.levelno, message=record.getMessage())
            self.sink(data)
        except Exception:
            self.handleError(record)


def relog(data: dict[str, Any]) -> None:
    """Log a record sent by :func:`run_request` again on the engine's side, so that it
    becomes an event of the execution that ran the operation."""
    fields = {name: data.get(name) for name in _SinkHandler.FIELDS}
    logging.getLogger(str(data["name"])).log(
        int(data["levelno"]), "%s", data["message"], extra=fields
    )


def _outcome_of_error(error: BaseException) -> dict[str, Any]:
    if isinstance(error, NonRecoverableError):
        kind = "nonrecoverable"
    elif isinstance(error, OperationRetry):
        kind = "retry"
    elif isinstance(error, RecoverableError):
        kind = "recoverable"
    else:
        kind = "other"
    causes: list[ErrorCause] = [
        exception_to_error_cause(error, error.__traceback__),
        *list(getattr(error, "causes", None) or []),
    ]
    message = getattr(error, "message", None) if kind in ("recoverable", "retry") else None
    if message and getattr(error, "retry_after", None) is not None:
        message = str(message).rsplit(" [retry_after=", 1)[0]
    return {
        "status": "error",
        "kind": kind,
        "type": type(error).__name__,
        "message": str(message) if message else str(error),
        "retry_after": getattr(error, "retry_after", None),
        "causes": causes,
    }


def run_request(
    request: dict[str, Any],
    backend: ContextBackend,
    sink: LogSink,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run one described operation here with ``backend`` behind ``ctx``; its outcome as
    plain data: ``{"status": "succeeded" | "error", ...}`` with the pid and host that ran it.
    ``on_start`` is called once the function is imported, just before it runs."""
    ops = logging.getLogger(OPERATIONS_LOGGER)
    handler = _SinkHandler(sink, request["execution_id"], request["info"]["name"])
    ops.addHandler(handler)
    if ops.level == logging.NOTSET:
        ops.setLevel(logging.INFO)
    where = {"pid": os.getpid(), "hostname": socket.gethostname()}
    try:
        call = _rebuild_call(request, backend)
        if on_start is not None:
            on_start()
        if is_async(call.function):
            asyncio.run(_run_async(call))
        else:
            call.run()
    except Exception as error:
        return {**_outcome_of_error(error), **where}
    finally:
        ops.removeHandler(handler)
    retry = call.ctx.operation.requested_retry
    if retry is not None:
        return {**_outcome_of_error(retry), **where}
    return {"status": "succeeded", **where}


async def _run_async(call: OperationCall) -> None:
    try:
        await call.arun()
    finally:
        call.ctx.save()


def error_from_outcome(outcome: dict[str, Any]) -> BaseException | None:
    """The exception an outcome stands for (``None`` for success), with its causes."""
    if outcome.get("status") == "succeeded":
        return None
    if outcome.get("status") == "interrupted":
        return OperationInterrupted(str(outcome.get("message", "")))
    kind, message = outcome.get("kind"), str(outcome.get("message", ""))
    causes: list[ErrorCause] = list(outcome.get("causes") or [])
    error: BaseException
    if kind == "nonrecoverable":
        error = NonRecoverableError(message, causes=causes[1:])
    elif kind in ("recoverable", "retry"):
        cls = OperationRetry if kind == "retry" else RecoverableError
        error = cls(message, causes=causes[1:])
        error.retry_after = outcome.get("retry_after")
    else:
        name = str(outcome.get("type") or "Exception")
        cls_other = type(name, (RemoteOperationError,), {"remote_type": name})
        error = cls_other(message)
    error._plugyard_causes = causes  # type: ignore[attr-defined]
    return error
