"""The current operation context: ``current_ctx`` (one per thread and task) and ``ctx``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from ._errors import NotInContext

if TYPE_CHECKING:
    from ._context import OperationContext

__all__ = ["CurrentContext", "ctx", "current_ctx"]

_current: ContextVar[tuple[OperationContext, dict[str, Any]] | None] = ContextVar(
    "plugyard_lifecycle_ctx", default=None
)


class CurrentContext:
    """Where ``ctx`` looks for the running operation's context.

    Backed by a :class:`contextvars.ContextVar`, so each thread and each asyncio task sees its
    own. Workflows set it around every operation; tests set it by hand::

        current_ctx.set(MockContext(node_id="web"))
        try:
            my_plugin.my_operation()
        finally:
            current_ctx.clear()
    """

    __slots__ = ()

    def set(self, ctx: OperationContext, parameters: dict[str, Any] | None = None) -> None:
        """Make ``ctx`` the current context (and ``parameters`` the operation's inputs)."""
        _current.set((ctx, dict(parameters or {})))

    def get(self) -> OperationContext:
        """The current context; :class:`NotInContext` when none is set."""
        value = _current.get()
        if value is None:
            raise NotInContext(
                "no lifecycle operation context is set: ctx is only usable inside an "
                "operation run by a workflow, or after current_ctx.set(MockContext(...))"
            )
        return value[0]

    get_ctx = get

    def get_parameters(self) -> dict[str, Any]:
        """The current operation's inputs."""
        value = _current.get()
        if value is None:
            raise NotInContext("no lifecycle operation context is set")
        return value[1]

    def is_set(self) -> bool:
        """Whether a context is set."""
        return _current.get() is not None

    def clear(self) -> None:
        """Forget the current context."""
        _current.set(None)

    @contextlib.contextmanager
    def push(
        self, ctx: OperationContext, parameters: dict[str, Any] | None = None
    ) -> Iterator[OperationContext]:
        """Set ``ctx`` for the ``with`` block, then restore whatever was current before."""
        token = _current.set((ctx, dict(parameters or {})))
        try:
            yield ctx
        finally:
            _current.reset(token)


current_ctx = CurrentContext()


class _ContextProxy:
    """Forwards every attribute to the current context."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(current_ctx.get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(current_ctx.get(), name, value)

    def __getitem__(self, key: str) -> Any:
        return current_ctx.get()[key]

    def __repr__(self) -> str:
        if not current_ctx.is_set():
            return "<ctx: not in an operation>"
        return repr(current_ctx.get())


ctx = cast("OperationContext", _ContextProxy())
"""The running operation's context (a proxy to ``current_ctx.get()``)."""
