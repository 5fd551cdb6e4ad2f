"""The context backend over a deployment's storage: what ``ctx`` reads and writes, in the
engine and on a worker of the ``celery`` executor alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugyard.sdk.lifecycle import resolve_resource

from ._settings import template_limit
from ._storage import Storage

__all__ = ["StoreBackend"]


class StoreBackend:
    """Runtime properties in the deployment's storage (versioned saves), resources from the
    blueprint's folder, a work folder per plugin."""

    blueprint: Any = None

    def __init__(self, storage: Storage, folder: Path, workdirs: Path, deployment: str) -> None:
        self.storage = storage
        self.folder = folder
        self.workdirs = workdirs
        self.deployment = deployment

    @property
    def max_template_size(self) -> int:
        """Characters a rendered resource template may hold (``[lifecycle]``)."""
        return template_limit()

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
