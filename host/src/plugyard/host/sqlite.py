"""SQLite set-up shared by every adapter that stores in SQLite: one place for the pragmas.

WAL journaling (readers never block the writer), ``synchronous=NORMAL`` (durable at each
checkpoint, fast per transaction) and a 30-second busy timeout (a second process waits for the
write lock instead of failing). Use :func:`connect` for plain ``sqlite3``, or
:func:`apply_pragmas` as SQLAlchemy's ``connect`` event listener.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["BUSY_TIMEOUT_MS", "apply_pragmas", "connect", "path_from_url"]

BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another's write lock."""


def apply_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """Put a new DB-API connection in WAL mode with the shared settings (usable as a
    SQLAlchemy ``connect`` event listener).

    The busy timeout goes first, so every later statement waits for another connection's
    lock. The journal-mode statement is retried within the same budget: while another
    process opens or recovers the write-ahead log, SQLite answers "database is locked" to it
    without calling the busy handler.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.005
        while True:
            try:
                mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.25)
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def connect(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` (its folder created) in autocommit mode with the shared
    pragmas, usable from any thread: callers serialise its use with a lock of their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    apply_pragmas(conn)
    return conn


def path_from_url(url: str) -> Path:
    """The file of ``sqlite:///relative`` or ``sqlite:////absolute`` (any ``x+`` prefix)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    parts = urlsplit("sqlite://" + rest)
    path = unquote(parts.path)
    if not path or path == "/":
        raise ValueError(f"{url!r}: expected sqlite:///FILE with a file name")
    return Path(path[1:])
