"""The embedded broker: a kombu virtual transport on one SQLite file, polled every few ms.

Reached as ``plugyard+sqlite:///path/broker.sqlite``. Several worker processes and clients on
one machine share the file (WAL mode). Unlike kombu's stock ``sqla+sqlite`` transport it polls
at ``polling_interval`` (default 5 ms; the stock default of 1 s makes every round trip take a
second), and it loses no message when a worker dies:

- a fetched message is *taken* (marked with the consumer's host name and pid, in one
  ``BEGIN IMMEDIATE`` transaction, so each is delivered to one consumer at a time), and
  deleted only when it is acknowledged;
- a rejected message with ``requeue``, and every unacknowledged one of a consumer that closes,
  is given back;
- a message taken by a process of this machine that no longer exists (a worker killed with
  SIGKILL), or taken longer ago than the ``visibility_timeout`` transport option (one hour
  by default, as on Redis), is given back too, and delivered again;
- a message given back is marked ``redelivered``, as Redis and AMQP mark it.

A consumer that does not acknowledge (``no_ack``, such as Celery's control replies) has its
messages deleted as they are fetched.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, virtual

from plugyard.host import process_exists
from plugyard.host.sqlite import connect, path_from_url

__all__ = ["ALIAS", "Channel", "Transport", "register"]

ALIAS = "plugyard"

logger = logging.getLogger("plugyard.adapters.celery.broker")

VISIBILITY_TIMEOUT = 3600.0
"""Seconds a taken, unacknowledged message waits before it is delivered again."""

_SWEEP_INTERVAL = 1.0

# A message given back carries ``redelivered``, as on Redis and AMQP, so a worker can tell a
# second delivery (Celery's ``request.delivery_info["redelivered"]``) from a first one.
_REDELIVERED = (
    "json_set(payload, '$.properties.delivery_info.redelivered', json('true'), "
    "'$.headers.redelivered', json('true'))"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL
);
"""

_COLUMNS = {"tag": "TEXT", "taken_by": "TEXT", "taken_at": "REAL"}

_INDEXES = """
DROP INDEX IF EXISTS messages_queue;
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, taken_by, id);
CREATE INDEX IF NOT EXISTS messages_tag ON messages (tag);
"""


def _migrate(db: sqlite3.Connection) -> None:
    """Create the table, and add the columns a file made by an older version lacks."""
    db.executescript(_SCHEMA)
    have = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
    for column, kind in _COLUMNS.items():
        if column not in have:
            try:
                db.execute(f"ALTER TABLE messages ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise
    db.executescript(_INDEXES)


class Channel(virtual.Channel):
    """One SQLite connection; each kombu operation is one short statement."""

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._hostname = socket.gethostname()
        self._no_ack_queues: set[str] = set()
        self._next_sweep = 0.0
        options = getattr(connection.client, "transport_options", None) or {}
        self.visibility_timeout = float(options.get("visibility_timeout", VISIBILITY_TIMEOUT))

    @property
    def consumer(self) -> str:
        """Who takes messages on this channel: ``HOSTNAME:PID`` (the pid after a fork)."""
        return f"{self._hostname}:{os.getpid()}"

    @property
    def db(self) -> sqlite3.Connection:
        """The channel's connection, opened (and the schema created) on first use."""
        if self._db is None:
            path = path_from_url(self.connection.client.hostname or "")
            db = connect(path)
            _migrate(db)
            self._db = db
        return self._db

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        tag = (message.get("properties") or {}).get("delivery_tag")
        with self._lock:
            self.db.execute(
                "INSERT INTO messages (queue, payload, tag) VALUES (?, ?, ?)",
                (queue, json.dumps(message), tag),
            )

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Any, consumer_tag: str, **kwargs: Any
    ) -> Any:
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)  # type: ignore[no-untyped-call]

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_get(queue, no_ack, **kwargs)  # type: ignore[no-untyped-call]

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        now = time.time()
        with self._lock:
            db = self.db
            if now >= self._next_sweep:
                self._next_sweep = now + _SWEEP_INTERVAL
                self._give_back_orphans(db, now)
            row = db.execute(
                "SELECT id FROM messages WHERE queue = ? AND taken_by IS NULL ORDER BY id LIMIT 1",
                (queue,),
            ).fetchone()
            if row is None:
                raise Empty()
            db.execute("BEGIN IMMEDIATE")
            try:
                if queue in self._no_ack_queues:
                    taken = db.execute(
                        "DELETE FROM messages WHERE id = (SELECT id FROM messages WHERE queue = ? "
                        "AND taken_by IS NULL ORDER BY id LIMIT 1) RETURNING payload",
                        (queue,),
                    ).fetchone()
                else:
                    taken = db.execute(
                        "UPDATE messages SET taken_by = ?, taken_at = ? WHERE id = (SELECT id "
                        "FROM messages WHERE queue = ? AND taken_by IS NULL ORDER BY id LIMIT 1) "
                        "RETURNING payload",
                        (self.consumer, now, queue),
                    ).fetchone()
            finally:
                db.execute("COMMIT")
        if taken is None:
            raise Empty()
        return json.loads(taken[0])

    def _give_back_orphans(self, db: sqlite3.Connection, now: float) -> None:
        """Make messages deliverable again whose consumer died or kept them too long."""
        dead = []
        prefix = f"{self._hostname}:"
        for (consumer,) in db.execute(
            "SELECT DISTINCT taken_by FROM messages WHERE taken_by IS NOT NULL"
        ).fetchall():
            if consumer.startswith(prefix):
                pid = consumer[len(prefix) :]
                if pid.isdigit() and not process_exists(int(pid)):
                    dead.append(consumer)
        cutoff = now - self.visibility_timeout
        marks = ",".join("?" * len(dead))
        given = db.execute(
            f"UPDATE messages SET taken_by = NULL, taken_at = NULL, payload = {_REDELIVERED} "
            f"WHERE taken_by IS NOT NULL AND (taken_at < ? OR taken_by IN ({marks}))",
            (cutoff, *dead),
        ).rowcount
        if given:
            logger.warning(
                "embedded broker: %d unacknowledged message(s) delivered again (%s)",
                given,
                f"consumer gone: {', '.join(dead)}" if dead else "visibility timeout",
            )

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)  # type: ignore[no-untyped-call]
        with self._lock:
            self.db.execute(
                "DELETE FROM messages WHERE tag = ? AND taken_by = ?", (delivery_tag, self.consumer)
            )

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
        if not requeue:
            with self._lock:
                self.db.execute(
                    "DELETE FROM messages WHERE tag = ? AND taken_by = ?",
                    (delivery_tag, self.consumer),
                )

    def _restore(self, message: Any) -> None:
        """Give a taken message back (a requeue, or a consumer closing before it acked).

        The row is kept while taken, so nothing is written again: a message no longer ours
        (given back after its visibility timeout) is left to whoever has it now.
        """
        with self._lock:
            self.db.execute(
                f"UPDATE messages SET taken_by = NULL, taken_at = NULL, payload = {_REDELIVERED} "
                "WHERE tag = ? AND taken_by = ?",
                (message.delivery_tag, self.consumer),
            )

    def _size(self, queue: str) -> int:
        with self._lock:
            row = self.db.execute(
                "SELECT COUNT(*) FROM messages WHERE queue = ? AND taken_by IS NULL", (queue,)
            )
            return int(row.fetchone()[0])

    def _purge(self, queue: str) -> int:
        with self._lock:
            cursor = self.db.execute(
                "DELETE FROM messages WHERE queue = ? AND taken_by IS NULL", (queue,)
            )
            return int(cursor.rowcount)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self._purge(queue)

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        """Queues need no declaration: a message row names its queue."""

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return True

    def close(self) -> None:
        super().close()  # type: ignore[no-untyped-call]
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class Transport(virtual.Transport):
    """``plugyard+sqlite:///FILE``: the broker plugyard runs on when none is configured."""

    Channel = Channel
    polling_interval = 0.005
    default_port = None
    driver_type = "sqlite"
    driver_name = "sqlite3"
    connection_errors = (*virtual.Transport.connection_errors, sqlite3.OperationalError)  # type: ignore[assignment]
    channel_errors = (*virtual.Transport.channel_errors, sqlite3.DatabaseError)  # type: ignore[assignment]

    def driver_version(self) -> str:
        return sqlite3.sqlite_version

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """Wait for a message as kombu does, looking every ``STOP_CHECK`` seconds whether
        this process's worker was told to stop: Celery's consumer loop waits up to 2 s per
        call before it looks, which made every embedded worker's stop take that long."""
        started = time.monotonic()
        while True:
            slice_ = STOP_CHECK
            if timeout is not None:
                slice_ = min(slice_, max(0.0, timeout - (time.monotonic() - started)))
            try:
                super().drain_events(connection, timeout=slice_)  # type: ignore[no-untyped-call]
                return
            except TimeoutError:
                if _worker_stopping():
                    raise
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise


STOP_CHECK = 0.1
"""Seconds a wait for a message lasts before the transport looks whether to stop."""


def _worker_stopping() -> bool:
    """Whether Celery has told this process's worker to stop or terminate."""
    from celery.worker import state  # type: ignore[import-untyped]

    return any(
        flag is not None and flag is not False
        for flag in (state.should_stop, state.should_terminate)
    )


def register() -> None:
    """Make ``plugyard+sqlite://`` URLs resolve to :class:`Transport` in this process."""
    TRANSPORT_ALIASES.setdefault(ALIAS, f"{__name__}:Transport")
