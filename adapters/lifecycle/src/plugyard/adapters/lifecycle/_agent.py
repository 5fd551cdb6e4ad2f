"""The worker side of the ``celery`` executor: the task that runs one lifecycle operation.

Imported by a host (and so by ``plugyard worker``) whose ``[lifecycle] executor`` is
``"celery"``, which registers the task on plugyard's shared Celery app."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

from plugyard.sdk.tasks import app

from ._agent_client import AGENT_TASK
from ._backend import StoreBackend
from ._remote import run_request
from ._storage import Storage

__all__ = ["StoreBackend", "run_operation"]

_stores: dict[str, Storage] = {}
_stores_lock = threading.Lock()


def _storage(url: str) -> Storage:
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = Storage(url)
        return store


@app.task(  # type: ignore[untyped-decorator]
    name=AGENT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, track_started=True
)
def run_operation(self: Any, request: dict[str, Any], store: dict[str, str]) -> dict[str, Any]:
    """Run one lifecycle operation described by the engine; its outcome as plain data.

    A message delivered again (its first worker died while running it) is run again only if
    the operation is resumable; otherwise the outcome says ``interrupted`` and the engine
    leaves the execution waiting for ``resume``."""
    where = {"pid": os.getpid(), "hostname": self.request.hostname or socket.gethostname()}
    delivery = self.request.delivery_info or {}
    if delivery.get("redelivered") and not request.get("resumable"):
        return {
            "status": "interrupted",
            "message": "the worker running it died, and its task was delivered again",
            **where,
        }
    backend = StoreBackend(
        _storage(store["url"]),
        Path(store["folder"]),
        Path(store["workdirs"]),
        str(request["deployment_id"]),
    )
    logs: list[dict[str, Any]] = []
    outcome = run_request(request, backend, logs.append)
    outcome.update(where, logs=logs)
    return outcome
