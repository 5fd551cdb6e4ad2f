"""plugyard-celery: Celery task plugins (the girder_worker model) on the plugyard host.

Plugin authors use :mod:`plugyard.sdk.tasks`; this package runs their tasks: it configures
the shared app from ``[celery]``, loads task plugins, runs workers (``plugyard worker``, or a
thread of ``plugyard run``), and reports job status as ``task.<name>.<status>`` events.
A script that sends tasks calls :func:`connect` first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._adapter import CeleryAdapter, adapter

if TYPE_CHECKING:
    from ._core import connect
    from ._service import TaskService
    from ._settings import CelerySettings
    from ._store import Job

__all__ = ["CeleryAdapter", "CelerySettings", "Job", "TaskService", "adapter", "connect"]

_LAZY = {
    "connect": "._core",
    "TaskService": "._service",
    "CelerySettings": "._settings",
    "Job": "._store",
}


def __getattr__(name: str) -> Any:
    """Import Celery-dependent names on first use (the adapter itself must stay light)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'plugyard.adapters.celery' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
