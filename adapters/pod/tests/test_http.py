"""The pod's HTTP API: PodClient over HTTP, tokens, and clear 4xx answers."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pod_fixtures import Note, Person
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugyard.adapters.pod import OWNER, Pod, Store
from plugyard.adapters.pod._http import pod_routes
from plugyard.sdk.pod import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpTransport,
    ItemNotFound,
    PodClient,
    PodUnavailable,
    Unauthorized,
)

BASE = "http://testserver/pod/v1"


@pytest.fixture
def web(pod: Pod) -> Iterator[TestClient]:
    with TestClient(Starlette(routes=pod_routes(lambda: pod, lambda: None))) as client:
        yield client


def client_for(web: TestClient, token: str | None) -> PodClient:
    return PodClient(transport=HttpTransport(BASE, token, client=web))


def test_client_over_http(pod: Pod, web: TestClient) -> None:
    client = client_for(web, pod.owner_token)
    client.add_to_schema(Note)
    note = Note("over http", 1, author=Person("Ann"))
    client.create(note)
    assert client.get(str(note.id)).author.name == "Ann"  # type: ignore[attr-defined]
    assert [n.text for n in client.search({"type": "Note"}, limit=5)] == ["over http"]
    client.bulk(create=[Note(str(n), n) for n in range(5)])
    assert len(client.search({"type": "Note"})) == 6
    note.text = "changed"
    assert client.update(note).text == "changed"
    client.delete(note)
    with pytest.raises(ItemNotFound):
        client.get(str(note.id))
    run, token = client.create_run(plugin_module="m", plugin_name="P")
    assert run.status == "created" and token


def test_a_token_used_on_another_runs_items_is_refused(pod: Pod, web: TestClient) -> None:
    owner = client_for(web, pod.owner_token)
    owner.add_to_schema(Note)
    _run_a, token_a = owner.create_run(plugin_module="m", plugin_name="A")
    run_b, token_b = owner.create_run(plugin_module="m", plugin_name="B")
    b_note = client_for(web, token_b).create(Note("secret of b"))
    a = client_for(web, token_a)
    with pytest.raises(Forbidden, match=f"may not reach item {b_note}"):
        a.get(b_note)
    with pytest.raises(Forbidden, match=f"may not reach run {run_b.id}"):
        a.update_run(str(run_b.id), status="aborted")
    response = web.post(
        f"{BASE}/runs/{run_b.id}/abort", headers={"Authorization": f"Bearer {token_a}"}
    )
    assert response.status_code == 403


def test_requests_without_a_valid_token_are_unauthorized(web: TestClient) -> None:
    assert web.get(f"{BASE}/items/x").status_code == 401
    with pytest.raises(Unauthorized, match="unknown token"):
        client_for(web, "made-up").get("x")
    assert web.get(f"{BASE}/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/items", b"{not json", 400, "the body is not valid JSON"),
        ("POST", "/items", b"", 400, "needs a JSON body"),
        ("POST", "/items", b'{"type": "Cat"}', 400, "unknown item type 'Cat'"),
        ("POST", "/search", b'{"filter": {}}', 400, "search: expected"),
        ("POST", "/search", b'{"filters": {"type": "Note", "x": 1}}', 400, "no property 'x'"),
        ("POST", "/search", b'{"filters": {}, "limit": 0}', 400, "limit must be a positive"),
        ("POST", "/edges", b"[]", 400, "edges: expected"),
        ("POST", "/bulk", b'{"insert": []}', 400, "bulk: expected"),
        ("POST", "/schema", b'{"Note": {"properties": {"n": "str"}}}', 409, "already int"),
        ("POST", "/runs", b'{"plugin_name": "P"}', 400, "plugin_module is required"),
        ("GET", "/runs/nope", None, 404, "no run with id 'nope'"),
        ("PATCH", "/items/nope", b"{}", 404, "no item with id 'nope'"),
    ],
)
def test_bad_requests_get_clear_errors(
    pod: Pod, web: TestClient, method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    client_for(web, pod.owner_token).add_to_schema(Note)
    response = web.request(
        method, BASE + path, content=body, headers={"Authorization": f"Bearer {pod.owner_token}"}
    )
    assert response.status_code == status
    assert message in response.json()["error"]


def test_error_classes_survive_the_wire(pod: Pod, web: TestClient) -> None:
    client = client_for(web, pod.owner_token)
    client.add_to_schema(Note)
    note = Note("x")
    client.create(note)
    with pytest.raises(Conflict, match="already taken"):
        client.transport.create([{"id": note.id, "type": "Note"}])
    with pytest.raises(BadRequest, match=r"Note\.n must be int"):
        client.transport.create([{"type": "Note", "n": "x"}])


def test_unreachable_pod_is_reported_with_its_url() -> None:
    transport = HttpTransport("http://127.0.0.1:9/pod/v1", "secret-token", timeout=2)
    with pytest.raises(
        PodUnavailable, match=r"cannot reach the pod at http://127\.0\.0\.1:9/pod/v1"
    ) as info:
        transport.get("x")
    assert "secret-token" not in str(info.value)


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="pod URL must be"):
        HttpTransport("ftp://x")


def test_direct_and_http_transports_answer_alike(pod: Pod, web: TestClient) -> None:
    from plugyard.adapters.pod import DirectTransport

    http = client_for(web, pod.owner_token)
    direct = PodClient(transport=DirectTransport(pod))
    http.add_to_schema(Note)
    note_id = direct.create(Note("same", 3))
    fields = ("id", "type", "text", "n")
    from_http: Any = http.get(note_id).to_dict()
    from_direct: Any = direct.get(note_id).to_dict()
    assert {k: from_http[k] for k in fields} == {k: from_direct[k] for k in fields}


def test_a_single_create_waits_its_turn_while_another_process_writes(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'pod.db'}")
    store.create()
    pod = Pod(store)
    pod.add_schema(OWNER, {"Note": {"properties": {"text": "str"}, "edges": {}}})
    auth = {"Authorization": f"Bearer {pod.owner_token}"}
    other = sqlite3.connect(tmp_path / "pod.db", isolation_level=None)
    answers: list[Any] = []
    with TestClient(Starlette(routes=pod_routes(lambda: pod, lambda: None))) as web:
        other.execute("BEGIN IMMEDIATE")
        sender = threading.Thread(
            target=lambda: answers.append(
                web.post("/pod/v1/items", json={"type": "Note", "text": "later"}, headers=auth)
            )
        )
        sender.start()
        deadline = time.monotonic() + 10
        while not store._wlock.locked() and sender.is_alive():
            assert time.monotonic() < deadline, "the create never reached the store"
            time.sleep(0.001)
        other.execute("ROLLBACK")
        other.close()
        sender.join(10)
    assert answers and answers[0].status_code == 201, answers
    assert [n["text"] for n in pod.search(OWNER, {"type": "Note"})] == ["later"]
    store.close()


@pytest.mark.parametrize(
    "body",
    [
        {"create": [{"id": "a", "type": "Note", "text": "é ☃", "n": 2**40, "x": 1.25}]},
        {"filters": {"n": 2**70}},
        {"x": float("nan"), "y": [float("inf")]},
        {"keys": {1: "a whole-number key"}},
        {"nested": [[{"a": (1, 2.5, None, True)}]]},
    ],
)
def test_request_bodies_are_the_json_the_standard_library_writes(body: dict[str, Any]) -> None:
    from plugyard.sdk.pod._transport import _encode

    assert json.dumps(json.loads(_encode(body))) == json.dumps(body)


def test_request_bodies_refuse_what_the_standard_library_refuses() -> None:
    from plugyard.sdk.pod._transport import _encode

    for value in (uuid.uuid4(), object(), {"a", "set"}):
        with pytest.raises(TypeError, match="not JSON serializable"):
            _encode({"filters": {"x": value}})
