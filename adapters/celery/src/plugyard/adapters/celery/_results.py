"""The embedded result backend: a key-value table in a SQLite file (``plugyard+sqlite://``).

Celery's ``db+sqlite`` backend goes through the SQLAlchemy ORM and costs milliseconds per
result; this one is one statement per operation and is shared by every process on a machine.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from celery.app import backends  # type: ignore[import-untyped]
from celery.backends.base import KeyValueStoreBackend  # type: ignore[import-untyped]
from plugyard.host.sqlite import connect, path_from_url

__all__ = ["SQLiteBackend", "register"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires REAL
);
"""


class SQLiteBackend(KeyValueStoreBackend):  # type: ignore[misc]
    """Results in ``FILE`` for ``result_backend = "plugyard+sqlite:///FILE"``."""

    supports_autoexpire = False

    def __init__(self, url: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, url=url, **kwargs)
        self._path = path_from_url(url or "")
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0

    @property
    def db(self) -> sqlite3.Connection:
        import os

        if self._db is None or self._pid != os.getpid():
            db = connect(self._path)
            db.executescript(_SCHEMA)
            self._db, self._pid = db, os.getpid()
        return self._db

    def _expiry(self) -> float | None:
        expires = self.expires
        return time.time() + float(expires) if expires else None

    def get(self, key: bytes | str) -> Any:
        with self._lock:
            row = self.db.execute(
                "SELECT value FROM results WHERE key = ?", (_text(key),)
            ).fetchone()
        return row[0] if row else None

    def mget(self, keys: list[bytes | str]) -> list[Any]:
        return [self.get(key) for key in keys]

    def set(self, key: bytes | str, value: Any, state: Any = None) -> None:
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO results (key, value, expires) VALUES (?, ?, ?)",
                (_text(key), value, self._expiry()),
            )

    def delete(self, key: bytes | str) -> None:
        with self._lock:
            self.db.execute("DELETE FROM results WHERE key = ?", (_text(key),))

    def incr(self, key: bytes | str) -> int:
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT value FROM results WHERE key = ?", (_text(key),))
                found = row.fetchone()
                value = int(found[0]) + 1 if found else 1
                db.execute(
                    "INSERT OR REPLACE INTO results (key, value, expires) VALUES (?, ?, ?)",
                    (_text(key), str(value), self._expiry()),
                )
            finally:
                db.execute("COMMIT")
        return value

    def expire(self, key: bytes | str, value: int) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE results SET expires = ? WHERE key = ?", (time.time() + value, _text(key))
            )

    def cleanup(self) -> None:
        """Drop expired results (Celery's ``backend_cleanup`` task calls this)."""
        with self._lock:
            self.db.execute(
                "DELETE FROM results WHERE expires IS NOT NULL AND expires < ?", (time.time(),)
            )


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key


def register() -> None:
    """Make ``plugyard+sqlite://`` result-backend URLs resolve to :class:`SQLiteBackend`."""
    backends.BACKEND_ALIASES.setdefault("plugyard", f"{__name__}:SQLiteBackend")
