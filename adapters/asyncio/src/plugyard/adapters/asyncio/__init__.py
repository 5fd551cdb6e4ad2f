"""plugyard's adapter for async event and background plugins (the ``asyncio`` model).

Plugin authors import :mod:`plugyard.sdk.events`; applications use what this adapter adds to
the host: ``host.events.declare(...)``, ``host.emit(...)``, ``await host.emit_and_wait(...)``
and ``host.asgi_app``. Names are imported on first use, so loading the adapter stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    from ._settings import AsyncioSettings, HttpSettings

__all__ = [
    "AsyncioAdapter",
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

_EXPORTS = {
    "AsyncioAdapter": "._adapter",
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
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plugyard.adapters.asyncio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
