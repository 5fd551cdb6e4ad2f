"""The embedded broker keeps a fetched message until it is acknowledged, and delivers it
again when its consumer's process is gone or its visibility timeout has passed."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from plugyard.adapters.celery import _transport


@pytest.fixture
def url(tmp_path: Path) -> str:
    _transport.register()
    return f"plugyard+sqlite:///{tmp_path / 'broker.sqlite'}"


def _take(url: str, **options: Any) -> Any:
    conn = Connection(url, transport_options=options)
    queue = conn.SimpleQueue("jobs")
    return conn, queue, queue.get(timeout=2)


def _rows(url: str) -> list[tuple[str | None]]:
    path = url.split(":///", 1)[1]
    with sqlite3.connect(path) as db:
        return db.execute("SELECT taken_by FROM messages ORDER BY id").fetchall()


def test_a_fetched_message_stays_until_acked(url: str) -> None:
    with Connection(url) as conn:
        conn.SimpleQueue("jobs").put({"n": 1})
    conn, queue, message = _take(url)
    assert _rows(url) == [(f"{socket.gethostname()}:{os.getpid()}",)]
    assert not message.delivery_info.get("redelivered")
    message.ack()
    assert _rows(url) == []
    queue.close()
    conn.close()


def test_a_message_of_a_dead_consumer_is_delivered_again(url: str) -> None:
    with Connection(url) as conn:
        conn.SimpleQueue("jobs").put({"n": 2})
    path = url.split(":///", 1)[1]
    conn, queue, _message = _take(url)
    with sqlite3.connect(path) as db:  # as if a process that no longer exists took it
        db.execute("UPDATE messages SET taken_by = ?", (f"{socket.gethostname()}:999999999",))
    queue.close()
    conn.close()
    conn, queue, again = _take(url)
    assert again.payload == {"n": 2}
    # marked as Redis and AMQP mark it: a worker tells a second delivery from a first
    assert again.delivery_info["redelivered"] is True
    assert again.headers["redelivered"] is True
    again.ack()
    assert _rows(url) == []
    queue.close()
    conn.close()


def test_a_message_kept_past_its_visibility_timeout_is_delivered_again(url: str) -> None:
    with Connection(url) as conn:
        conn.SimpleQueue("jobs").put({"n": 3})
    first_conn, first_queue, first = _take(url)
    path = url.split(":///", 1)[1]
    with sqlite3.connect(path) as db:  # taken an hour and a minute ago
        db.execute("UPDATE messages SET taken_at = taken_at - 3660")
    conn, queue, again = _take(url)
    assert again.payload == first.payload == {"n": 3}
    assert again.delivery_info["redelivered"] is True
    for item in (queue, conn, first_queue, first_conn):
        item.close()


def test_a_closed_consumer_gives_back_what_it_did_not_ack(url: str) -> None:
    with Connection(url) as conn:
        conn.SimpleQueue("jobs").put({"n": 4})
    conn, queue, _message = _take(url)
    queue.close()
    conn.close()
    assert _rows(url) == [(None,)]
    conn, queue, again = _take(url)
    assert again.payload == {"n": 4} and again.delivery_info["redelivered"] is True
    queue.close()
    conn.close()
