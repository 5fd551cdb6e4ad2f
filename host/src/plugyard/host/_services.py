"""Typed services: the one way an adapter keeps its state per host.

An adapter subclasses :class:`Service`, adds one instance to each host it configures, and
reaches it again with ``MyService.of(host)``: typed, so that a checker catches
``TaskService.of(host).sned(...)``, and per host, so that one adapter object serves many hosts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = ["Service", "ServiceError", "Services"]

_S = TypeVar("_S", bound="Service")


class ServiceError(LookupError):
    """A service was asked for on a host that has none of that kind."""


class _HasServices(Protocol):
    @property
    def services(self) -> Services: ...


class Service:
    """Base class of an adapter's per-host state.

    Example::

        class TaskService(Service):
            name = "tasks"

            def send(self, task: str, *args: Any) -> str: ...

        # in plugyard_configure:
        host.services.add(TaskService(...))
        # anywhere with a host:
        TaskService.of(host).send("fibonacci", 26)
    """

    name: ClassVar[str] = "service"
    """A short name for messages and ``plugyard status``."""
    legacy_attributes: ClassVar[Mapping[str, str]] = {}
    """Old ``host.NAME`` attributes this service answers, with a deprecation warning: maps
    the old name to an attribute of the service (``""`` for the service itself)."""

    @classmethod
    def of(cls: type[_S], host: _HasServices) -> _S:
        """This kind of service on ``host``; :class:`ServiceError` if its adapter did not add
        one (not installed, disabled, or not configured yet)."""
        return host.services.get(cls)

    @classmethod
    def find(cls: type[_S], host: _HasServices) -> _S | None:
        """This kind of service on ``host``, or ``None``."""
        return host.services.find(cls)


class Services:
    """The services of one host, one per class."""

    __slots__ = ("_by_type",)

    def __init__(self) -> None:
        self._by_type: dict[type[Service], Service] = {}

    def add(self, service: Service) -> None:
        """Add a service; a second one of the same class is a ``ValueError``."""
        kind = type(service)
        if kind in self._by_type:
            raise ValueError(f"this host already has a {kind.__qualname__}")
        self._by_type[kind] = service

    def get(self, kind: type[_S]) -> _S:
        """The service of class ``kind`` (or a subclass of it)."""
        found = self.find(kind)
        if found is None:
            have = ", ".join(sorted(t.__qualname__ for t in self._by_type)) or "none"
            raise ServiceError(
                f"this host has no {kind.__qualname__} (services: {have}); is the adapter "
                f"that provides it installed, enabled and configured?"
            )
        return found

    def find(self, kind: type[_S]) -> _S | None:
        """The service of class ``kind`` (or a subclass of it), or ``None``."""
        found = self._by_type.get(kind)
        if found is None:
            for service in self._by_type.values():
                if isinstance(service, kind):
                    found = service
                    break
        return found if isinstance(found, kind) else None

    def legacy(self, attribute: str) -> tuple[Service, Any] | None:
        """The service answering the old ``host.<attribute>``, and the value, if any."""
        for service in self._by_type.values():
            path = service.legacy_attributes.get(attribute)
            if path is not None:
                return service, getattr(service, path) if path else service
        return None

    def clear(self) -> None:
        """Forget every service (a failed load is rolled back this way)."""
        self._by_type.clear()

    def __iter__(self) -> Iterator[Service]:
        return iter(list(self._by_type.values()))

    def __len__(self) -> int:
        return len(self._by_type)
