"""The Memri pod API's wire: bodies, keys, errors and translations, without Pymemri installed.

``test_pymemri.py`` drives the same API with Pymemri's own client; these tests pin what it
relies on, and what a user sees when a request is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugyard.adapters.pod import OWNER, Pod
from plugyard.adapters.pod.compat import memri_routes


@pytest.fixture
def web(pod: Pod) -> Iterator[TestClient]:
    app = Starlette(routes=memri_routes(lambda: pod, lambda: None, max_body=4096))
    with TestClient(app) as client:
        yield client


def call(web: TestClient, key: str, endpoint: str, payload: Any, kind: str = "ClientAuth") -> Any:
    auth = {"type": kind, "databaseKey": key} if kind == "ClientAuth" else {"type": kind}
    if kind == "PluginAuth":
        auth["token"] = key
    return web.post(f"/memri/v4/owner123/{endpoint}", json={"auth": auth, "payload": payload})


def test_version_and_account(pod: Pod, web: TestClient) -> None:
    assert web.get("/memri/version").json()["server"] == "plugyard-pod"
    body = {"ownerKey": "owner123", "databaseKey": pod.owner_token}
    assert web.post("/memri/v4/account", json=body).status_code == 200
    body["databaseKey"] = "not-a-token"
    assert web.post("/memri/v4/account", json=body).status_code == 401


def test_wrong_requests_get_plain_text_errors_naming_the_problem(pod: Pod, web: TestClient) -> None:
    answer = web.post("/memri/v4/owner123/get_item", json={"payload": "x"})
    assert answer.status_code == 400 and '{"auth"' in answer.text
    answer = call(web, "nope", "get_item", "x")
    assert answer.status_code == 401 and "databaseKey is not a token" in answer.text
    answer = call(web, "nope", "get_item", "x", kind="PluginAuth")
    assert answer.status_code == 421 and "does not know this plugin's token" in answer.text
    answer = call(web, pod.owner_token, "graphql", {})
    assert answer.status_code == 404 and "v4/graphql: plugyard's pod does not serve" in answer.text
    answer = web.post(
        "/memri/v4/own%20er/get_item", json={"auth": {"type": "ClientAuth"}, "payload": "x"}
    )
    assert answer.status_code == 400 and "owner key" in answer.text
    answer = call(web, pod.owner_token, "search", {"type": "Note", "dateServerModified>=": 1})
    assert answer.status_code == 400 and "matches properties by equality" in answer.text
    assert call(web, pod.owner_token, "get_item", "missing").json() == []


def test_items_learn_their_schema_and_dates_travel_as_milliseconds(
    pod: Pod, web: TestClient
) -> None:
    key = pod.owner_token
    item = {"type": "Message", "id": "m1", "content": "hi", "dateCreated": 1_600_000_000_123}
    assert call(web, key, "create_item", item).json() == "m1"
    assert pod.schema.properties["Message"] == {"content": "str", "dateCreated": "datetime"}
    stored = pod.get(OWNER, "m1")
    assert stored["dateCreated"] == "2020-09-13T12:26:40.123000+00:00"
    [got] = call(web, key, "get_item", "m1").json()
    assert (got["content"], got["dateCreated"], got["deleted"]) == ("hi", 1_600_000_000_123, False)
    wrong = call(web, key, "create_item", {"type": "Message", "id": "m2", "content": 5})
    assert wrong.status_code == 400 and "Message.content must be str" in wrong.text


def test_plugin_runs_keep_their_id_and_speak_memri_statuses(pod: Pod, web: TestClient) -> None:
    key = pod.owner_token
    run = {
        "type": "PluginRun",
        "id": "r1",
        "targetItemId": "r1",
        "pluginModule": "m",
        "pluginName": "P",
        "containerImage": "none",
    }
    assert call(web, key, "create_item", run).json() == "r1"
    for status in ("initialized", "started", "userActionNeeded"):
        assert call(web, key, "update_item", {"id": "r1", "status": status}).status_code == 200
    assert pod.get_run(OWNER, "r1")["status"] == "user_action_needed"
    [memri] = call(web, key, "get_item", "r1").json()
    assert (memri["status"], memri["targetItemId"], memri["pluginName"]) == (
        "userActionNeeded",
        "r1",
        "P",
    )
    bad = call(web, key, "update_item", {"id": "r1", "status": "done"})
    assert bad.status_code == 409 and "cannot go from 'user_action_needed' to 'done'" in bad.text
    _other, token = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "Q"})
    refused = call(web, token, "create_item", {**run, "id": "r2", "targetItemId": "r2"})
    assert refused.status_code == 403 and "only the owner may create runs" in refused.text


def test_files_are_checked_against_their_sha256_and_the_size_limit(
    pod: Pod, web: TestClient
) -> None:
    data = b"file bytes"
    sha = hashlib.sha256(data).hexdigest()
    url = f"/memri/v4/owner123/upload_file/{pod.owner_token}/{sha}"
    assert web.post(url, content=data).status_code == 200
    assert web.post(url, content=data).status_code == 409  # stored already
    wrong = web.post(url, content=b"other bytes")
    assert wrong.status_code == 400 and "the bytes have sha256" in wrong.text
    big = b"x" * 5000
    url = f"/memri/v4/owner123/upload_file/{pod.owner_token}/{hashlib.sha256(big).hexdigest()}"
    assert web.post(url, content=big).status_code == 413
    answer = call(web, pod.owner_token, "get_file", {"sha256": sha})
    assert answer.content == data
    assert answer.headers["content-type"] == "application/octet-stream"
