"""The job store: each task's job status, its cancel flag, and an ordered log of status events.

Written by every process that sends or runs tasks (through :class:`~._jobs.StatusWriter`,
in batches) and read by the host, which relays the log as ``task.<name>.<status>`` events;
the log holds one entry per written batch, the batch's events in order.
Two implementations: a SQLite file for one machine, Redis for several. Every status change
goes through :func:`plugyard.sdk.tasks.next_status`, the one transition table.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from plugyard.host.sqlite import connect
from plugyard.sdk.tasks import TRANSITIONS, JobStatus, next_status

__all__ = ["Job", "JobStore", "SQLiteJobStore", "Update", "open_store"]

logger = logging.getLogger("plugyard.adapters.celery")

PROGRESS = "progress"
CANCEL_MEMORY = 86_400.0


@dataclass(frozen=True, slots=True)
class Update:
    """One reported change: a new status, or (``progress=True``) progress fields only."""

    task_id: str
    name: str
    status: JobStatus
    info: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    time: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Job:
    """What the store knows of one task's job."""

    id: str
    name: str
    status: JobStatus
    info: dict[str, Any]
    updated: float
    cancel_requested: bool = False
    cancel_deadline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``id``, ``name``, ``status``, ``updated``, ``cancel_requested`` and info."""
        return {
            **self.info,
            "id": self.id,
            "name": self.name,
            "status": str(self.status),
            "updated": self.updated,
            "cancel_requested": self.cancel_requested,
        }


class JobStore(Protocol):
    """Where job status lives; safe to use from several threads and processes."""

    def apply(self, updates: Sequence[Update]) -> None:
        """Record updates in order; a move the transition table forbids is skipped."""

    def get(self, task_id: str) -> Job | None:
        """The job, or ``None`` if nothing was ever reported for it."""

    def request_cancel(self, task_id: str, name: str, deadline: float) -> Job | None:
        """Set the cancel flag and return the job as it was before."""

    def cancel_flags(self) -> set[str]:
        """Ids of tasks whose cancellation was asked in the last day."""

    def overdue_cancels(self, now: float) -> list[Job]:
        """Jobs still CANCELING after their deadline."""

    def running_jobs(self) -> list[Job]:
        """Jobs RUNNING or CANCELING now (to find those of a worker that died)."""

    def last_event(self) -> str:
        """A cursor just after the newest logged event."""

    def events_after(self, cursor: str, wait: float) -> tuple[str, list[dict[str, Any]]]:
        """Logged events after ``cursor`` (waiting up to ``wait`` s for one), and the new cursor."""

    def close(self) -> None:
        """Release connections."""


encode = json.JSONEncoder(default=str, separators=(",", ":")).encode
"""JSON text of a value; what JSON cannot hold is written as its ``str()``."""

_string = json.encoder.encode_basestring_ascii

_STATUS = {status.value: status for status in JobStatus}
_NEW: tuple[None, str] = (None, "{}")


def event_members(update: Update) -> str:
    """``"id":...,"name":...,"time":...``: the members every logged event ends with."""
    return f'"id":{_string(update.task_id)},"name":{_string(update.name)},"time":{update.time!r}'


def event_json(update: Update, status: str) -> str:
    """The logged event of an update: its info, then ``status``, ``id``, ``name`` and
    ``time`` (which win over info keys of the same name)."""
    head = f"{encode(update.info)[:-1]}," if update.info else "{"
    return f'{head}"status":"{status}",{event_members(update)}}}'


def resolve(current: JobStatus | None, update: Update) -> JobStatus | None:
    """The status an update leads to, or ``None`` to skip it (logged at debug level)."""
    if update.progress:
        return current if current in (JobStatus.RUNNING, JobStatus.CANCELING) else None
    new = next_status(current, update.status, task_id=update.task_id, quiet=True)
    if new is None and update.status is JobStatus.SUCCESS and current is JobStatus.CANCELING:
        return JobStatus.CANCELED
    if new is None:
        logger.debug(
            "task %s: %s after %s ignored", update.task_id, update.status, current or "inactive"
        )
    return new


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    info TEXT NOT NULL,
    updated REAL NOT NULL,
    cancel_at REAL,
    cancel_deadline REAL
);
CREATE INDEX IF NOT EXISTS jobs_cancel ON jobs (cancel_at) WHERE cancel_at IS NOT NULL;
-- One row per written batch: a JSON array of its events, in order.
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    data TEXT NOT NULL
);
"""


_READ_JOBS = (
    "SELECT json_group_array(json_array(id, status, info)) FROM jobs "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
_WRITE_JOBS = (
    "INSERT INTO jobs (id, name, status, info, updated) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]') "
    "FROM json_each(?) WHERE true "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status, "
    "info = excluded.info, updated = excluded.updated"
)
_LOG_EVENTS = "INSERT INTO events (data) VALUES (?)"


class SQLiteJobStore:
    """Job status in a SQLite file (WAL): one machine, any number of processes."""

    keep_batches = 10_000
    """The events log keeps this many of the latest batches (rows) for the relay."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._writes = 0

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():
            db = connect(self.path)
            db.executescript(_SQLITE_SCHEMA)
            self._db, self._pid = db, os.getpid()
        return self._db

    def _row(self, task_id: str) -> Job | None:
        row = self.db.execute(
            "SELECT id, name, status, info, updated, cancel_at, cancel_deadline FROM jobs "
            "WHERE id = ?",
            (task_id,),
        ).fetchone()
        if row is None:
            return None
        return Job(
            row[0],
            row[1],
            JobStatus(row[2]),
            json.loads(row[3]),
            row[4],
            row[5] is not None,
            row[6],
        )

    def apply(self, updates: Sequence[Update]) -> None:
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                self._apply_batch(db, updates)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._writes += 1
            if self._writes > 1_000:
                self._writes = 0
                db.execute(
                    "DELETE FROM events WHERE seq < (SELECT MAX(seq) FROM events) - ?",
                    (self.keep_batches,),
                )

    def _apply_batch(self, db: sqlite3.Connection, updates: Sequence[Update]) -> None:
        """Read every job of the batch at once, apply the table in memory, write in bulk.

        Each step is one statement over a JSON array (SQLite's ``json_each``), not one per
        row: SQLite runs without Python's lock, and a statement per row would hand that lock
        back and forth with the threads sending and running tasks. A job's info stays the
        JSON text read from the file until an update adds to it."""
        current: dict[str, tuple[JobStatus | None, str | dict[str, Any]]] = {}
        ids = list({u.task_id for u in updates})
        (found,) = db.execute(_READ_JOBS, (encode(ids),)).fetchone()
        for task_id, status, info in json.loads(found):
            current[task_id] = (_STATUS[status], info)
        written: dict[str, Update] = {}
        events = []
        for update in updates:
            status, info = current.get(update.task_id, _NEW)
            new = resolve(status, update)
            if new is None:
                continue
            if update.info:
                if isinstance(info, str):
                    info = json.loads(info) if info != "{}" else {}
                info = {**info, **update.info}
            current[update.task_id] = (new, info)
            written[update.task_id] = update
            events.append(event_json(update, PROGRESS if update.progress else new.value))
        if not written:
            return
        rows = []
        for task_id, update in written.items():
            status, info = current[task_id]
            assert status is not None
            rows.append(
                f'[{_string(task_id)},{_string(update.name)},"{status.value}",'
                f"{info if isinstance(info, str) else encode(info)},{update.time!r}]"
            )
        db.execute(_WRITE_JOBS, (f"[{','.join(rows)}]",))
        db.execute(_LOG_EVENTS, (f"[{','.join(events)}]",))  # a batch is one row

    def get(self, task_id: str) -> Job | None:
        with self._lock:
            return self._row(task_id)

    def request_cancel(self, task_id: str, name: str, deadline: float) -> Job | None:
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                before = self._row(task_id)
                db.execute(
                    "INSERT INTO jobs (id, name, status, info, updated, cancel_at, "
                    "cancel_deadline) VALUES (?, ?, 'inactive', '{}', ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET cancel_at = excluded.cancel_at, "
                    "cancel_deadline = excluded.cancel_deadline",
                    (task_id, name, time.time(), time.time(), deadline),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return before

    def cancel_flags(self) -> set[str]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id FROM jobs WHERE cancel_at IS NOT NULL AND cancel_at > ?",
                (time.time() - CANCEL_MEMORY,),
            )
            return {row[0] for row in rows}

    def overdue_cancels(self, now: float) -> list[Job]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id FROM jobs WHERE status = 'canceling' AND cancel_deadline < ?", (now,)
            ).fetchall()
            return [job for job in (self._row(row[0]) for row in rows) if job is not None]

    def running_jobs(self) -> list[Job]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id FROM jobs WHERE status IN ('running', 'canceling')"
            ).fetchall()
            return [job for job in (self._row(row[0]) for row in rows) if job is not None]

    def last_event(self) -> str:
        with self._lock:
            row = self.db.execute("SELECT MAX(seq) FROM events").fetchone()
        return str(row[0] or 0)

    def events_after(self, cursor: str, wait: float) -> tuple[str, list[dict[str, Any]]]:
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                rows = self.db.execute(
                    "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT 100",
                    (int(cursor),),
                ).fetchall()
            if rows or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if not rows:
            return cursor, []
        events: list[dict[str, Any]] = []
        for _, data in rows:
            logged = json.loads(data)  # a batch's array, or one event (older files)
            events.extend(logged if isinstance(logged, list) else [logged])
        return str(rows[-1][0]), events

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None


def allowed_before(status: JobStatus) -> list[str]:
    """Statuses from which ``status`` may follow (``inactive`` stands for an unknown job)."""
    return [str(s) for s, after in TRANSITIONS.items() if status in after]


def open_store(url: str, *, prefix: str = "plugyard:") -> JobStore:
    """A store for ``sqlite:///FILE`` or ``redis://HOST:PORT/DB``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from ._store_redis import RedisJobStore

        return RedisJobStore(url, prefix=prefix)
    from plugyard.host.sqlite import path_from_url

    return SQLiteJobStore(path_from_url(url))


def ids(jobs: Iterable[Job]) -> list[str]:
    """The ids of some jobs (for messages)."""
    return [job.id for job in jobs]
