"""plugyard-celery: Celery task plugins (the girder_worker model) on the plugyard host.

Plugin authors use :mod:`plugyard.sdk.tasks`; this package runs their tasks: it configures
the shared app from ``[celery]``, loads task plugins, runs workers (``plugyard worker``, or a
thread of ``plugyard run``), and reports job status as ``task.<name>.<status>`` events.
A script that sends tasks calls :func:`connect` first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

from ._adapter import CeleryAdapter, adapter

if TYPE_CHECKING:
    from ._core import client_service, connect
    from ._service import CeleryService, TaskService
    from ._settings import CelerySettings
    from ._store import Job

__all__ = [
    "CeleryAdapter",
    "CeleryService",
    "CelerySettings",
    "Job",
    "TaskService",
    "adapter",
    "client_service",
    "connect",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "client_service": "._core",
        "connect": "._core",
        "CeleryService": "._service",
        "TaskService": "._service",
        "CelerySettings": "._settings",
        "Job": "._store",
    },
    public=__all__,
)
