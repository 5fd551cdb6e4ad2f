"""The plugyard console: a live web dashboard of one host's plugins of every model, its
event stream, tasks, deployments and pod runs.

A host that serves HTTP (``[http]``) mounts it at ``/console``; ``plugyard web`` runs a
host with it. An application mounts :func:`create_app` in its own ASGI app. The console
reaches every model through the host only: the registry, the event stream and the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from ._app import TOKEN_HEADER, create_app
    from ._service import ConsoleService
    from ._settings import ConsoleSettings

__all__ = ["TOKEN_HEADER", "ConsoleService", "ConsoleSettings", "create_app"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TOKEN_HEADER": "._app",
        "ConsoleService": "._service",
        "ConsoleSettings": "._settings",
        "create_app": "._app",
    },
    public=__all__,
    distribution="plugyard-console",
)
