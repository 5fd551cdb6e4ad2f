"""The embedded broker: a kombu virtual transport on one SQLite file, polled every few ms.

Reached as ``plugyard+sqlite:///path/broker.sqlite``. Several worker processes and clients on
one machine share the file (WAL mode; a message is taken and deleted in one ``BEGIN
IMMEDIATE`` transaction, so each is delivered once). Unlike kombu's stock ``sqla+sqlite``
transport it polls at ``polling_interval`` (default 5 ms; the stock default of 1 s makes every
round trip take a second) and does not keep delivered messages.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, virtual

from plugyard.host.sqlite import connect, path_from_url

__all__ = ["ALIAS", "Channel", "Transport", "register"]

ALIAS = "plugyard"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue, id);
"""


class Channel(virtual.Channel):
    """One SQLite connection; each kombu operation is one short statement."""

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        """The channel's connection, opened (and the schema created) on first use."""
        if self._db is None:
            path = path_from_url(self.connection.client.hostname or "")
            db = connect(path)
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO messages (queue, payload) VALUES (?, ?)", (queue, json.dumps(message))
            )

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        with self._lock:
            db = self.db
            row = db.execute(
                "SELECT id FROM messages WHERE queue = ? ORDER BY id LIMIT 1", (queue,)
            ).fetchone()
            if row is None:
                raise Empty()
            db.execute("BEGIN IMMEDIATE")
            try:
                taken = db.execute(
                    "DELETE FROM messages WHERE id = (SELECT id FROM messages WHERE queue = ? "
                    "ORDER BY id LIMIT 1) RETURNING payload",
                    (queue,),
                ).fetchone()
            finally:
                db.execute("COMMIT")
        if taken is None:
            raise Empty()
        return json.loads(taken[0])

    def _size(self, queue: str) -> int:
        with self._lock:
            row = self.db.execute("SELECT COUNT(*) FROM messages WHERE queue = ?", (queue,))
            return int(row.fetchone()[0])

    def _purge(self, queue: str) -> int:
        with self._lock:
            cursor = self.db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
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


def register() -> None:
    """Make ``plugyard+sqlite://`` URLs resolve to :class:`Transport` in this process."""
    TRANSPORT_ALIASES.setdefault(ALIAS, f"{__name__}:Transport")
