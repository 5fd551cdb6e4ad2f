"""The event bridge for plugyard: one event stream across hosts, through a Redis Stream.

With ``[events] bridge = "redis://..."`` a host writes its own events to a shared stream and
relays the other hosts' events into its own, each keeping its origin host id
(:attr:`~plugyard.sdk.Event.origin`) and that host's ``seq``
(:attr:`~plugyard.sdk.Event.origin_seq`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from ._adapter import BridgeAdapter, adapter
    from ._bridge import BridgeService, redact_url
    from ._settings import BridgeSettings

__all__ = ["BridgeAdapter", "BridgeService", "BridgeSettings", "adapter", "redact_url"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BridgeAdapter": "._adapter",
        "adapter": "._adapter",
        "BridgeService": "._bridge",
        "redact_url": "._bridge",
        "BridgeSettings": "._settings",
    },
    public=__all__,
)
