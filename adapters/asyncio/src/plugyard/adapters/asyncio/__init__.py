"""plugyard's adapter for async event and background plugins (the ``asyncio`` model).

Plugin authors import :mod:`plugyard.sdk.events`; applications use the host's
:class:`AsyncioService`: ``AsyncioService.of(host).event_types.declare(...)``, ``.emit(...)``,
``await ....emit_and_wait(...)`` and ``.asgi_app``. Names are imported on first use, so loading
the adapter stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from ._adapter import AsyncioAdapter, adapter
    from ._declarations import (
        EventType,
        OverflowPolicy,
        PayloadError,
        QueueFullError,
        UnknownEventError,
    )
    from ._http import RouteClashError
    from ._hub import EmitResult, EventHub
    from ._mailbox import HandlerOutcome
    from ._service import AsyncioService
    from ._settings import AsyncioSettings, HttpSettings

__all__ = [
    "AsyncioAdapter",
    "AsyncioService",
    "AsyncioSettings",
    "EmitResult",
    "EventHub",
    "EventType",
    "HandlerOutcome",
    "HttpSettings",
    "OverflowPolicy",
    "PayloadError",
    "QueueFullError",
    "RouteClashError",
    "UnknownEventError",
    "adapter",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AsyncioAdapter": "._adapter",
        "AsyncioService": "._service",
        "adapter": "._adapter",
        "EventType": "._declarations",
        "OverflowPolicy": "._declarations",
        "PayloadError": "._declarations",
        "QueueFullError": "._declarations",
        "UnknownEventError": "._declarations",
        "RouteClashError": "._http",
        "EmitResult": "._hub",
        "EventHub": "._hub",
        "HandlerOutcome": "._mailbox",
        "AsyncioSettings": "._settings",
        "HttpSettings": "._settings",
    },
    public=__all__,
)
