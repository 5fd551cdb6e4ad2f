"""The event value every plugyard model shares."""

from __future__ import annotations

import json
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventFormatError"]


class EventFormatError(ValueError):
    """An event could not be read from its serialised form; the message says which field."""


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as every model sees it.

    ``topic`` is dotted (``plugin.web.started``, ``task.fibonacci.success``); ``data`` is a
    JSON-serialisable mapping; ``source`` names who published it (a plugin, an adapter or
    ``host``); ``seq`` increases by one per event within a host, so a subscriber that sees
    a jump knows it missed events; ``id`` is unique per event.

    An event that came from another host over an event bridge keeps where it began:
    ``origin`` is the id of the host that first published it and ``origin_seq`` its ``seq``
    there (``seq`` is this host's own number for it). Both are empty (``""`` and ``0``) for
    the host's own events.
    """

    topic: str
    data: Mapping[str, Any] = field(default_factory=dict)
    source: str = "host"
    time: float = field(default_factory=_time.time)
    id: str = ""
    seq: int = 0
    origin: str = ""
    origin_seq: int = 0

    def _origin_fields(self) -> dict[str, Any]:
        return {"origin": self.origin, "origin_seq": self.origin_seq} if self.origin else {}

    def to_dict(self) -> dict[str, Any]:
        """The event as a plain dict (``topic`` included)."""
        return {
            "topic": self.topic,
            "id": self.id,
            "seq": self.seq,
            "time": self.time,
            "source": self.source,
            "data": dict(self.data),
            **self._origin_fields(),
        }

    def body(self) -> dict[str, Any]:
        """The event's wire body: everything but the topic, which travels in its own frame."""
        return {
            "id": self.id,
            "seq": self.seq,
            "time": self.time,
            "source": self.source,
            "data": dict(self.data),
            **self._origin_fields(),
        }

    def to_json(self) -> str:
        """The event as one JSON object (``topic`` included)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    def matches(self, prefix: str) -> bool:
        """Whether the topic is ``prefix`` or lies under it (``plugin`` matches ``plugin.x.y``)."""
        return (
            not prefix
            or self.topic == prefix
            or self.topic.startswith(prefix if prefix.endswith(".") else prefix + ".")
        )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, topic: str | None = None) -> Event:
        """Read an event back from :meth:`to_dict` or from a wire body plus its topic."""
        if not isinstance(raw, Mapping):
            raise EventFormatError(f"event: expected a JSON object, got {type(raw).__name__}")
        name = topic if topic is not None else raw.get("topic")
        if not isinstance(name, str) or not name:
            raise EventFormatError("event.topic: expected a non-empty string")
        data = raw.get("data", {})
        if not isinstance(data, Mapping):
            raise EventFormatError(f"event.data: expected an object, got {type(data).__name__}")
        seq = raw.get("seq", 0)
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise EventFormatError(f"event.seq: expected an integer, got {seq!r}")
        when = raw.get("time", 0.0)
        if not isinstance(when, int | float) or isinstance(when, bool):
            raise EventFormatError(f"event.time: expected a number, got {when!r}")
        origin = raw.get("origin", "")
        if not isinstance(origin, str):
            raise EventFormatError(f"event.origin: expected a string, got {origin!r}")
        origin_seq = raw.get("origin_seq", 0)
        if not isinstance(origin_seq, int) or isinstance(origin_seq, bool):
            raise EventFormatError(f"event.origin_seq: expected an integer, got {origin_seq!r}")
        return cls(
            topic=name,
            data=dict(data),
            source=str(raw.get("source", "")),
            time=float(when),
            id=str(raw.get("id", "")),
            seq=seq,
            origin=origin,
            origin_seq=origin_seq,
        )
