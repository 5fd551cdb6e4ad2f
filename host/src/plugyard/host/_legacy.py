"""Names the host answered before typed services and plain method names; each still works
for one release, with a ``DeprecationWarning`` that names its replacement."""

from __future__ import annotations

import warnings
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._commands import CommandPlane
    from ._dispatch import Dispatcher, Outcome
    from ._policy import HookPolicy
    from ._services import Services

__all__ = ["DeprecatedNames"]


class DeprecatedNames:
    """``host.acall``, ``host.call``, ``host.extend`` and the adapters' ``host.NAME``
    attributes (``host.tasks``, ``host.pod`` ...), kept for one release."""

    _dispatcher: Dispatcher
    _extensions: dict[str, Any]
    commands: CommandPlane
    services: Services

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        extensions: dict[str, Any] = self.__dict__.get("_extensions", {})
        if name in extensions:
            return extensions[name]
        services: Services | None = self.__dict__.get("services")
        found = services.legacy(name) if services is not None else None
        if found is None:
            raise AttributeError(
                f"Host has no attribute {name!r}; adapters keep their state in typed "
                "services: MyService.of(host)"
            )
        service, value = found
        warnings.warn(
            f"host.{name} is deprecated; use {type(service).__qualname__}.of(host)"
            + (f".{service.legacy_attributes[name]}" if service.legacy_attributes[name] else ""),
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    def extend(self, name: str, value: Any) -> None:
        """Attach ``value`` as ``host.NAME`` (deprecated: keep state in a typed
        :class:`~plugyard.host.Service` instead)."""
        warnings.warn(
            "host.extend() is deprecated; add a plugyard.host.Service with host.services.add()",
            DeprecationWarning,
            stacklevel=2,
        )
        if name in self._extensions or hasattr(type(self), name) or name in self.__dict__:
            raise ValueError(f"host.{name} is already taken")
        self._extensions[name] = value

    def acall(
        self, name: str, /, policy: HookPolicy | None = None, **kwargs: Any
    ) -> Coroutine[Any, Any, Outcome]:
        """Deprecated name of :meth:`call_hook`."""
        warnings.warn("host.acall() is now host.call_hook()", DeprecationWarning, stacklevel=2)
        return self._dispatcher.acall(name, kwargs, policy)

    async def call(self, name: str, /, **props: Any) -> dict[str, Any]:
        """Deprecated name of :meth:`run_command`."""
        warnings.warn("host.call() is now host.run_command()", DeprecationWarning, stacklevel=2)
        return await self.commands.call(name, props)
