"""Storage: deployments, node instances, executions, operation states and events, in SQLite
(one file per environment, or in memory) or PostgreSQL, through SQLAlchemy Core."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from plugyard.host.sqlite import apply_pragmas
from plugyard.sdk.lifecycle import VersionConflict

from ._errors import StorageError
from ._plan import NodeInstance

__all__ = ["EVENT_COLUMNS", "OPERATION_COLUMNS", "Batch", "Execution", "Storage", "storage_url"]

metadata = sa.MetaData()

deployments = sa.Table(
    "lifecycle_deployments",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("blueprint_id", sa.String(200), nullable=False),
    sa.Column("blueprint_path", sa.Text, nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("source_root", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

node_instances = sa.Table(
    "lifecycle_node_instances",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("deployment_id", sa.String(200), nullable=False, index=True),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("host_id", sa.String(200), nullable=True),
    sa.Column("relationships", sa.JSON, nullable=False),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("runtime_properties", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

executions = sa.Table(
    "lifecycle_executions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("deployment_id", sa.String(200), nullable=False, index=True),
    sa.Column("workflow_id", sa.String(100), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
)

operations = sa.Table(
    "lifecycle_operations",
    metadata,
    sa.Column("execution_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("instance_id", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("retry_number", sa.Integer, nullable=False),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("ended_at", sa.Float, nullable=True),
)

secrets_table = sa.Table(
    "lifecycle_secrets",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

events = sa.Table(
    "lifecycle_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("deployment_id", sa.String(200), nullable=False, index=True),
    sa.Column("execution_id", sa.String(64), nullable=True, index=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("topic", sa.String(500), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)


def storage_url(value: str | Path | None) -> str:
    """A SQLAlchemy URL: ``None`` is in-memory SQLite, a plain path a SQLite file."""
    if value is None:
        return "sqlite://"
    text = str(value)
    if "://" in text:
        if text.startswith("postgresql://"):
            return "postgresql+psycopg://" + text.removeprefix("postgresql://")
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass(slots=True)
class Execution:
    """One run of a workflow on a deployment."""

    id: str
    deployment_id: str
    workflow_id: str
    parameters: dict[str, Any]
    settings: dict[str, Any]
    status: str
    error: dict[str, Any] | None
    created_at: float
    ended_at: float | None


@dataclass(slots=True)
class Batch:
    """Writes collected while operations run, stored together in one transaction.

    ``new_operations`` are rows not stored yet, ``operations`` rows to overwrite; both are
    complete rows in the order of :data:`OPERATION_COLUMNS`, an operation's error a plain
    value the storage serialises. ``events`` are rows in the order of :data:`EVENT_COLUMNS`,
    their data already JSON text.
    """

    new_operations: list[tuple[Any, ...]] = field(default_factory=list)
    operations: list[tuple[Any, ...]] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new_operations or self.operations or self.states or self.events)


OPERATION_COLUMNS = (
    "execution_id",
    "key",
    "instance_id",
    "name",
    "state",
    "retry_number",
    "error",
    "started_at",
    "ended_at",
)
"""The order of an operation row in a :class:`Batch`."""
EVENT_COLUMNS = ("deployment_id", "execution_id", "time", "topic", "data")
"""The order of an event row in a :class:`Batch`."""
_OP_ERROR = OPERATION_COLUMNS.index("error")
_OP_KEYS = OPERATION_COLUMNS[:2]
_OP_FIELDS = OPERATION_COLUMNS[2:]


class _BatchStatements:
    """The four statements of :meth:`Storage.write_batch`, written once per storage.

    With a driver that takes positional ``?`` or ``%s`` parameters they are its own SQL and
    get plain tuples (no statement or parameter building per row); with any other driver
    they are SQLAlchemy text with ``:p0, :p1, ...`` parameters.
    """

    __slots__ = (
        "insert_event",
        "insert_operation",
        "positional",
        "update_operation",
        "update_state",
    )

    def __init__(self, dialect: sa.Dialect) -> None:
        self.positional = dialect.paramstyle in ("qmark", "format", "pyformat")
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"

        def marks(count: int) -> list[str]:
            if self.positional:
                return [mark] * count
            return [f":p{i}" for i in range(count)]

        def insert(table: sa.Table, columns: Sequence[str]) -> str:
            names = ", ".join(quote(c) for c in columns)
            values = ", ".join(marks(len(columns)))
            return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({values})"

        def update(table: sa.Table, columns: Sequence[str], keys: Sequence[str]) -> str:
            given = iter(marks(len(columns) + len(keys)))
            assigned = ", ".join(f"{quote(c)} = {next(given)}" for c in columns)
            where = " AND ".join(f"{quote(c)} = {next(given)}" for c in keys)
            return f"UPDATE {quote(table.name)} SET {assigned} WHERE {where}"

        self.insert_operation = insert(operations, OPERATION_COLUMNS)
        self.update_operation = update(operations, _OP_FIELDS, _OP_KEYS)
        self.update_state = update(node_instances, ("state",), ("id",))
        self.insert_event = insert(events, EVENT_COLUMNS)

    def run(self, conn: Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Execute ``statement`` once per row."""
        if self.positional:
            cursor = conn.connection.cursor()
            try:
                cursor.executemany(statement, rows)
            finally:
                cursor.close()
        else:
            named = [{f"p{i}": value for i, value in enumerate(row)} for row in rows]
            conn.execute(sa.text(statement), named)


class _PostgresBatch:
    """:meth:`Storage.write_batch` on PostgreSQL through psycopg: new rows with ``COPY``,
    changed rows with one ``UPDATE ... FROM unnest(...)`` per table, so a flush of
    thousands of rows is four statements rather than one per row."""

    def __init__(self) -> None:
        ops, nis, evs = (t.name for t in (operations, node_instances, events))
        self.copy_operation = f"COPY {ops} ({', '.join(OPERATION_COLUMNS)}) FROM STDIN"
        self.copy_event = f"COPY {evs} ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
        types = {"retry_number": "int", "started_at": "float8", "ended_at": "float8"}
        order = (*_OP_FIELDS, *_OP_KEYS)
        arrays = ", ".join(f"%s::{types.get(c, 'text')}[]" for c in order)
        assigned = ", ".join(
            f"{c} = v.{c}::json" if c == "error" else f"{c} = v.{c}" for c in _OP_FIELDS
        )
        self.update_operation = (
            f"UPDATE {ops} AS o SET {assigned} FROM unnest({arrays}) AS v({', '.join(order)}) "
            "WHERE o.execution_id = v.execution_id AND o.key = v.key"
        )
        self.update_state = (
            f"UPDATE {nis} AS n SET state = v.state "
            "FROM unnest(%s::text[], %s::text[]) AS v(state, id) WHERE n.id = v.id"
        )

    def write(
        self,
        conn: Connection,
        new_ops: list[tuple[Any, ...]],
        changed_ops: list[tuple[Any, ...]],
        states: list[tuple[str, str]],
        new_events: list[tuple[Any, ...]],
    ) -> None:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for statement, rows in ((self.copy_operation, new_ops), (self.copy_event, new_events)):
                if rows:
                    with cursor.copy(statement) as copy:
                        for row in rows:
                            copy.write_row(row)
            for statement, rows in (
                (self.update_operation, changed_ops),
                (self.update_state, states),
            ):
                if rows:
                    cursor.execute(statement, [list(column) for column in zip(*rows, strict=True)])
        finally:
            cursor.close()


class Storage:
    """Every record of one or more deployments, safe to use from several threads."""

    def __init__(self, url: str | Path | None = None) -> None:
        self.url = storage_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.url == "sqlite://":
            kwargs = {"poolclass": sa.StaticPool, "connect_args": {"check_same_thread": False}}
        elif self.is_sqlite:
            kwargs = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        try:
            self.engine: Engine = sa.create_engine(self.url, **kwargs)
        except Exception as exc:
            raise StorageError(f"cannot open storage {self.safe_url}: {exc}") from exc
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", apply_pragmas)
        self._lock = threading.RLock() if self.is_sqlite else None
        self._statements = _BatchStatements(self.engine.dialect)
        dialect = self.engine.dialect
        self._postgres = (
            _PostgresBatch()
            if (dialect.name, dialect.driver) == ("postgresql", "psycopg")
            else None
        )
        try:
            metadata.create_all(self.engine)
        except Exception as exc:
            raise StorageError(f"cannot open storage {self.safe_url}: {exc}") from exc

    @property
    def safe_url(self) -> str:
        """The URL without a password, for messages."""
        return sa.make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        lock = self._lock or contextlib.nullcontext()
        with lock, self.engine.begin() as conn:
            yield conn

    # -- deployments ------------------------------------------------------------------------

    def create_deployment(
        self,
        deployment_id: str,
        blueprint_id: str,
        blueprint_path: str,
        inputs: Mapping[str, Any],
        instances: Sequence[NodeInstance],
        source_root: str | None = None,
    ) -> None:
        """Store a new deployment with its node instances."""
        with self._tx() as conn:
            conn.execute(
                deployments.insert().values(
                    id=deployment_id,
                    blueprint_id=blueprint_id,
                    blueprint_path=blueprint_path,
                    inputs=dict(inputs),
                    source_root=source_root,
                    created_at=time.time(),
                )
            )
            if instances:
                conn.execute(node_instances.insert(), [_instance_row(i) for i in instances])

    def get_deployment(self, deployment_id: str) -> dict[str, Any] | None:
        """A deployment's record, or None."""
        with self._tx() as conn:
            row = conn.execute(
                deployments.select().where(deployments.c.id == deployment_id)
            ).first()
        return dict(row._mapping) if row is not None else None

    def list_deployments(self) -> list[dict[str, Any]]:
        """Every deployment's record."""
        with self._tx() as conn:
            rows = conn.execute(deployments.select().order_by(deployments.c.created_at))
            return [dict(r._mapping) for r in rows]

    def delete_deployment(self, deployment_id: str) -> None:
        """Forget a deployment and everything recorded about it."""
        with self._tx() as conn:
            select_ids = sa.select(executions.c.id).where(
                executions.c.deployment_id == deployment_id
            )
            conn.execute(operations.delete().where(operations.c.execution_id.in_(select_ids)))
            conn.execute(executions.delete().where(executions.c.deployment_id == deployment_id))
            conn.execute(events.delete().where(events.c.deployment_id == deployment_id))
            conn.execute(
                node_instances.delete().where(node_instances.c.deployment_id == deployment_id)
            )
            conn.execute(deployments.delete().where(deployments.c.id == deployment_id))

    # -- node instances ---------------------------------------------------------------------

    def get_node_instances(
        self, deployment_id: str | None = None, node_id: str | None = None
    ) -> list[NodeInstance]:
        """Node instances, of one deployment and node if given."""
        query = node_instances.select().order_by(node_instances.c.node_id, node_instances.c.idx)
        if deployment_id is not None:
            query = query.where(node_instances.c.deployment_id == deployment_id)
        if node_id is not None:
            query = query.where(node_instances.c.node_id == node_id)
        with self._tx() as conn:
            return [_instance_of(row._mapping) for row in conn.execute(query)]

    def change_node_instances(
        self,
        add: Sequence[NodeInstance] = (),
        relationships: Mapping[str, list[dict[str, Any]]] | None = None,
        remove: Sequence[str] = (),
    ) -> None:
        """Add instances, replace some instances' relationships and remove instances, in one
        transaction (what ``scale`` changes)."""
        with self._tx() as conn:
            if add:
                conn.execute(node_instances.insert(), [_instance_row(i) for i in add])
            for instance_id, rels in (relationships or {}).items():
                conn.execute(
                    node_instances.update()
                    .where(node_instances.c.id == instance_id)
                    .values(relationships=list(rels))
                )
            if remove:
                conn.execute(node_instances.delete().where(node_instances.c.id.in_(list(remove))))

    def get_node_instance(self, instance_id: str) -> NodeInstance:
        """One node instance; KeyError if unknown."""
        with self._tx() as conn:
            row = conn.execute(
                node_instances.select().where(node_instances.c.id == instance_id)
            ).first()
        if row is None:
            raise KeyError(f"no node instance {instance_id!r}")
        return _instance_of(row._mapping)

    def load_runtime_properties(self, instance_id: str) -> tuple[dict[str, Any], int]:
        """An instance's runtime properties and their version."""
        instance = self.get_node_instance(instance_id)
        return instance.runtime_properties, instance.version

    def save_runtime_properties(
        self, instance_id: str, properties: dict[str, Any], version: int
    ) -> int:
        """Store runtime properties if still at ``version``; else VersionConflict."""
        table = node_instances
        with self._tx() as conn:
            result = conn.execute(
                table.update()
                .where(table.c.id == instance_id, table.c.version == version)
                .values(runtime_properties=properties, version=version + 1)
            )
            if result.rowcount != 1:
                actual = conn.execute(
                    sa.select(table.c.version).where(table.c.id == instance_id)
                ).scalar()
                raise VersionConflict(instance_id, version, actual)
        return version + 1

    # -- executions and operations ----------------------------------------------------------

    def create_execution(self, execution: Execution) -> None:
        """Store a new execution."""
        with self._tx() as conn:
            conn.execute(executions.insert().values(**_execution_row(execution)))

    def update_execution(
        self,
        execution_id: str,
        status: str,
        error: dict[str, Any] | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        """Set an execution's status (and error, for a failure; and the owner mark of the
        process that runs it now, for a resumed one)."""
        ended = time.time() if status in ("succeeded", "failed", "cancelled") else None
        values: dict[str, Any] = {"status": status, "error": error, "ended_at": ended}
        with self._tx() as conn:
            if owner is not None:
                settings = conn.execute(
                    sa.select(executions.c.settings).where(executions.c.id == execution_id)
                ).scalar_one()
                values["settings"] = {**settings, "owner": owner}
            conn.execute(
                executions.update().where(executions.c.id == execution_id).values(**values)
            )

    def fail_if_started(self, execution_id: str, error: dict[str, Any]) -> bool:
        """Mark an execution failed if it is still ``started``; whether it was."""
        with self._tx() as conn:
            done = conn.execute(
                executions.update()
                .where(executions.c.id == execution_id, executions.c.status == "started")
                .values(status="failed", error=error, ended_at=time.time())
            )
            return bool(done.rowcount)

    def get_execution(self, execution_id: str) -> Execution:
        """One execution; KeyError if unknown."""
        with self._tx() as conn:
            row = conn.execute(executions.select().where(executions.c.id == execution_id)).first()
        if row is None:
            raise KeyError(f"no execution {execution_id!r}")
        return Execution(**dict(row._mapping))

    def list_executions(self, deployment_id: str | None = None) -> list[Execution]:
        """Executions, oldest first."""
        query = executions.select().order_by(executions.c.created_at)
        if deployment_id is not None:
            query = query.where(executions.c.deployment_id == deployment_id)
        with self._tx() as conn:
            return [Execution(**dict(r._mapping)) for r in conn.execute(query)]

    def get_operations(self, execution_id: str) -> list[dict[str, Any]]:
        """Every operation an execution ran, with its last state."""
        with self._tx() as conn:
            rows = conn.execute(
                operations.select()
                .where(operations.c.execution_id == execution_id)
                .order_by(operations.c.started_at)
            )
            return [dict(r._mapping) for r in rows]

    def succeeded_keys(self, execution_id: str) -> set[str]:
        """Keys of an execution's operations that succeeded (skipped when resuming)."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(operations.c.key).where(
                    operations.c.execution_id == execution_id, operations.c.state == "succeeded"
                )
            )
            return {r[0] for r in rows}

    def get_events(
        self, deployment_id: str | None = None, execution_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored events and logs, in order."""
        query = events.select().order_by(events.c.seq)
        if deployment_id is not None:
            query = query.where(events.c.deployment_id == deployment_id)
        if execution_id is not None:
            query = query.where(events.c.execution_id == execution_id)
        with self._tx() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def operation_keys(self, execution_id: str) -> set[str]:
        """Keys of every operation recorded for an execution."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(operations.c.key).where(operations.c.execution_id == execution_id)
            )
            return {r[0] for r in rows}

    def write_batch(self, batch: Batch) -> None:
        """Operation states, instance states and events in one transaction."""
        dumps = json.dumps
        # JSON values are serialised here; an operation's error is mostly None ("null").
        new_ops = [
            (
                *row[:_OP_ERROR],
                "null" if row[_OP_ERROR] is None else dumps(row[_OP_ERROR]),
                *row[_OP_ERROR + 1 :],
            )
            for row in batch.new_operations
        ]
        # An update row's values come first and its key (execution_id, key) last.
        changed_ops = [
            (
                *row[2:_OP_ERROR],
                "null" if row[_OP_ERROR] is None else dumps(row[_OP_ERROR]),
                *row[_OP_ERROR + 1 :],
                row[0],
                row[1],
            )
            for row in batch.operations
        ]
        states = [(state, instance_id) for instance_id, state in batch.states.items()]
        sql = self._statements
        with self._tx() as conn:
            if self._postgres is not None:
                self._postgres.write(conn, new_ops, changed_ops, states, batch.events)
                return
            for statement, rows in (
                (sql.insert_operation, new_ops),
                (sql.update_operation, changed_ops),
                (sql.update_state, states),
                (sql.insert_event, batch.events),
            ):
                if rows:
                    sql.run(conn, statement, rows)


def _instance_row(instance: NodeInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "deployment_id": instance.deployment_id,
        "node_id": instance.node_id,
        "idx": instance.index,
        "host_id": instance.host_id,
        "relationships": instance.relationships,
        "state": instance.state,
        "runtime_properties": instance.runtime_properties,
        "version": instance.version,
    }


def _instance_of(row: Any) -> NodeInstance:
    return NodeInstance(
        id=row["id"],
        node_id=row["node_id"],
        deployment_id=row["deployment_id"],
        index=row["idx"],
        host_id=row["host_id"],
        relationships=list(row["relationships"]),
        state=row["state"],
        runtime_properties=dict(row["runtime_properties"]),
        version=row["version"],
    )


def _execution_row(execution: Execution) -> dict[str, Any]:
    return {
        "id": execution.id,
        "deployment_id": execution.deployment_id,
        "workflow_id": execution.workflow_id,
        "parameters": execution.parameters,
        "settings": execution.settings,
        "status": execution.status,
        "error": execution.error,
        "created_at": execution.created_at,
        "ended_at": execution.ended_at,
    }
