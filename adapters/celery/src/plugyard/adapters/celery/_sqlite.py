"""SQLite connections for the embedded broker, result backend and job store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["connect", "path_from_url"]


def path_from_url(url: str) -> Path:
    """The file of ``sqlite:///relative`` or ``sqlite:////absolute`` (any ``x+`` prefix)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    parts = urlsplit("sqlite://" + rest)
    path = unquote(parts.path)
    if not path or path == "/":
        raise ValueError(f"{url!r}: expected sqlite:///FILE with a file name")
    return Path(path[1:])


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL, shared-file friendly, usable from any thread
    (callers serialise use with their own lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn
