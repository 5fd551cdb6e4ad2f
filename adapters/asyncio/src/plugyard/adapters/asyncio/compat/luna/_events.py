"""``classes.event.Event`` and ``classes.schemas.event_raw.RawEvent``: LUNA's event objects.

plugyard's ``sending_event`` carries events as JSON objects; a LUNA plugin gets each one as
an :class:`Event` (``asDict()`` gives the object back), or as a :class:`RawEvent` when it
is marked ``"raw": true``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["Event", "RawEvent", "to_luna_event"]

_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _UPPER.sub("_", name).lower()


class _EventData:
    """An event's data, read as attributes in LUNA's camelCase (``event.eventId``)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any] | None = None, /, **fields: Any) -> None:
        self._data: dict[str, Any] = {**(data or {}), **{_snake(k): v for k, v in fields.items()}}

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "_data")
        for key in (name, _snake(name)):
            if key in data:
                return data[key]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _EventData)
        return self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"


class Event(_EventData):
    """An event a handler produced (``event_id``, ``handler_id``, ``face``, ...)."""

    __slots__ = ()

    def asDict(self) -> dict[str, Any]:
        """The event as JSON-ready data (a copy)."""
        return copy.deepcopy(self._data)


class RawEvent(_EventData):
    """An event as it was posted to the service, before a handler shaped it."""

    __slots__ = ()

    def asHandlerEventDict(self) -> dict[str, Any]:
        """The event as a handler event: JSON-ready data without the ``raw`` marker (a copy)."""
        return {k: copy.deepcopy(v) for k, v in self._data.items() if k != "raw"}


def to_luna_event(data: Any) -> Any:
    """A JSON object as LUNA's :class:`Event` (or :class:`RawEvent` if ``"raw": true``)."""
    if not isinstance(data, dict):
        return data
    return RawEvent(data) if data.get("raw") is True else Event(data)
