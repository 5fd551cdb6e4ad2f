"""Event types: the names an application declares, their payload types and overflow policies."""

from __future__ import annotations

import dataclasses
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


class EventType:
    """One declared event type: validates payloads and serialises them for host events."""

    __slots__ = (
        "_adapter",
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
        from pydantic import TypeAdapter

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
        self._adapter: Any = TypeAdapter(payload)

    def __repr__(self) -> str:
        return f"<EventType {self.name} {self.payload.__qualname__} overflow={self.overflow}>"

    def validate(self, payload: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """Check ``payload`` against the type; returns the handler's kwargs and the instance.

        Raises :class:`PayloadError` naming the event and each field that is unknown,
        missing or of the wrong type.
        """
        from pydantic import ValidationError

        unknown = [key for key in payload if key not in self.fields]
        if unknown:
            raise PayloadError(
                f"event {self.name!r}: unknown field {unknown[0]!r}; "
                f"{self.payload.__qualname__} has {', '.join(self.fields) or 'no fields'}"
            )
        missing = [key for key in self.fields if key in self.required and key not in payload]
        if missing:
            raise PayloadError(
                f"event {self.name!r}: missing field {missing[0]!r} "
                f"(required: {', '.join(f for f in self.fields if f in self.required)})"
            )
        try:
            instance = self._adapter.validate_python(dict(payload))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(payload)'}: {err['msg']} "
                f"(got {err.get('input')!r})"
                for err in exc.errors()
            )
            raise PayloadError(f"event {self.name!r}: {problems}") from None
        return {name: getattr(instance, name) for name in self.fields}, instance

    def serialise(self, instance: Any) -> dict[str, Any]:
        """The payload as JSON-ready data, for the host event."""
        data: dict[str, Any] = self._adapter.dump_python(instance, mode="json")
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
