"""Event types: the names an application declares, their payload types and overflow policies."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from plugyard.sdk import did_you_mean

__all__ = [
    "EventType",
    "OverflowPolicy",
    "PayloadError",
    "QueueFullError",
    "UnknownEventError",
    "unknown_event",
]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
RESERVED_FIELDS = frozenset({"logger"})


class OverflowPolicy(StrEnum):
    """What happens to an event when a plugin's queue is full.

    ``block``: emitters that can wait (``service.event_types.put``, ``service.emit_and_wait``) wait
    for room; plain ``service.emit``, which never waits, raises :class:`QueueFullError` and delivers
    the event nowhere. ``drop_oldest``: the oldest queued event makes room. ``drop_new``: the new
    event is not queued for that plugin. Every drop is counted in ``host.stats[plugin]`` and
    reported as an ``events.<name>.dropped`` host event.
    """

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    DROP_NEW = "drop_new"


class UnknownEventError(LookupError):
    """An event name that the application has not declared."""


class PayloadError(TypeError):
    """A payload that does not match its event type; the message names the field."""


class QueueFullError(RuntimeError):
    """A plugin's queue is full under the ``block`` policy and the emitter cannot wait."""


def unknown_event(name: str, known: Iterable[str]) -> UnknownEventError:
    """The error for emitting or subscribing to an undeclared event."""
    names = sorted(known)
    hint = did_you_mean(name, names)
    listed = ", ".join(names) or "none"
    return UnknownEventError(
        f"event {name!r} is not declared (declared: {listed}){hint}; declare it with "
        f"AsyncioService.of(host).event_types.declare({name!r}, PayloadType) or "
        f"[asyncio.events.{name}]"
    )


def _fields_of(payload: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """The payload type's field names in order, and those without a default."""
    from pydantic import BaseModel

    if isinstance(payload, type) and issubclass(payload, BaseModel):
        fields = payload.model_fields
        return tuple(fields), frozenset(n for n, f in fields.items() if f.is_required())
    if dataclasses.is_dataclass(payload) and isinstance(payload, type):
        found = dataclasses.fields(payload)
        required = frozenset(
            f.name
            for f in found
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        return tuple(f.name for f in found if f.init), required
    raise TypeError(
        f"payload type {payload!r} must be a dataclass or a pydantic model; its fields are "
        "the handler's keyword arguments"
    )


_PLAIN_TYPES = (int, float, str, bool)


def _plain_fields(payload: type) -> tuple[dict[str, type] | None, dict[str, Any]]:
    """For a plain dataclass (no pydantic, no ``__post_init__``, every field an ``int``,
    ``float``, ``str`` or ``bool`` with at most a plain default): each field's type and the
    defaults. A payload whose values are exactly of those types needs no validation beyond
    the field names. ``(None, {})`` for any other payload type."""
    import typing

    if (
        not dataclasses.is_dataclass(payload)
        or not isinstance(payload, type)
        or hasattr(payload, "__pydantic_fields__")
        or hasattr(payload, "__post_init__")
    ):
        return None, {}
    try:
        hints = typing.get_type_hints(payload)
    except Exception:
        return None, {}
    types: dict[str, type] = {}
    defaults: dict[str, Any] = {}
    for found in dataclasses.fields(payload):
        kind = hints.get(found.name)
        if not found.init or kind not in _PLAIN_TYPES:
            return None, {}
        if found.default_factory is not dataclasses.MISSING:
            return None, {}
        if found.default is not dataclasses.MISSING:
            if type(found.default) is not kind:
                return None, {}
            defaults[found.name] = found.default
        types[found.name] = kind
    return types, defaults


class EventType:
    """One declared event type: validates payloads and serialises them for host events."""

    __slots__ = (
        "_adapter",
        "_defaults",
        "_dump",
        "_invalid",
        "_names",
        "_plain",
        "_validate",
        "fields",
        "name",
        "overflow",
        "payload",
        "publish",
        "required",
        "topic",
    )

    def __init__(
        self,
        name: str,
        payload: type,
        overflow: OverflowPolicy | str = OverflowPolicy.DROP_OLDEST,
        *,
        publish: bool = True,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"event name {name!r}: use letters, digits, '_' and '-' (it becomes the host "
                "event topic 'events.<name>')"
            )
        from pydantic import TypeAdapter, ValidationError

        self.name = name
        self.payload = payload
        self.fields, self.required = _fields_of(payload)
        clash = RESERVED_FIELDS.intersection(self.fields)
        if clash:
            raise ValueError(
                f"event {name!r}: payload field {sorted(clash)[0]!r} is reserved (the host "
                "passes each handler its own logger)"
            )
        try:
            self.overflow = OverflowPolicy(overflow)
        except ValueError:
            raise ValueError(
                f"event {name!r}: overflow must be one of "
                f"{', '.join(p.value for p in OverflowPolicy)}, got {overflow!r}"
            ) from None
        self.publish = publish
        self.topic = f"events.{name}"
        self._names = frozenset(self.fields)
        self._adapter: Any = TypeAdapter(payload)
        # the compiled validator and serialiser, called without the adapter's Python layer
        self._validate = self._adapter.validator.validate_python
        self._dump = self._adapter.serializer.to_python
        self._invalid = ValidationError
        self._plain, self._defaults = _plain_fields(payload)

    def __repr__(self) -> str:
        return f"<EventType {self.name} {self.payload.__qualname__} overflow={self.overflow}>"

    def validate(self, payload: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """Check ``payload`` against the type; returns the handler's kwargs and the instance
        (``None`` for a plain dataclass whose values were all exactly of their fields' types:
        nothing needed converting, and :meth:`serialise` takes the kwargs instead).

        Raises :class:`PayloadError` naming the event and each field that is unknown,
        missing or of the wrong type.
        """
        if not self._names.issuperset(payload):
            unknown = [key for key in payload if key not in self._names]
            raise PayloadError(
                f"event {self.name!r}: unknown field {unknown[0]!r}; "
                f"{self.payload.__qualname__} has {', '.join(self.fields) or 'no fields'}"
            )
        if len(payload) < len(self.fields) and not self.required <= payload.keys():
            missing = [key for key in self.fields if key in self.required and key not in payload]
            raise PayloadError(
                f"event {self.name!r}: missing field {missing[0]!r} "
                f"(required: {', '.join(f for f in self.fields if f in self.required)})"
            )
        plain = self._plain
        if plain is not None:
            for key, value in payload.items():
                if type(value) is not plain[key]:
                    break
            else:  # every value exactly of its field's type: nothing to convert or check
                return {**self._defaults, **payload}, None
        try:
            instance = self._validate(payload if type(payload) is dict else dict(payload))
        except self._invalid as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(payload)'}: {err['msg']} "
                f"(got {err.get('input')!r})"
                for err in exc.errors()
            )
            raise PayloadError(f"event {self.name!r}: {problems}") from None
        values = getattr(instance, "__dict__", None)
        if values is not None and len(values) == len(self.fields):
            return values.copy(), instance  # exactly the fields: the handler's kwargs
        return {name: getattr(instance, name) for name in self.fields}, instance

    def serialise(self, instance: Any, kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The payload as JSON-ready data, for the host event: from the instance, or from the
        handler's ``kwargs`` when :meth:`validate` built none (then every value is a plain
        ``int``, ``float``, ``str`` or ``bool``; a float that is not finite becomes ``None``,
        as pydantic writes it)."""
        if instance is None and kwargs is not None:
            return {
                key: None if type(value) is float and not math.isfinite(value) else value
                for key, value in kwargs.items()
            }
        data: dict[str, Any] = self._dump(instance, mode="json")
        return data

    def describe(self) -> dict[str, Any]:
        """JSON-ready details for the ``events`` command and ``/plugins``."""
        return {
            "name": self.name,
            "payload": f"{self.payload.__module__}.{self.payload.__qualname__}",
            "fields": list(self.fields),
            "overflow": str(self.overflow),
            "publish": self.publish,
        }
