"""Hostile or unlucky requests to the pod API get a clear 4xx or 507, never a bare 500:
numbers the database cannot hold, JSON nested too deeply, and a full disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugyard.adapters.pod import Pod, Store
from plugyard.adapters.pod._http import pod_routes

BASE = "/pod/v1"


def _web(pod: Pod) -> TestClient:
    return TestClient(Starlette(routes=pod_routes(lambda: pod, lambda: None)))


@pytest.fixture
def web(pod: Pod) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with _web(pod) as client:
        yield client, {"Authorization": f"Bearer {pod.owner_token}"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"filters": {}, "limit": 10**30}, "limit must be a positive whole number up to"),
        ({"filters": {}, "offset": 10**30}, "offset must be a whole number from 0 to"),
    ],
)
def test_a_huge_number_is_a_400(
    web: tuple[TestClient, dict[str, str]], body: Any, message: str
) -> None:
    client, owner = web
    answer = client.post(f"{BASE}/search", json=body, headers=owner)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


def test_json_nested_too_deeply_is_a_400(web: tuple[TestClient, dict[str, str]]) -> None:
    client, owner = web
    body = b"[" * 100_000 + b"]" * 100_000
    for path in ("/items", "/search"):
        answer = client.post(
            f"{BASE}{path}", content=body, headers={**owner, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        assert "nested too deeply" in answer.json()["error"]


def test_a_full_disk_is_a_507_and_the_pod_keeps_answering(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'pod.db'}")
    store.create()
    pages: dict[str, int] = {}

    @sa.event.listens_for(store._writer, "connect")
    def _small_disk(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_count")
        pages["used"] = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages['used'] + 4}")
        cursor.close()

    store._writer.dispose()  # new connections get the small "disk"
    pod = Pod(store)
    owner = {"Authorization": f"Bearer {pod.owner_token}"}
    try:
        with _web(pod) as client:
            schema = {"Blob": {"properties": {"data": "str"}}}
            added = client.post(f"{BASE}/schema", json=schema, headers=owner)
            assert added.status_code == 200, added.text
            big = {"type": "Blob", "data": "x" * 200_000}
            full = client.post(f"{BASE}/items", json=big, headers=owner)
            assert full.status_code == 507, full.text
            assert "storage is full" in full.json()["error"]
            assert "Traceback" not in full.text
            small = client.post(f"{BASE}/items", json={"type": "Blob", "data": "x"}, headers=owner)
            assert small.status_code == 201, small.text
            found = client.post(f"{BASE}/search", json={"filters": {"type": "Blob"}}, headers=owner)
            assert [item["data"] for item in found.json()["items"]] == ["x"]
    finally:
        store.close()
