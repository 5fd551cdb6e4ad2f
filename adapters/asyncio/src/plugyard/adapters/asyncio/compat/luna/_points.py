"""``crutches_on_wheels.monitoring.points``: LUNA's monitoring points.

A point is a series name, the time the request started, tags (indexed) and fields (not
indexed). plugyard's HTTP server gives every request the tags ``service``, ``route``
(``METHOD:/path``) and ``status_code`` and the fields ``request_id`` and ``execution_time``,
which are LUNA's own.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BaseMonitoringPoint", "BaseRequestMonitoringPoint", "RequestMonitoringPoint"]


class BaseMonitoringPoint:
    """One point of a time series: ``series``, ``eventTime`` (seconds), ``tags``, ``fields``."""

    series = "base"

    def __init__(
        self,
        eventTime: float,
        tags: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.eventTime = eventTime
        self.tags: dict[str, Any] = dict(tags or {})
        self.fields: dict[str, Any] = dict(fields or {})

    def asDict(self) -> dict[str, Any]:
        """The point as plain data."""
        return {
            "series": self.series,
            "event_time": self.eventTime,
            "tags": dict(self.tags),
            "fields": dict(self.fields),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseMonitoringPoint):
            return NotImplemented
        return self.asDict() == other.asDict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.asDict()!r})"


class BaseRequestMonitoringPoint(BaseMonitoringPoint):
    """The point of one HTTP request; ``requestId``, ``route``, ``statusCode`` and
    ``executionTime`` read its tags and fields."""

    series = "request"

    def __init__(
        self,
        requestId: str,
        eventTime: float,
        tags: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(eventTime, tags, fields)
        self.requestId = requestId

    @property
    def route(self) -> str | None:
        """``METHOD:/path`` of the request."""
        value = self.tags.get("route")
        return None if value is None else str(value)

    @property
    def statusCode(self) -> int | None:
        """The response's status code."""
        value = self.tags.get("status_code")
        return None if value is None else int(value)

    @property
    def executionTime(self) -> float | None:
        """Seconds the request took."""
        value = self.fields.get("execution_time")
        return None if value is None else float(value)

    def asDict(self) -> dict[str, Any]:
        """The point as plain data, with its request id."""
        return {**super().asDict(), "request_id": self.requestId}


class RequestMonitoringPoint(BaseRequestMonitoringPoint):
    """The ``request`` series point every request produces."""
