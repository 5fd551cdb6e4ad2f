"""Typed hook callers derived from the hook specifications: ``host.hooks.NAME(...)``.

Each caller takes the specification's own parameters (``ParamSpec``) and returns what its
implementations return, with ``None`` and ``Awaitable`` taken off: a list for a collecting
hook, one value (or ``None``) for a ``firstresult`` hook. mypy checks the hook's name, every
argument and the result's use; no facade is written by hand per hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, Protocol, TypeVar, overload

from plugyard.sdk import PROJECT_NAME

from . import hookspecs

if TYPE_CHECKING:
    from ._dispatch import Dispatcher, Outcome
    from ._policy import HookPolicy

__all__ = [
    "FirstResultCaller",
    "HookCaller",
    "HookMethods",
    "HookRelay",
    "HostHooks",
    "typed_hook",
]

P = ParamSpec("P")
R = TypeVar("R")
_SPEC_ATTR = f"{PROJECT_NAME}_spec"


class CallsHooks(Protocol):
    """What a relay needs of the host: its string-named hook call."""

    def call_hook(
        self, name: str, /, policy: HookPolicy | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, Outcome]: ...


class _Bound:
    __slots__ = ("_host", "name")

    def __init__(self, host: CallsHooks, name: str) -> None:
        self._host = host
        self.name = name

    def outcome(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, Outcome]:
        """The call's :class:`~plugyard.host.Outcome`: every result and failure attributed
        to its plugin (the hook's policy applies)."""
        if args:
            raise TypeError(f"hook {self.name} takes keyword arguments only")
        return self._host.call_hook(self.name, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class HookCaller(_Bound, Generic[P, R]):
    """A collecting hook, bound to a host: ``await caller(**kwargs)`` is the list of its
    implementations' non-``None`` results, in call order."""

    __slots__ = ()

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> list[R]:
        outcome = await self.outcome(*args, **kwargs)
        return outcome.values


class FirstResultCaller(_Bound, Generic[P, R]):
    """A ``firstresult`` hook, bound to a host: ``await caller(**kwargs)`` is the first
    non-``None`` result, or ``None``."""

    __slots__ = ()

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R | None:
        outcome = await self.outcome(*args, **kwargs)
        first: R | None = outcome.first
        return first


_C = TypeVar("_C", bound=_Bound)


class _HookDef(Generic[_C]):
    """The class-level declaration of one typed hook on a :class:`HookRelay`."""

    __slots__ = ("firstresult", "name", "spec")

    def __init__(self, spec: Callable[..., Any], firstresult: bool) -> None:
        opts = getattr(spec, _SPEC_ATTR, None)
        name = getattr(spec, "__name__", repr(spec))
        if not isinstance(opts, dict):
            raise TypeError(f"typed_hook({name}): not a plugyard hook specification")
        if bool(opts.get("firstresult")) != firstresult:
            declared = "is" if opts.get("firstresult") else "is not"
            raise TypeError(
                f"typed_hook({name}): the specification {declared} firstresult; "
                f"pass firstresult={not firstresult}"
            )
        self.spec = spec
        self.name: str = name
        self.firstresult = firstresult

    @overload
    def __get__(self, relay: None, owner: type[Any]) -> _HookDef[_C]: ...
    @overload
    def __get__(self, relay: HookRelay, owner: type[Any]) -> _C: ...
    def __get__(self, relay: HookRelay | None, owner: type[Any]) -> _HookDef[_C] | _C:
        if relay is None:
            return self
        kind = FirstResultCaller if self.firstresult else HookCaller
        bound: Any = kind(relay._host, self.name)
        relay.__dict__[self.name] = bound
        return bound  # type: ignore[no-any-return]


@overload
def typed_hook(
    spec: Callable[P, None], *, firstresult: Literal[False] = ...
) -> _HookDef[HookCaller[P, None]]: ...
@overload
def typed_hook(
    spec: Callable[P, Awaitable[R] | None], *, firstresult: Literal[False] = ...
) -> _HookDef[HookCaller[P, R]]: ...
@overload
def typed_hook(
    spec: Callable[P, R | None], *, firstresult: Literal[False] = ...
) -> _HookDef[HookCaller[P, R]]: ...
@overload
def typed_hook(
    spec: Callable[P, R | None], *, firstresult: Literal[True]
) -> _HookDef[FirstResultCaller[P, R]]: ...
def typed_hook(spec: Callable[..., Any], *, firstresult: bool = False) -> _HookDef[Any]:
    """Declare a typed caller for hook specification ``spec`` on a :class:`HookRelay`.

    The caller's parameters are the specification's; its result is what the specification
    returns, without ``None`` or ``Awaitable``. ``firstresult`` must match the
    specification's (checked when the class is built)::

        class MyHooks(HookRelay):
            my_hook = typed_hook(my_specs.my_hook)

        names = await MyHooks(host).my_hook(host=host)   # list[...]
    """
    return _HookDef(spec, firstresult)


class HookRelay:
    """Typed callers for a set of hook specifications, bound to one host. Subclass it with
    :func:`typed_hook` declarations for an adapter's own hooks (the ones it adds in
    ``plugyard_addhooks``); ``host.hooks`` is the relay of plugyard's own."""

    def __init__(self, host: CallsHooks) -> None:
        self._host = host

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class HostHooks(HookRelay):
    """plugyard's own hooks (:mod:`plugyard.host.hookspecs`) as typed callers, under their
    call policies: ``await host.hooks.plugyard_commands(host=host)``."""

    plugyard_configure = typed_hook(hookspecs.plugyard_configure)
    plugyard_load_plugin = typed_hook(hookspecs.plugyard_load_plugin, firstresult=True)
    plugyard_startup = typed_hook(hookspecs.plugyard_startup)
    plugyard_started = typed_hook(hookspecs.plugyard_started)
    plugyard_shutdown = typed_hook(hookspecs.plugyard_shutdown)
    plugyard_event = typed_hook(hookspecs.plugyard_event)
    plugyard_unload = typed_hook(hookspecs.plugyard_unload)
    plugyard_commands = typed_hook(hookspecs.plugyard_commands)
    plugyard_routes = typed_hook(hookspecs.plugyard_routes)
    plugyard_cli = typed_hook(hookspecs.plugyard_cli)


class HookMethods:
    """The host's two ways to call a hook under its policy: by name, and typed."""

    _dispatcher: Dispatcher

    def call_hook(
        self, name: str, /, policy: HookPolicy | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, Outcome]:
        """Call hook ``name`` under its policy (see :class:`~plugyard.host.HookPolicy`) and
        return its attributed :class:`~plugyard.host.Outcome`; await it. Bad arguments raise
        ``TypeError`` at once, before any implementation runs."""
        return self._dispatcher.acall(name, kwargs, policy)

    @cached_property
    def hooks(self) -> HostHooks:
        """plugyard's hooks as typed callers (:class:`~plugyard.host.HostHooks`), under
        their policies: ``await host.hooks.plugyard_commands(host=host)``, checked by mypy."""
        return HostHooks(self)
