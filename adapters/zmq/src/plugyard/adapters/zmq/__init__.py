"""plugyard's ZMQ event-subscriber adapter (the Circus plugin model).

The host publishes every event on an XPUB socket and serves its command plane on a ROUTER
socket; subscriber plugins (:class:`plugyard.sdk.subscriber.SubscriberPlugin`) run in their
own supervised processes. Built-in plugins live in :mod:`plugyard.adapters.zmq.plugins`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from ._adapter import ZmqAdapter, adapter
    from ._client import HostClient, HostUnavailable, find_endpoints
    from ._ini import IniError, read_circus_plugins
    from ._plugins import SubscriberHandle
    from ._publisher import EventPublisher, encode_event
    from ._server import CommandServer, parse_request
    from ._service import ZmqService
    from ._settings import ProcessOptions, ZmqSettings

__all__ = [
    "CommandServer",
    "EventPublisher",
    "HostClient",
    "HostUnavailable",
    "IniError",
    "ProcessOptions",
    "SubscriberHandle",
    "ZmqAdapter",
    "ZmqService",
    "ZmqSettings",
    "adapter",
    "encode_event",
    "find_endpoints",
    "parse_request",
    "read_circus_plugins",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CommandServer": "._server",
        "EventPublisher": "._publisher",
        "HostClient": "._client",
        "HostUnavailable": "._client",
        "IniError": "._ini",
        "ProcessOptions": "._settings",
        "SubscriberHandle": "._plugins",
        "ZmqAdapter": "._adapter",
        "ZmqService": "._service",
        "ZmqSettings": "._settings",
        "adapter": "._adapter",
        "encode_event": "._publisher",
        "find_endpoints": "._client",
        "parse_request": "._server",
        "read_circus_plugins": "._ini",
    },
    public=__all__,
)
