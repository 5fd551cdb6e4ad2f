"""Files in the pod (stored by sha256 beside the items) and paged search, through PodClient."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from pod_fixtures import Note
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugyard.adapters.pod import OWNER, DirectTransport, Pod
from plugyard.adapters.pod._http import pod_routes
from plugyard.sdk.pod import BadRequest, Forbidden, HttpTransport, ItemNotFound, PodClient


@pytest.fixture
def web(pod: Pod) -> Iterator[TestClient]:
    app = Starlette(routes=pod_routes(lambda: pod, lambda: None, max_file_size=1024))
    with TestClient(app) as client:
        yield client


@pytest.fixture(params=["http", "direct"])
def connect(request: Any, pod: Pod, web: TestClient) -> Any:
    """``connect(token)``: a PodClient over HTTP, or in process, for that token."""

    def make(token: str) -> PodClient:
        if request.param == "http":
            return PodClient(transport=HttpTransport("http://testserver/pod/v1", token, client=web))
        return PodClient(transport=DirectTransport(pod, pod.scope_for(token)))

    return make


def test_a_file_round_trip_by_sha256(pod: Pod, connect: Any) -> None:
    client = connect(pod.owner_token)
    data = b"\x89PNG not really, but bytes all the same \x00\xff"
    sha = client.upload_file(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert client.get_file(sha) == data
    assert client.upload_file(data) == sha  # stored once; uploading again is harmless
    assert pod.get_file(OWNER, sha) == data
    with pytest.raises(ItemNotFound, match="no file with sha256"):
        client.get_file("0" * 64)
    with pytest.raises(BadRequest, match="is not a sha256"):
        client.get_file("../etc/passwd")


def test_a_runs_token_reaches_only_the_files_its_run_stored(pod: Pod, connect: Any) -> None:
    _run_a, token_a = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "A"})
    _run_b, token_b = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "B"})
    sha = connect(token_a).upload_file(b"run a's file")
    assert connect(token_a).get_file(sha) == b"run a's file"
    with pytest.raises(Forbidden, match=f"may not reach file {sha}"):
        connect(token_b).get_file(sha)
    assert connect(pod.owner_token).get_file(sha) == b"run a's file"


def test_bytes_that_do_not_match_their_sha256_are_refused(pod: Pod) -> None:
    with pytest.raises(BadRequest, match="the bytes have sha256"):
        pod.put_file(OWNER, hashlib.sha256(b"one").hexdigest(), b"another")


def test_an_upload_over_the_limit_is_refused(pod: Pod, web: TestClient) -> None:
    data = b"x" * 2048
    answer = web.put(
        f"/pod/v1/files/{hashlib.sha256(data).hexdigest()}",
        content=data,
        headers={"Authorization": f"Bearer {pod.owner_token}"},
    )
    assert answer.status_code == 413 and "1024 bytes" in answer.json()["error"]


def test_search_pages_through_everything_in_order(pod: Pod, connect: Any) -> None:
    client = connect(pod.owner_token)
    client.add_to_schema(Note)
    for n in range(7):
        client.create(Note(f"n{n}", n))
    pages = list(client.search_pages({"type": "Note"}, page_size=3))
    assert [[note.n for note in page] for page in pages] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [n.n for n in client.search({"type": "Note"}, limit=2, offset=5)] == [5, 6]
    newest = client.search({"type": "Note"}, limit=2, newest_first=True)
    assert [n.n for n in newest] == [6, 5]
    with pytest.raises(BadRequest, match="offset must be a whole number"):
        client.search({"type": "Note"}, offset=-1)
    with pytest.raises(ValueError, match="page_size must be a positive integer"):
        next(client.search_pages({"type": "Note"}, page_size=0))


@pytest.mark.services
def test_files_and_pages_on_postgresql() -> None:
    import os
    import uuid

    from plugyard.adapters.pod import Store
    from plugyard.sdk.testing import require_service

    require_service("postgresql")
    schema = f"pod_files_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    store = Store("postgresql+psycopg://postgres@127.0.0.1:5432/test", schema=schema)
    try:
        store.create()
        pod = Pod(store)
        client = PodClient(transport=DirectTransport(pod))
        data = bytes(range(256)) * 100
        sha = client.upload_file(data)
        assert client.get_file(sha) == data
        assert Pod(store).get_file(OWNER, sha) == data  # stored, not cached
        client.add_to_schema(Note)
        client.bulk(create=[Note(f"pg{n}", n) for n in range(5)])
        pages = list(client.search_pages({"type": "Note"}, page_size=2))
        assert [len(page) for page in pages] == [2, 2, 1]
        assert sorted(n.n for page in pages for n in page) == list(range(5))
    finally:
        store.drop_schema()
