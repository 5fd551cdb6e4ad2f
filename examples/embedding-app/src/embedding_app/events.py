"""The tea shop's event types.

The service, not its plugins, decides which events exist: each type is a name and a payload
type whose fields become the handlers' keyword arguments. ``monitoring_event`` reuses the SDK's
payload, so any ``BaseRequestMonitoringPlugin`` works here; ``order_placed`` is the shop's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from plugyard.sdk.events import MonitoringPayload

if TYPE_CHECKING:
    from plugyard.adapters.asyncio import EventHub

__all__ = ["EVENT_TYPES", "OrderPlaced", "declare_events"]


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """Payload of ``order_placed``: one accepted order."""

    order_id: str
    tea: str
    cups: int
    request_id: str


EVENT_TYPES: dict[str, tuple[type, str]] = {
    # A monitoring point may be lost under load rather than slow a request down.
    "monitoring_event": (MonitoringPayload, "drop_oldest"),
    # Orders are business events: the request waits for room instead of losing one.
    "order_placed": (OrderPlaced, "block"),
}
"""Event name to (payload type, overflow policy)."""


def declare_events(events: EventHub) -> None:
    """Declare every type of :data:`EVENT_TYPES` on the asyncio service's ``event_types``."""
    for name, (payload, overflow) in EVENT_TYPES.items():
        events.declare(name, payload, overflow=overflow)
