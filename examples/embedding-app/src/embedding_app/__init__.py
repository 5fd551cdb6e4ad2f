"""A tea shop API (Starlette, served by uvicorn) that embeds a plugyard host as its lifespan.

Serve it with ``uvicorn --factory embedding_app:create_app``. Plugins receive a
``monitoring_event`` after every request and an ``order_placed`` for every order; background
plugins' routes are served beside the shop's own.
"""

from __future__ import annotations

from ._app import CONFIG_ENV, DEFAULT_CONFIG, MENU, create_app
from ._monitoring import RequestMonitor
from .events import EVENT_TYPES, OrderPlaced, declare_events

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "EVENT_TYPES",
    "MENU",
    "OrderPlaced",
    "RequestMonitor",
    "create_app",
    "declare_events",
]
