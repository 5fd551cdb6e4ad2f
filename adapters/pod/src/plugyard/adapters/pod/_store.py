"""The pod's storage: items, edges, schema and files in SQLite or PostgreSQL (SQLAlchemy Core).

Writes go through :meth:`Store.write`, a group commit: callers that write at the same time
share one transaction, so a burst of requests costs one commit, never one per item. SQLite runs
in WAL mode with a busy timeout and ``BEGIN IMMEDIATE`` for writes, so several processes may
write to one file without losing anything.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from plugyard.host.sqlite import BUSY_TIMEOUT_MS, apply_pragmas

__all__ = ["ItemRow", "ItemValues", "Store"]

_T = TypeVar("_T")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

metadata = sa.MetaData()
items = sa.Table(
    "pod_items",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(128), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=True, index=True),
    sa.Column("properties", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
edges = sa.Table(
    "pod_edges",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("target", sa.String(64), primary_key=True, index=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
_ITEM_COLUMNS = ("id", "type", "run_id", "properties", "created_at", "updated_at")
ItemValues = tuple[str, str, "str | None", str, float, float]
"""One item row as the store writes it, in the order of its columns."""
_COPY_FROM = 64
"""From this many items on, PostgreSQL inserts through ``COPY`` instead of ``executemany``."""
schema_table = sa.Table(
    "pod_schema",
    metadata,
    sa.Column("item_type", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value_type", sa.String(128), nullable=False),
)
files = sa.Table(
    "pod_files",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One stored item: its columns, with ``properties`` decoded."""

    id: str
    type: str
    run_id: str | None
    properties: dict[str, Any]
    raw: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """The item as the API returns it."""
        return {
            **self.properties,
            "id": self.id,
            "type": self.type,
            "run_id": self.run_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _row(row: Any) -> ItemRow:
    return ItemRow(
        row.id,
        row.type,
        row.run_id,
        json.loads(row.properties),
        row.properties,
        row.created_at,
        row.updated_at,
    )


class _Waiter(Generic[_T]):
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: _T | None = None
        self.error: BaseException | None = None


class Store:
    """Items, edges and schema in one database; safe to use from many threads.

    ``url`` is a SQLAlchemy URL (``sqlite:///pod.db``, ``postgresql+psycopg://...``); with
    PostgreSQL, ``schema`` names a schema to keep the tables in (created if missing).
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = sa.engine.make_url(url)
        self.dialect = self.url.get_backend_name()
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"pod schema name {schema!r} is not a plain SQL identifier")
        self.schema = schema
        self._writer, self._reader = self._engines()
        mark = "?" if self.dialect == "sqlite" else "%s"
        self._insert_sql = (
            f"INSERT INTO pod_items ({', '.join(_ITEM_COLUMNS)}) VALUES ({', '.join([mark] * 6)})"
        )
        self._queue: deque[tuple[Callable[[Connection], Any], _Waiter[Any]]] = deque()
        self._qlock = threading.Lock()
        self._wlock = threading.Lock()
        self.commits = 0

    def _engines(self) -> tuple[Engine, Engine]:
        if self.dialect == "sqlite":
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            writer = sa.create_engine(self.url, connect_args={"check_same_thread": False})
            reader = sa.create_engine(self.url, connect_args={"check_same_thread": False})
            for engine, immediate in ((writer, True), (reader, False)):
                _sqlite_setup(engine, immediate=immediate)
            return writer, reader
        if self.dialect == "postgresql":
            args: dict[str, Any] = {}
            if self.schema:
                args["options"] = f"-csearch_path={self.schema}"
            engine = sa.create_engine(self.url, connect_args=args, pool_size=10, max_overflow=20)
            return engine, engine
        raise ValueError(
            f"pod database {self.url.render_as_string(hide_password=True)!r}: "
            "only sqlite:// and postgresql:// URLs are supported"
        )

    def create(self) -> None:
        """Create the schema and tables if they do not exist."""
        if self.schema and self.dialect == "postgresql":
            plain = sa.create_engine(self.url)
            try:
                with plain.begin() as conn:
                    conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            finally:
                plain.dispose()
        metadata.create_all(self._writer)

    def drop_schema(self) -> None:
        """Drop the PostgreSQL schema with everything in it (tests clean up with this)."""
        self.close()
        if self.schema and self.dialect == "postgresql":
            plain = sa.create_engine(self.url)
            try:
                with plain.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            finally:
                plain.dispose()

    def close(self) -> None:
        """Close every pooled connection."""
        self._writer.dispose()
        self._reader.dispose()

    # -- writing ------------------------------------------------------------------------------

    def write(self, op: Callable[[Connection], _T]) -> _T:
        """Run ``op(conn)`` in a write transaction, shared with writers arriving meanwhile.

        If a shared transaction fails, each of its operations is retried alone, so one bad
        write never takes the others down; ``op``'s own exception reaches its caller.
        """
        waiter: _Waiter[_T] = _Waiter()
        with self._qlock:
            self._queue.append((op, waiter))
        with self._wlock:
            if not waiter.done:
                with self._qlock:
                    batch = list(self._queue)
                    self._queue.clear()
                self._commit(batch)
        if waiter.error is not None:
            raise waiter.error
        return waiter.value  # type: ignore[return-value]

    def write_at_once(self, op: Callable[[Connection], _T]) -> tuple[bool, _T | None]:
        """Run ``op(conn)`` in a transaction of its own now, if that needs no waiting.

        Only on SQLite, with no other write of this process queued or under way and the
        database's write lock free (another process holding it answers at once instead of
        after the busy timeout). Returns ``(True, value)``, or ``(False, None)`` when the
        write did not happen: it could not start at once, or failed and was rolled back;
        the caller then goes through :meth:`write`, which waits its turn and reports errors.
        A one-row commit in WAL mode costs less than handing the write to a worker thread,
        which is why the HTTP API tries this first for a single item.
        """
        if self.dialect != "sqlite" or self._queue or not self._wlock.acquire(blocking=False):
            return False, None
        try:
            with self._writer.connect() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None
                driver.execute("PRAGMA busy_timeout=0")
                try:
                    with conn.begin():
                        value = op(conn)
                except sa.exc.SQLAlchemyError:
                    return False, None
                finally:
                    driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            self._wlock.release()
        self.commits += 1
        return True, value

    def _commit(self, batch: Sequence[tuple[Callable[[Connection], Any], _Waiter[Any]]]) -> None:
        try:
            with self._writer.begin() as conn:
                results = [op(conn) for op, _ in batch]
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].error = exc
                batch[0][1].done = True
                return
            for single in batch:
                self._commit([single])
            return
        self.commits += 1
        for (_, waiter), value in zip(batch, results, strict=True):
            waiter.value = value
            waiter.done = True

    def insert_items(self, conn: Connection, rows: Sequence[ItemValues]) -> None:
        """Insert item rows, each ``(id, type, run_id, properties, created_at, updated_at)``.

        Goes straight to the driver: the rows are already checked, and SQLAlchemy's per-row
        parameter processing would cost more than the database's insert. On PostgreSQL, a
        large batch goes through ``COPY``.
        """
        if not rows:
            return
        if self.dialect == "postgresql" and len(rows) >= _COPY_FROM:
            _copy_items(conn, rows)
            return
        conn.exec_driver_sql(self._insert_sql, rows if isinstance(rows, list) else list(rows))

    @staticmethod
    def replace_properties(conn: Connection, item_id: str, old: str, new: str, now: float) -> bool:
        """Compare-and-set an item's properties; False if someone changed them meanwhile."""
        result = conn.execute(
            items.update()
            .where(items.c.id == item_id, items.c.properties == old)
            .values(properties=new, updated_at=now)
        )
        return bool(result.rowcount)

    def upsert_item(self, conn: Connection, row: ItemValues) -> None:
        """Insert an item, or replace the one with the same id."""
        conn.execute(items.delete().where(items.c.id == row[0]))
        self.insert_items(conn, [row])

    @staticmethod
    def delete_items(conn: Connection, ids: Sequence[str]) -> int:
        """Delete items and every edge touching them; returns how many items went."""
        if not ids:
            return 0
        conn.execute(edges.delete().where(edges.c.source.in_(ids) | edges.c.target.in_(ids)))
        return int(conn.execute(items.delete().where(items.c.id.in_(ids))).rowcount)

    def insert_edges(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert edges; an edge that already exists is left as it is."""
        if not rows:
            return
        insert: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(insert(edges).on_conflict_do_nothing(), list(rows))

    @staticmethod
    def put_schema(conn: Connection, rows: Iterable[Mapping[str, str]]) -> None:
        """Add schema rows (``item_type, name, kind, value_type``) not stored yet."""
        for row in rows:
            key = (schema_table.c.item_type == row["item_type"]) & (
                schema_table.c.name == row["name"]
            )
            if conn.execute(sa.select(schema_table.c.kind).where(key)).first() is None:
                conn.execute(schema_table.insert(), [dict(row)])

    # -- reading ------------------------------------------------------------------------------

    def get(self, item_id: str) -> ItemRow | None:
        """The item with that id, or None."""
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
        return _row(row) if row is not None else None

    def get_many(self, ids: Sequence[str]) -> dict[str, ItemRow]:
        """Items by id (missing ids are simply absent)."""
        found: dict[str, ItemRow] = {}
        with self._reader.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for row in conn.execute(sa.select(items).where(items.c.id.in_(chunk))):
                    found[row.id] = _row(row)
        return found

    def edges_from(self, source: str) -> list[tuple[str, ItemRow]]:
        """``(edge name, target item)`` for every edge leaving ``source``."""
        query = (
            sa.select(edges.c.name, items)
            .join(items, items.c.id == edges.c.target)
            .where(edges.c.source == source)
            .order_by(edges.c.created_at)
        )
        with self._reader.connect() as conn:
            return [(row.name, _row(row)) for row in conn.execute(query)]

    def search(
        self,
        filters: Mapping[str, Any],
        *,
        run_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[ItemRow]:
        """Items whose columns and properties equal ``filters``; ``run_id`` narrows to a run.

        Items come oldest first (``newest_first`` reverses that); ``offset`` skips as many.
        """
        query = sa.select(items)
        for key, value in filters.items():
            if key in ("id", "type"):
                query = query.where(items.c[key] == value)
            else:
                query = query.where(self._property_equals(key, value))
        if run_id is not None:
            query = query.where(items.c.run_id == run_id)
        if newest_first:
            query = query.order_by(items.c.created_at.desc(), items.c.id.desc())
        else:
            query = query.order_by(items.c.created_at, items.c.id)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self._reader.connect() as conn:
            return [_row(row) for row in conn.execute(query)]

    def _property_equals(self, name: str, value: Any) -> sa.ColumnElement[bool]:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            document = sa.cast(items.c.properties, JSONB)
            if value is None:
                return document.op("->>")(sa.literal(name)).is_(None)
            return document.op("@>")(sa.cast(sa.literal(json.dumps({name: value})), JSONB))
        extracted = sa.func.json_extract(items.c.properties, sa.literal(f'$."{name}"'))
        if value is None:
            return extracted.is_(None)
        return extracted == (int(value) if isinstance(value, bool) else value)

    @staticmethod
    def insert_file(
        conn: Connection, sha256: str, data: bytes, run_id: str | None, now: float
    ) -> bool:
        """Store a file's bytes under their sha256; False if that content is stored already."""
        found = conn.execute(sa.select(files.c.sha256).where(files.c.sha256 == sha256)).first()
        if found is not None:
            return False
        conn.execute(
            files.insert(),
            [
                {
                    "sha256": sha256,
                    "run_id": run_id,
                    "size": len(data),
                    "data": data,
                    "created_at": now,
                }
            ],
        )
        return True

    def get_file(self, sha256: str) -> tuple[bytes, str | None] | None:
        """A file's bytes and the run that stored it, or None."""
        with self._reader.connect() as conn:
            row = conn.execute(
                sa.select(files.c.data, files.c.run_id).where(files.c.sha256 == sha256)
            ).first()
        return (bytes(row.data), row.run_id) if row is not None else None

    def count(self, type_name: str | None = None) -> int:
        """How many items there are (of one type)."""
        query = sa.select(sa.func.count()).select_from(items)
        if type_name is not None:
            query = query.where(items.c.type == type_name)
        with self._reader.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def load_schema(self) -> list[tuple[str, str, str, str]]:
        """Every schema row: ``(item_type, name, kind, value_type)``."""
        with self._reader.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.select(schema_table))]


def _sqlite_setup(engine: Engine, *, immediate: bool) -> None:
    """WAL, a busy timeout, and (for the writer) transactions that take the write lock at once."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        apply_pragmas(dbapi_connection)

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _copy_items(conn: Connection, rows: Sequence[ItemValues]) -> None:
    """Insert many item rows with PostgreSQL's ``COPY ... FROM STDIN`` (psycopg 3).

    A clash with a stored id raises SQLAlchemy's ``IntegrityError``, as ``executemany`` does.
    """
    import psycopg

    sql = f"COPY pod_items ({', '.join(_ITEM_COLUMNS)}) FROM STDIN"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
    except psycopg.IntegrityError as exc:
        raise sa.exc.IntegrityError(sql, None, exc) from None
    finally:
        cursor.close()
