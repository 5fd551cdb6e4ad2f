"""The worker side of the ``celery`` executor: the task that runs one lifecycle operation.

Imported by a host (and so by ``plugyard worker``) whose ``[lifecycle] executor`` is
``"celery"``, which registers the task on plugyard's shared Celery app."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

from plugyard.sdk.lifecycle import resolve_resource
from plugyard.sdk.tasks import app

from ._agent_client import AGENT_TASK
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


class StoreBackend:
    """``ctx`` on a worker: runtime properties in the deployment's shared storage (the same
    versioned saves as in the engine), resources from the blueprint's folder."""

    def __init__(self, storage: Storage, folder: Path, workdirs: Path, deployment: str) -> None:
        self.storage = storage
        self.blueprint = None
        self.folder = folder
        self.workdirs = workdirs
        self.deployment = deployment

    def load_runtime_properties(self, instance_id: str) -> tuple[dict[str, Any], int]:
        return self.storage.load_runtime_properties(instance_id)

    def save_runtime_properties(
        self, instance_id: str, properties: dict[str, Any], version: int
    ) -> int:
        return self.storage.save_runtime_properties(instance_id, properties, version)

    def read_resource(self, path: str) -> bytes:
        return resolve_resource(self.folder, path).read_bytes()

    def workdir(self, plugin_name: str) -> Path | None:
        return self.workdirs / self.deployment / plugin_name


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
