"""The direct transport: a :class:`~plugyard.sdk.pod.PodClient` calling the pod in process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._pod import OWNER, Pod, Scope

__all__ = ["DirectTransport"]


class DirectTransport:
    """Implements the SDK's ``Transport`` by calling :class:`Pod` with a fixed scope.

    Example::

        client = PodClient(transport=DirectTransport(pod, Scope(run_id)))
    """

    def __init__(self, pod: Pod, scope: Scope = OWNER) -> None:
        self.pod = pod
        self.scope = scope

    def __repr__(self) -> str:
        return f"DirectTransport({self.pod.store.url!r}, {self.scope.describe()})"

    def create(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        return self.pod.create(self.scope, list(items))

    def get(self, item_id: str) -> dict[str, Any]:
        return self.pod.get(self.scope, item_id)

    def search(
        self,
        filters: Mapping[str, Any],
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        return self.pod.search(self.scope, filters, limit, offset, newest_first=newest_first)

    def update(self, item_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        return self.pod.update(self.scope, item_id, properties)

    def delete(self, item_id: str) -> None:
        self.pod.delete(self.scope, item_id)

    def create_edges(self, edges: Sequence[Mapping[str, str]]) -> None:
        self.pod.create_edges(self.scope, list(edges))

    def bulk(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self.pod.bulk(self.scope, request)

    def add_schema(self, schema: Mapping[str, Any]) -> None:
        self.pod.add_schema(self.scope, schema)

    def upload_file(self, sha256: str, data: bytes) -> bool:
        return self.pod.put_file(self.scope, sha256, data)

    def get_file(self, sha256: str) -> bytes:
        return self.pod.get_file(self.scope, sha256)

    def create_run(self, run: Mapping[str, Any]) -> dict[str, Any]:
        created, token = self.pod.create_run(self.scope, run)
        return {"run": created, "token": token}

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self.pod.get_run(self.scope, run_id)

    def update_run(self, run_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        return self.pod.update_run(self.scope, run_id, changes)

    def get_account(self, run_id: str) -> dict[str, Any] | None:
        return self.pod.get_account(self.scope, run_id)

    def close(self) -> None:
        """Nothing to release: the pod belongs to whoever made it."""
