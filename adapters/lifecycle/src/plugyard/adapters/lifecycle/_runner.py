"""Calling one operation function: ``ctx`` set, inputs as keyword arguments, runtime
properties saved afterwards, and the ``plugyard_lifecycle_operation`` wrappers around it."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from plugyard.sdk import hookimpl
from plugyard.sdk.lifecycle import OPERATION_ATTR, OperationContext, current_ctx

from . import hookspecs
from .compat import operation_scope
from .compat import resumable as compat_resumable

__all__ = ["OperationCall", "Runner", "ensure_runner", "has_wrappers", "is_resumable"]

RUNNER_NAME = "plugyard.lifecycle.runner"


@functools.lru_cache(maxsize=4096)
def _takes_ctx(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "ctx" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


@functools.lru_cache(maxsize=4096)
def is_async(func: Callable[..., Any]) -> bool:
    """Whether the operation is ``async def`` (run on the loop rather than in a thread)."""
    return inspect.iscoroutinefunction(func)


@functools.lru_cache(maxsize=4096)
def is_resumable(func: Callable[..., Any]) -> bool:
    """Whether the operation may run again when an execution interrupted while it ran is
    resumed (``@operation(resumable=True)``, or Cloudify's own marker)."""
    mark = getattr(func, OPERATION_ATTR, None)
    if isinstance(mark, dict) and mark.get("resumable"):
        return True
    return compat_resumable(func)


@dataclass(slots=True)
class OperationCall:
    """One call of an operation, as the ``plugyard_lifecycle_operation`` hook sees it."""

    deployment_id: str
    execution_id: str
    workflow_id: str
    instance_id: str
    operation: str
    implementation: str
    plugin: str
    retry_number: int
    ctx: OperationContext
    kwargs: dict[str, Any]
    function: Callable[..., Any] = field(repr=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    resumed: bool = False
    """Whether the call belongs to a resumed execution."""
    abandoned: bool = False
    """Set when the workflow stopped waiting (a timeout): runtime properties are then not
    saved when the function returns."""

    def run(self) -> Any:
        """Call the function with ``ctx`` current; save runtime properties after it."""
        kwargs = dict(self.kwargs)
        with operation_scope(self) as ctx_argument, current_ctx.push(self.ctx, self.kwargs):
            if _takes_ctx(self.function):
                kwargs.setdefault("ctx", ctx_argument)
            try:
                result = self.function(**kwargs)
                if inspect.isawaitable(result):
                    if self.loop is None:
                        raise RuntimeError("an async operation needs the workflow's loop")
                    result = asyncio.run_coroutine_threadsafe(_await(result), self.loop).result()
                return result
            finally:
                if not self.abandoned:
                    self.ctx.save()

    async def arun(self) -> Any:
        """Run an ``async def`` operation on the current loop."""
        kwargs = dict(self.kwargs)
        if _takes_ctx(self.function):
            kwargs.setdefault("ctx", self.ctx)
        with current_ctx.push(self.ctx, self.kwargs):
            return await self.function(**kwargs)


async def _await(awaitable: Any) -> Any:
    return await awaitable


class Runner:
    """The innermost ``plugyard_lifecycle_operation`` implementation: run the operation."""

    @hookimpl(trylast=True)
    def plugyard_lifecycle_operation(self, call: OperationCall) -> Any:
        return call.run()


def ensure_runner(pm: pluggy.PluginManager) -> None:
    """Give ``pm`` the lifecycle hook spec and the runner, once."""
    if not hasattr(pm.hook, "plugyard_lifecycle_operation") or (
        pm.hook.plugyard_lifecycle_operation.spec is None
    ):
        pm.add_hookspecs(hookspecs)
    if pm.get_plugin(RUNNER_NAME) is None:
        pm.register(Runner(), name=RUNNER_NAME)


def has_wrappers(pm: pluggy.PluginManager | None) -> bool:
    """Whether any plugin wraps operations (else the hook call is skipped entirely)."""
    if pm is None:
        return False
    caller = getattr(pm.hook, "plugyard_lifecycle_operation", None)
    if caller is None:
        return False
    return any(impl.plugin_name != RUNNER_NAME for impl in caller.get_hookimpls())
