"""What plugyard plugin authors import.

The SDK never imports the host: a plugin package depends on ``plugyard-sdk`` alone.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._events import Event, EventFormatError
from ._markers import PROJECT_NAME, hookimpl

__all__ = ["PROJECT_NAME", "Event", "EventFormatError", "__version__", "hookimpl"]

try:
    __version__ = version("plugyard-sdk")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
