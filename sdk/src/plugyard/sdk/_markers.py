"""The marker plugin authors put on hook implementations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar, overload

import pluggy

__all__ = ["ORDER_ATTR", "PROJECT_NAME", "HookimplMarker", "hookimpl"]

PROJECT_NAME = "plugyard"

ORDER_ATTR: Final = f"{PROJECT_NAME}_order"
"""The attribute on an implementation that holds its ``(before, after)`` plugin names."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _names(value: str | Iterable[str], option: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"hookimpl({option}=...) takes plugin names, got {name!r}")
    return names


class HookimplMarker:
    """pluggy's implementation marker, plus ``before`` and ``after``: plugin names this
    implementation runs ahead of, or behind, whatever their ``tryfirst``/``trylast``."""

    __slots__ = ("_pluggy",)

    def __init__(self, project_name: str) -> None:
        self._pluggy = pluggy.HookimplMarker(project_name)

    @overload
    def __call__(
        self,
        function: _F,
        hookwrapper: bool = ...,
        optionalhook: bool = ...,
        tryfirst: bool = ...,
        trylast: bool = ...,
        specname: str | None = ...,
        wrapper: bool = ...,
        *,
        before: str | Iterable[str] = ...,
        after: str | Iterable[str] = ...,
    ) -> _F: ...

    @overload
    def __call__(
        self,
        function: None = ...,
        hookwrapper: bool = ...,
        optionalhook: bool = ...,
        tryfirst: bool = ...,
        trylast: bool = ...,
        specname: str | None = ...,
        wrapper: bool = ...,
        *,
        before: str | Iterable[str] = ...,
        after: str | Iterable[str] = ...,
    ) -> Callable[[_F], _F]: ...

    def __call__(
        self,
        function: _F | None = None,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
        *,
        before: str | Iterable[str] = (),
        after: str | Iterable[str] = (),
    ) -> _F | Callable[[_F], _F]:
        """Mark ``function`` as a hook implementation (pluggy's options apply).

        ``before`` and ``after`` name plugins whose implementations of the same hook this one
        must run ahead of, or behind; the host orders every hook call by them (see
        ``plugyard hooks NAME``), and a cycle or an unknown name fails the plugin at load.
        """
        order = (_names(before, "before"), _names(after, "after"))
        mark = self._pluggy(
            hookwrapper=hookwrapper,
            optionalhook=optionalhook,
            tryfirst=tryfirst,
            trylast=trylast,
            specname=specname,
            wrapper=wrapper,
        )

        def marked(func: _F) -> _F:
            if order != ((), ()):
                setattr(func, ORDER_ATTR, order)
            return mark(func)

        return marked if function is None else marked(function)


hookimpl: Final = HookimplMarker(PROJECT_NAME)
"""Marks a function or method as an implementation of a plugyard hook.

Accepts pluggy's options (``tryfirst``, ``trylast``, ``wrapper``, ``hookwrapper``,
``optionalhook``, ``specname``) and plugyard's ``before=[...]`` / ``after=[...]``: the names
of plugins this implementation must run ahead of, or behind.
"""
