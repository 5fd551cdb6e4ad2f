"""The ``@operation`` marker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

__all__ = ["OPERATION_ATTR", "operation"]

OPERATION_ATTR = "plugyard_operation"

_F = TypeVar("_F", bound=Callable[..., Any])


@overload
def operation(func: _F, /) -> _F: ...


@overload
def operation(*, resumable: bool = False) -> Callable[[_F], _F]: ...


def operation(func: Any = None, /, *, resumable: bool = False) -> Any:
    """Mark a function as a lifecycle operation; the function itself is left unchanged.

    Workflows run any importable function, marked or not; the mark documents intent and
    carries ``resumable`` (the operation may be run again when an interrupted execution is
    resumed while it was in flight). Use it bare (``@operation``) or with options.
    """

    def mark(f: _F) -> _F:
        setattr(f, OPERATION_ATTR, {"resumable": resumable})
        return f

    if func is not None:
        return mark(func)
    return mark
