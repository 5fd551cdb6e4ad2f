"""The pod service on SQLite (and PostgreSQL): items, edges, schema, scopes, runs, tokens."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pod_fixtures import Note, Person

from plugyard.adapters.pod import OWNER, DirectTransport, Pod, Scope, Store
from plugyard.host.sqlite import BUSY_TIMEOUT_MS
from plugyard.sdk.pod import (
    BadRequest,
    Conflict,
    Forbidden,
    ItemNotFound,
    PodClient,
    Unauthorized,
    schema_of,
)


def owner_client(pod: Pod) -> PodClient:
    client = PodClient(transport=DirectTransport(pod))
    client.add_to_schema(Note)
    return client


def test_create_get_search_update_delete(pod: Pod) -> None:
    client = owner_client(pod)
    ann = Person("Ann")
    note_id = client.create(Note("hello", 1, author=ann))
    got = client.get(note_id)
    assert isinstance(got, Note) and got.text == "hello" and got.created_at is not None
    assert isinstance(got.author, Person) and got.author.name == "Ann"
    assert [n.id for n in client.search({"type": "Note", "text": "hello"})] == [note_id]
    assert client.search({"type": "Note", "n": 2}) == []
    got.n = 2
    assert client.update(got).n == 2
    assert [n.id for n in client.search({"type": "Note", "n": 2})] == [note_id]
    client.delete(got)
    with pytest.raises(ItemNotFound, match=f"no item with id '{note_id}'"):
        client.get(note_id)
    assert client.get(str(ann.id)).name == "Ann"


def test_bulk_writes_all_or_nothing(pod: Pod) -> None:
    client = owner_client(pod)
    first = Note("a", 1)
    client.create(first)
    result = client.bulk(create=[Note("b", 2), Note("c", 3)], delete=[first])
    assert len(result["created"]) == 2 and result["deleted"] == [first.id]
    taken = Note("d", 4)
    taken.id = result["created"][0]
    with pytest.raises(Conflict, match="already taken"):
        client.bulk(create=[Note("e", 5), taken])
    assert sorted(n.text for n in client.search({"type": "Note"})) == ["b", "c"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "Cat"}, r"unknown item type 'Cat'; add it to the schema first \(known: "),
        (
            {"type": "Note", "colour": "red"},
            r"Note has no property 'colour' \(properties: text, n\)",
        ),
        ({"type": "Note", "n": "one"}, r"Note\.n must be int, got str 'one'"),
        ({"type": "Note", "id": "bad id!"}, r"id 'bad id!' is not 1-64"),
        ({"type": "Note", "id": "line\n"}, r"id 'line\\n' is not 1-64"),
        ({"type": "PluginRun"}, r"PluginRun items are made through /runs"),
        ("note", "an item is a JSON object, got str"),
    ],
)
def test_bad_items_name_what_is_wrong(pod: Pod, item: Any, message: str) -> None:
    owner_client(pod)
    with pytest.raises(BadRequest, match=message):
        pod.create(OWNER, [item])


def test_edges_are_checked_against_the_schema(pod: Pod) -> None:
    client = owner_client(pod)
    note, person = Note("x"), Person("p")
    client.create(note)
    client.create(person)
    with pytest.raises(BadRequest, match=r"Note has no edge 'friend' \(edges: author\)"):
        client.create_edge(note, person, "friend")
    with pytest.raises(BadRequest, match="Person has no edge"):
        client.create_edge(person, note, "author")
    with pytest.raises(ItemNotFound, match="no item with id 'nope'"):
        client.create_edge(note, "nope", "author")
    client.create_edge(note, person, "author")
    client.create_edge(note, person, "author")  # the same edge twice is one edge
    assert client.get(str(note.id)).author.name == "p"  # type: ignore[attr-defined]


def test_schema_only_grows(pod: Pod) -> None:
    owner_client(pod)
    with pytest.raises(Conflict, match=r"'n' is already int"):
        pod.add_schema(OWNER, {"Note": {"properties": {"n": "str"}, "edges": {}}})
    with pytest.raises(BadRequest, match="type 'list' is not one of str, int"):
        pod.add_schema(OWNER, {"Note": {"properties": {"tags": "list"}}})
    with pytest.raises(BadRequest, match="built-in types cannot be changed"):
        pod.add_schema(OWNER, {"PluginRun": {"properties": {"extra": "str"}}})
    assert pod.add_schema(OWNER, {"Note": {"properties": {"tags": "str"}}}) == 1
    again = Pod(pod.store)  # a new pod on the same store reads the schema back
    assert again.schema.properties["Note"]["tags"] == "str"


def test_a_run_token_reaches_only_its_own_items(pod: Pod) -> None:
    owner_client(pod)
    run_a, token_a = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "A"})
    run_b, _ = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "B"})
    scope_a = pod.scope_for(token_a)
    assert scope_a == Scope(run_a["id"])
    b = PodClient(transport=DirectTransport(pod, Scope(run_b["id"])))
    b_note = b.create(Note("b's", 1))
    a = PodClient(transport=DirectTransport(pod, scope_a))
    with pytest.raises(Forbidden, match=f"run {run_a['id']} may not reach item {b_note}"):
        a.get(b_note)
    with pytest.raises(Forbidden):
        a.delete(b_note)
    with pytest.raises(Forbidden):
        a.get_run(run_b["id"])
    assert a.search({"type": "Note"}) == []
    with pytest.raises(Forbidden, match="only the owner may create runs"):
        a.create_run(plugin_module="m", plugin_name="X")


def test_runs_follow_the_transition_table_and_tokens_end_with_them(pod: Pod) -> None:
    run, token = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "P", "config": {}})
    scope = pod.scope_for(token)
    with pytest.raises(Conflict, match="cannot go from 'created' to 'done'"):
        pod.update_run(scope, run["id"], {"status": "done"})
    started = pod.update_run(scope, run["id"], {"status": "started", "progress": 0.5})
    assert started["started_at"] and started["progress"] == 0.5
    with pytest.raises(BadRequest, match="progress must be from 0 to 1"):
        pod.update_run(scope, run["id"], {"progress": 2})
    with pytest.raises(BadRequest, match="field 'exit_code' cannot be changed by run"):
        pod.update_run(scope, run["id"], {"exit_code": 0})
    done = pod.update_run(scope, run["id"], {"status": "done"})
    assert done["ended_at"] and done["status"] == "done"
    with pytest.raises(Unauthorized, match="revoked when the run ends"):
        pod.scope_for(token)
    with pytest.raises(Unauthorized, match="no token"):
        pod.scope_for(None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"plugin_name": "P"}, "plugin_module is required"),
        ({"plugin_module": "m", "plugin_name": "P", "config": "[1]"}, "config must be a JSON"),
        ({"plugin_module": "m", "plugin_name": "P", "colour": 1}, r"unknown field 'colour'"),
    ],
)
def test_bad_runs(pod: Pod, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        pod.create_run(OWNER, fields)


def test_credentials_make_a_waiting_run_ready(pod: Pod) -> None:
    run, token = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "P"})
    scope = pod.scope_for(token)
    pod.update_run(scope, run["id"], {"status": "started"})
    pod.update_run(scope, run["id"], {"status": "user_action_needed"})
    assert pod.get_account(scope, run["id"]) is None
    with pytest.raises(Forbidden):
        pod.set_account(scope, run["id"], {"identifier": "ann", "secret": "x"})
    ready = pod.set_account(OWNER, run["id"], {"identifier": "ann", "secret": "x"})
    assert ready["status"] == "ready"
    assert pod.get_account(scope, run["id"])["secret"] == "x"  # type: ignore[index]


def test_events_are_published_per_type_and_status(store_url: tuple[str, str | None]) -> None:
    url, schema = store_url
    store = Store(url, schema=schema)
    store.create()
    seen: list[tuple[str, dict[str, Any]]] = []
    pod = Pod(store, publish=lambda topic, data: seen.append((topic, dict(data))))
    client = owner_client(pod)
    client.bulk(create=[Note("a"), Note("b"), Person("p")])
    run, _ = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "P"})
    topics = [t for t, _ in seen]
    assert topics == [
        "pod.item.Note.created",
        "pod.item.Person.created",
        f"pod.run.{run['id']}.created",
    ]
    assert seen[0][1]["count"] == 2 and len(seen[0][1]["ids"]) == 2
    store.close()


def test_concurrent_writers_share_commits_and_lose_nothing(pod: Pod) -> None:
    owner_client(pod)
    threads, per_thread = 8, 200
    commits_before = pod.store.commits

    def write(t: int) -> None:
        for n in range(per_thread):
            pod.create(OWNER, [{"type": "Note", "text": f"{t}", "n": n}])

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert pod.store.count("Note") == threads * per_thread
    assert pod.store.commits - commits_before <= threads * per_thread


def test_a_failing_write_does_not_fail_the_writes_it_shared_a_commit_with(pod: Pod) -> None:
    owner_client(pod)
    pod.create(OWNER, [{"id": "taken", "type": "Note"}])
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def write(item_id: str) -> None:
        barrier.wait()
        try:
            pod.create(OWNER, [{"id": item_id, "type": "Note"}])
        except Conflict as exc:
            errors.append(exc)

    workers = [
        threading.Thread(target=write, args=(i,)) for i in ("taken", "a", "b", "c", "d", "e")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert len(errors) == 1 and "'taken' is already taken" in str(errors[0])
    assert pod.store.count("Note") == 6


@pytest.mark.services
def test_postgresql_store_in_its_own_schema() -> None:
    from plugyard.sdk.testing import require_service

    require_service("postgresql")
    schema = f"pod_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    store = Store("postgresql+psycopg://postgres@127.0.0.1:5432/test", schema=schema)
    try:
        store.create()
        pod = Pod(store)
        client = owner_client(pod)
        client.bulk(create=[Note("pg", n) for n in range(50)] + [Note(None, 99)])
        assert len(client.search({"type": "Note", "text": "pg"})) == 50
        assert [n.n for n in client.search({"type": "Note", "text": None})] == [99]
        assert len(client.search({"type": "Note", "n": 7})) == 1
        run, token = pod.create_run(OWNER, {"plugin_module": "m", "plugin_name": "P"})
        pod.update_run(pod.scope_for(token), run["id"], {"status": "started"})
        assert Pod(store).schema.properties["Note"] == schema_of(Note)["Note"]["properties"]

        threads = [
            threading.Thread(
                target=lambda t=t: [
                    pod.create(OWNER, [{"type": "Note", "text": f"t{t}"}]) for _ in range(50)
                ]
            )
            for t in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert store.count("Note") == 51 + 200
    finally:
        store.drop_schema()


@pytest.mark.services
def test_a_large_bulk_on_postgresql_is_stored_whole_or_not_at_all() -> None:
    from plugyard.sdk.testing import require_service

    require_service("postgresql")
    schema = f"pod_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    store = Store("postgresql+psycopg://postgres@127.0.0.1:5432/test", schema=schema)
    try:
        store.create()
        pod = Pod(store)
        client = owner_client(pod)
        notes = [Note(f"n{i}" if i % 3 else None, i, id=f"note-{i:04d}") for i in range(500)]
        client.bulk(create=notes)
        assert store.count("Note") == 500
        got = client.get("note-0007")
        assert (got.text, got.n, got.type) == ("n7", 7, "Note")
        assert [n.n for n in client.search({"type": "Note", "text": None})][:3] == [0, 3, 6]
        # one id already taken in a second large batch: a Conflict naming it, nothing stored
        clash = [Note("new", i, id=f"fresh-{i:04d}") for i in range(300)]
        clash.append(Note("again", 1, id="note-0042"))
        with pytest.raises(Conflict, match="note-0042"):
            client.bulk(create=clash)
        assert store.count("Note") == 500
        assert client.search({"type": "Note", "text": "new"}) == []
    finally:
        store.drop_schema()


def test_integers_past_64_bits_and_non_finite_floats_keep_their_values(pod: Pod) -> None:
    pod.add_schema(OWNER, {"Reading": {"properties": {"big": "int", "x": "float"}, "edges": {}}})
    values = [(2**70, 1.5), (-(2**65), float("inf")), (3, float("-inf")), (4, None)]
    items = [
        {"id": f"r{i}", "type": "Reading", "big": b, "x": x} for i, (b, x) in enumerate(values)
    ]
    items.append({"id": "nan", "type": "Reading", "big": 0, "x": float("nan")})
    pod.bulk(OWNER, {"create": items})
    for i, (big, x) in enumerate(values):
        got = pod.get(OWNER, f"r{i}")
        assert (got["big"], got["x"]) == (big, x)
    nan = pod.get(OWNER, "nan")["x"]
    assert nan != nan  # still NaN, not null


def test_a_write_at_once_gives_way_when_it_would_have_to_wait(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'pod.db'}")
    store.create()
    pod = Pod(store)
    owner_client(pod)
    other = sqlite3.connect(tmp_path / "pod.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert pod.create_at_once(OWNER, [{"id": "a", "type": "Note"}], where="item") is None
        assert time.monotonic() - started < BUSY_TIMEOUT_MS / 1000 / 2
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert pod.create_at_once(OWNER, [{"id": "a", "type": "Note"}], where="item") == ["a"]
    assert pod.create_at_once(OWNER, [{"id": "a", "type": "Note"}], where="item") is None
    with pytest.raises(Conflict, match="'a' is already taken"):
        pod.create(OWNER, [{"id": "a", "type": "Note"}], where="item")
    with pytest.raises(BadRequest, match="unknown item type 'Nope'"):
        pod.create_at_once(OWNER, [{"type": "Nope"}], where="item")
    with store._writer.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
    assert store.count("Note") == 1
    store.close()


def test_the_fast_check_of_plain_items_refuses_what_the_full_check_refuses(pod: Pod) -> None:
    owner_client(pod)
    pod.create(OWNER, [{"type": "Note", "text": "seen", "n": 1}])  # the type is known now
    bad = [
        ({"type": "Note", "n": "1"}, "bulk.create[1]: Note.n must be int, got str '1'"),
        ({"type": "Note", "n": True}, "bulk.create[1]: Note.n must be int, got bool True"),
        ({"type": "Note", "colour": "red"}, "bulk.create[1]: Note has no property 'colour'"),
        ({"type": "Note", "id": 7}, "bulk.create[1]: id 7 is not 1-64 letters"),
        ({"type": "Note", "id": "x y"}, "bulk.create[1]: id 'x y' is not 1-64 letters"),
    ]
    for item, message in bad:
        with pytest.raises(BadRequest, match=re.escape(message)):
            pod.bulk(OWNER, {"create": [{"type": "Note", "n": 2}, item]})
    with pytest.raises(BadRequest, match=re.escape("bulk.create[1]: id 'twice' appears twice")):
        pod.bulk(OWNER, {"create": [{"type": "Note", "id": "twice"}] * 2})
    assert pod.store.count("Note") == 1
