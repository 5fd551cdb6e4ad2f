"""The pod: items, edges, schema and PluginRuns behind one checked, scoped interface.

Both the HTTP API and the direct transport call this class. Every call names a
:class:`Scope`: the owner (operators, the host) reaches everything; a run's token reaches
only what that run wrote, its own PluginRun and its Account.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from plugyard.sdk.pod import (
    TERMINAL,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidTransition,
    ItemNotFound,
    RunStatus,
    Unauthorized,
    check_transition,
    new_id,
)

from ._schema import BUILTIN_TYPES, Schema
from ._store import ItemRow, ItemValues, Store

__all__ = ["OWNER", "Pod", "Scope"]

_MAX_ROW = 2**62
"""The largest ``limit`` or ``offset`` of a search (the databases count rows in 64 bits)."""

logger = logging.getLogger("plugyard.adapters.pod")
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
Publish = Callable[[str, Mapping[str, Any]], Any]
_stdlib_encode = json.JSONEncoder(check_circular=False, separators=(",", ":")).encode


def encode_properties(properties: Mapping[str, Any]) -> str:
    """Properties as stored JSON text: orjson, or the standard library where they differ.

    orjson refuses integers past 64 bits and writes NaN and infinities as ``null``; those
    (rare) properties go through :mod:`json`, which keeps them as they are.
    """
    try:
        text = orjson.dumps(properties)
    except TypeError:
        return _stdlib_encode(properties)
    if b"null" in text and any(
        type(v) is float and not math.isfinite(v) for v in properties.values()
    ):
        return _stdlib_encode(properties)
    return text.decode()


_RUN_FIELDS = {"status", "progress", "message", "error", "traceback", "auth_url"}
_OWNER_RUN_FIELDS = _RUN_FIELDS | {
    "exit_code",
    "launcher",
    "ended_at",
    "started_at",
    "timeout",
    "webserver_port",
    "launched_by",
}
_NEW_RUN_FIELDS = {
    "plugin_module",
    "plugin_name",
    "config",
    "launcher",
    "timeout",
    "container_image",
    "webserver_port",
    "python",
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is asking: the owner (``run_id`` None) or one run's token."""

    run_id: str | None = None

    @property
    def is_owner(self) -> bool:
        """Whether this scope reaches everything."""
        return self.run_id is None

    def describe(self) -> str:
        """``the owner`` or ``run X``, for error messages."""
        return "the owner" if self.run_id is None else f"run {self.run_id}"


OWNER = Scope()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _at(where: str, index: int) -> str:
    return where if where == "item" else f"{where}[{index}]"


def account_id(run_id: str) -> str:
    """The id of a run's Account item."""
    return f"{run_id}.account"


class Pod:
    """Checked, scoped access to a :class:`Store`; publishes ``pod.*`` events if asked to."""

    def __init__(self, store: Store, *, publish: Publish | None = None) -> None:
        self.store = store
        self.schema = Schema()
        self.schema.load_rows(store.load_schema())
        self._publish = publish
        self._tokens: dict[str, str | None] = {}
        self.owner_token = self.issue_token(None)

    # -- tokens -------------------------------------------------------------------------------

    def issue_token(self, run_id: str | None) -> str:
        """A new secret for the owner (``None``) or for one run.

        64 hex digits, like a Memri key: a token that began with ``-`` would read as an
        option when passed on a command line (``run_plugin --database_key TOKEN``).
        """
        token = secrets.token_hex(32)
        self._tokens[_hash(token)] = run_id
        return token

    def revoke(self, run_id: str) -> None:
        """Forget every token of a run (done when the run ends)."""
        for key in [k for k, v in self._tokens.items() if v == run_id]:
            del self._tokens[key]

    def scope_for(self, token: str | None) -> Scope:
        """The scope a bearer token grants; unknown or revoked tokens are ``Unauthorized``."""
        if not token:
            raise Unauthorized("no token: send 'Authorization: Bearer TOKEN'")
        key = _hash(token)
        if key not in self._tokens:
            raise Unauthorized("unknown token (a run's token is revoked when the run ends)")
        return Scope(self._tokens[key])

    # -- helpers ------------------------------------------------------------------------------

    def _emit(self, topic: str, data: Mapping[str, Any]) -> None:
        if self._publish is not None:
            try:
                self._publish(topic, data)
            except Exception:
                logger.exception("publishing %s failed", topic)

    def _readable(self, scope: Scope, row: ItemRow, what: str = "item") -> ItemRow:
        if scope.run_id is not None and row.run_id != scope.run_id:
            owner = f"run {row.run_id}" if row.run_id else "the owner"
            raise Forbidden(
                f"the token of run {scope.run_id} may not reach {what} {row.id} "
                f"(it belongs to {owner})"
            )
        return row

    def _get_row(self, scope: Scope, item_id: Any, what: str = "item") -> ItemRow:
        if not isinstance(item_id, str) or not item_id:
            raise BadRequest(f"{what} id must be a non-empty string, got {item_id!r}")
        row = self.store.get(item_id)
        if row is None:
            raise ItemNotFound(f"no {what} with id {item_id!r}")
        return self._readable(scope, row, what)

    def _new_rows(
        self, scope: Scope, data: Sequence[Any], where: str
    ) -> tuple[list[ItemValues], dict[str, str]]:
        if not isinstance(data, list | tuple):
            raise BadRequest(f"{where}: expected a list of items")
        rows: list[ItemValues] = []
        append = rows.append
        types: dict[str, str] = {}
        now = time.time()
        dumps = encode_properties
        check = self.schema.check_item
        plain = self.schema.plain_properties
        valid_id = _ID.fullmatch
        run_id = scope.run_id
        single = where == "item"
        for index, item in enumerate(data):
            checked = plain(item)
            if checked is None:
                item_type, properties = check(item, where, None if single else index)
                item_id = item.get("id")
            else:
                item_type, item_id, properties = checked
            if item_type in BUILTIN_TYPES:
                raise BadRequest(f"{_at(where, index)}: {item_type} items are made through /runs")
            if item_id is None:
                item_id = new_id()
            elif not isinstance(item_id, str) or not valid_id(item_id):
                raise BadRequest(
                    f"{_at(where, index)}: id {item_id!r} is not 1-64 letters, digits or _.:-"
                )
            if item_id in types:
                raise BadRequest(f"{_at(where, index)}: id {item_id!r} appears twice")
            types[item_id] = item_type
            append((item_id, item_type, run_id, dumps(properties), now, now))
        return rows, types

    def _taken(self, ids: Sequence[str]) -> Conflict:
        taken = sorted(self.store.get_many(list(ids)))
        if taken:
            return Conflict(f"item id {taken[0]!r} is already taken ({len(taken)} taken)")
        return Conflict("the write clashed with stored data (an id or edge already exists)")

    def _created(self, scope: Scope, types: Mapping[str, str]) -> None:
        if self._publish is None:
            return
        by_type: dict[str, list[str]] = {}
        for item_id, item_type in types.items():
            by_type.setdefault(item_type, []).append(item_id)
        for item_type, ids in by_type.items():
            self._emit(
                f"pod.item.{item_type}.created",
                {"type": item_type, "ids": ids, "count": len(ids), "run_id": scope.run_id},
            )

    def _cas(self, item_id: str, old: str, new: str, now: float) -> bool:
        """Replace an item's stored properties if they are still ``old``."""
        return self.store.write(
            functools.partial(
                self.store.replace_properties, item_id=item_id, old=old, new=new, now=now
            )
        )

    # -- items --------------------------------------------------------------------------------

    def create(self, scope: Scope, data: Sequence[Any], *, where: str = "items") -> list[str]:
        """Store new items; returns their ids. An id already taken is a ``Conflict``."""
        rows, types = self._new_rows(scope, data, where)
        try:
            self.store.write(lambda conn: self.store.insert_items(conn, rows))
        except IntegrityError:
            raise self._taken(list(types)) from None
        self._created(scope, types)
        return list(types)

    def create_at_once(
        self, scope: Scope, data: Sequence[Any], *, where: str = "items"
    ) -> list[str] | None:
        """:meth:`create` without waiting: None if the write could not happen at once.

        Checks the items first (a bad item raises here as it would in :meth:`create`); for
        an answer of None, call :meth:`create`, which waits its turn and says what went wrong
        if the write fails. See :meth:`Store.write_at_once`.
        """
        if self.store.dialect != "sqlite":
            return None
        rows, types = self._new_rows(scope, data, where)
        done, _ = self.store.write_at_once(lambda conn: self.store.insert_items(conn, rows))
        if not done:
            return None
        self._created(scope, types)
        return list(types)

    def get(self, scope: Scope, item_id: Any) -> dict[str, Any]:
        """One item with its outgoing edges (``_edges``) to items the scope may read."""
        row = self._get_row(scope, item_id)
        data = row.to_dict()
        data["_edges"] = [
            {"name": name, "target": target.to_dict()}
            for name, target in self.store.edges_from(row.id)
            if scope.run_id is None or target.run_id == scope.run_id
        ]
        return data

    def search(
        self,
        scope: Scope,
        filters: Any,
        limit: Any = None,
        offset: Any = 0,
        *,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Items whose properties equal every filter value (``type`` and ``id`` included).

        Oldest first, or newest first; ``limit`` and ``offset`` page through the matches.
        """
        rows = self.search_rows(scope, filters, limit, offset, newest_first=newest_first)
        return [row.to_dict() for row in rows]

    def search_rows(
        self,
        scope: Scope,
        filters: Any,
        limit: Any = None,
        offset: Any = 0,
        *,
        newest_first: bool = False,
    ) -> list[ItemRow]:
        """:meth:`search`, answering the stored rows."""
        if not isinstance(filters, Mapping):
            raise BadRequest('search: filters must be an object such as {"type": "Dog"}')
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_ROW
        ):
            raise BadRequest(
                f"search: limit must be a positive whole number up to {_MAX_ROW}, got {limit!r}"
            )
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_ROW:
            raise BadRequest(
                f"search: offset must be a whole number from 0 to {_MAX_ROW}, got {offset!r}"
            )
        item_type = filters.get("type")
        if item_type is not None:
            declared = self.schema.properties.get(item_type)
            if declared is None:
                raise BadRequest(
                    f"search: unknown item type {item_type!r} "
                    f"(known: {', '.join(self.schema.types())})"
                )
            unknown = [k for k in filters if k not in declared and k not in ("id", "type")]
            if unknown:
                raise BadRequest(
                    f"search: {item_type} has no property {unknown[0]!r} "
                    f"(properties: {', '.join(declared)})"
                )
        for key, value in filters.items():
            if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise BadRequest(f"search: {key!r} is not a property name")
            if isinstance(value, dict | list):
                raise BadRequest(f"search: {key} must be compared with a plain value")
        return self.store.search(
            filters, run_id=scope.run_id, limit=limit, offset=offset, newest_first=newest_first
        )

    def update(self, scope: Scope, item_id: Any, changes: Any) -> dict[str, Any]:
        """Change some properties of an item (PluginRuns change through :meth:`update_run`)."""
        row = self._get_row(scope, item_id)
        if row.type == "PluginRun":
            raise BadRequest(f"item {row.id} is a PluginRun: change it through /runs/{row.id}")
        if not isinstance(changes, Mapping):
            raise BadRequest("update: expected an object of properties")
        if changes.get("type", row.type) != row.type:
            raise BadRequest(f"update: item {row.id} is a {row.type}; its type cannot change")
        _, properties = self.schema.check_item({**changes, "type": row.type}, f"item {row.id}")
        return self._replace(row, properties).to_dict()

    def _replace(self, row: ItemRow, changes: Mapping[str, Any]) -> ItemRow:
        """Merge ``changes`` into a row with compare-and-set, retrying if it moved meanwhile."""
        for _attempt in range(20):
            merged = {**row.properties, **changes}
            new = json.dumps(merged)
            now = time.time()
            raw = row.raw
            if self._cas(row.id, raw, new, now):
                return ItemRow(row.id, row.type, row.run_id, merged, new, row.created_at, now)
            fresh = self.store.get(row.id)
            if fresh is None:
                raise ItemNotFound(f"item {row.id!r} was deleted meanwhile")
            row = fresh
        raise Conflict(f"item {row.id!r} changes too often to update; try again")

    def delete(self, scope: Scope, item_id: Any) -> None:
        """Delete an item and its edges."""
        row = self._get_row(scope, item_id)
        if row.type in BUILTIN_TYPES:
            raise BadRequest(f"item {row.id} is a {row.type}; it cannot be deleted")
        self.store.write(lambda conn: self.store.delete_items(conn, [row.id]))

    def _edge_rows(
        self, scope: Scope, data: Any, known: Mapping[str, str], where: str
    ) -> list[dict[str, Any]]:
        if not isinstance(data, list | tuple):
            raise BadRequest(f"{where}: expected a list of {{source, target, name}}")
        wanted = {
            e.get(end) for e in data if isinstance(e, Mapping) for end in ("source", "target")
        }
        stored = self.store.get_many([i for i in wanted if isinstance(i, str) and i not in known])
        types = dict(known)
        for row in stored.values():
            self._readable(scope, row)
            types[row.id] = row.type
        rows = []
        now = time.time()
        for index, edge in enumerate(data):
            here = f"{where}[{index}]"
            if not isinstance(edge, Mapping) or set(edge) != {"source", "target", "name"}:
                raise BadRequest(f'{here}: an edge is {{"source", "target", "name"}}')
            for end in ("source", "target"):
                if edge[end] not in types:
                    raise ItemNotFound(f"{here}: no item with id {edge[end]!r} ({end})")
            self.schema.check_edge(types[edge["source"]], edge["name"], types[edge["target"]], here)
            rows.append({**edge, "run_id": scope.run_id, "created_at": now})
        return rows

    def create_edges(self, scope: Scope, data: Any) -> int:
        """Link stored items; returns how many edges were asked for."""
        rows = self._edge_rows(scope, data, {}, "edges")
        self.store.write(lambda conn: self.store.insert_edges(conn, rows))
        return len(rows)

    def bulk(self, scope: Scope, request: Any) -> dict[str, Any]:
        """``create``, ``update``, ``delete`` and ``edges`` in one transaction: all or nothing."""
        if not isinstance(request, Mapping) or set(request) - {
            "create",
            "update",
            "delete",
            "edges",
        }:
            raise BadRequest("bulk: expected an object with create, update, delete and edges lists")
        rows, types = self._new_rows(scope, request.get("create", []), "bulk.create")
        updates = []
        for index, change in enumerate(request.get("update", [])):
            here = f"bulk.update[{index}]"
            if not isinstance(change, Mapping):
                raise BadRequest(f"{here}: expected an item object with an id")
            row = self._get_row(scope, change.get("id"))
            if row.type in BUILTIN_TYPES:
                raise BadRequest(f"{here}: {row.type} items change through /runs")
            _, props = self.schema.check_item({**change, "type": row.type}, here)
            updates.append((row, json.dumps({**row.properties, **props})))
        deletes = [self._get_row(scope, i).id for i in request.get("delete", [])]
        edge_rows = self._edge_rows(scope, request.get("edges", []), types, "bulk.edges")
        store = self.store

        def apply(conn: Any) -> None:
            store.insert_items(conn, rows)
            now = time.time()
            for row, new in updates:
                if not store.replace_properties(conn, row.id, row.raw, new, now):
                    raise Conflict(f"bulk: item {row.id} changed meanwhile; nothing was written")
            store.delete_items(conn, deletes)
            store.insert_edges(conn, edge_rows)

        try:
            store.write(apply)
        except IntegrityError:
            raise self._taken(list(types)) from None
        self._created(scope, types)
        return {
            "created": list(types),
            "updated": [row.id for row, _ in updates],
            "deleted": deletes,
            "edges": len(edge_rows),
        }

    def add_schema(self, scope: Scope, raw: Any) -> int:
        """Register item types; returns how many new properties and edges were added."""
        rows = self.schema.parse(raw)
        new = [
            r
            for r in rows
            if r["name"]
            not in (self.schema.edges if r["kind"] == "edge" else self.schema.properties).get(
                r["item_type"], {}
            )
        ]
        for item_type in raw:
            if item_type in BUILTIN_TYPES:
                raise BadRequest(f"schema.{item_type}: built-in types cannot be changed")
        self.store.write(lambda conn: self.store.put_schema(conn, new))
        self.schema.merge(raw)
        return len(new)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self, scope: Scope, fields: Any, *, run_id: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """A new PluginRun (owner only), status ``created``; returns it and the run's token.

        ``run_id`` keeps an id the client chose (Pymemri makes its runs' ids itself).
        """
        if not scope.is_owner:
            raise Forbidden(f"only the owner may create runs, not {scope.describe()}")
        if not isinstance(fields, Mapping):
            raise BadRequest("runs: expected an object with plugin_module and plugin_name")
        unknown = sorted(set(fields) - _NEW_RUN_FIELDS)
        if unknown:
            raise BadRequest(
                f"runs: unknown field {unknown[0]!r} "
                f"(accepted: {', '.join(sorted(_NEW_RUN_FIELDS))})"
            )
        for key in ("plugin_module", "plugin_name"):
            if not isinstance(fields.get(key), str) or not fields[key]:
                raise BadRequest(f"runs: {key} is required (a non-empty string)")
        config = fields.get("config") or "{}"
        if isinstance(config, Mapping):
            config = json.dumps(config)
        try:
            if not isinstance(config, str) or not isinstance(json.loads(config), dict):
                raise ValueError
        except ValueError:
            raise BadRequest(
                "runs: config must be a JSON object (or a string holding one)"
            ) from None
        if run_id is None:
            run_id = new_id()
        elif not _ID.fullmatch(run_id):
            raise BadRequest(f"runs: id {run_id!r} is not 1-64 letters, digits or _.:-")
        data = {**fields, "config": config, "status": RunStatus.CREATED.value, "type": "PluginRun"}
        _, properties = self.schema.check_item(data, "runs")
        now = time.time()
        row = (run_id, "PluginRun", run_id, json.dumps(properties), now, now)
        try:
            self.store.write(lambda conn: self.store.insert_items(conn, [row]))
        except IntegrityError:
            raise Conflict(f"runs: item id {run_id!r} is already taken") from None
        token = self.issue_token(run_id)
        self._emit(f"pod.run.{run_id}.created", {"run_id": run_id, "status": "created"})
        return self.get_run(OWNER, run_id), token

    def get_run(self, scope: Scope, run_id: Any) -> dict[str, Any]:
        """One PluginRun."""
        row = self._get_row(scope, run_id, "run")
        if row.type != "PluginRun":
            raise ItemNotFound(f"item {row.id!r} is a {row.type}, not a PluginRun")
        return row.to_dict()

    def update_run(self, scope: Scope, run_id: Any, changes: Any) -> dict[str, Any]:
        """Change a run; a status change must be in the transition table (else ``Conflict``).

        Reaching ``done``, ``error`` or ``aborted`` sets ``ended_at`` and revokes the run's
        tokens; ``started`` sets ``started_at`` the first time.
        """
        row = self._get_row(scope, run_id, "run")
        if row.type != "PluginRun":
            raise ItemNotFound(f"item {row.id!r} is not a PluginRun")
        if not isinstance(changes, Mapping):
            raise BadRequest("runs: expected an object of changes")
        allowed = _OWNER_RUN_FIELDS if scope.is_owner else _RUN_FIELDS
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise BadRequest(
                f"runs: field {unknown[0]!r} cannot be changed by {scope.describe()} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        _, checked = self.schema.check_item({**changes, "type": "PluginRun"}, f"run {row.id}")
        progress = checked.get("progress")
        if progress is not None and not 0.0 <= progress <= 1.0:
            raise BadRequest(f"run {row.id}: progress must be from 0 to 1, got {progress!r}")
        for _attempt in range(20):
            updated = dict(checked)
            old_status = row.properties.get("status", "created")
            new_status = updated.get("status")
            if new_status is not None:
                try:
                    check_transition(old_status, new_status)
                except InvalidTransition as exc:
                    raise Conflict(f"run {row.id}: {exc}") from None
                if new_status == RunStatus.STARTED and not row.properties.get("started_at"):
                    updated["started_at"] = _now_iso()
                if new_status in TERMINAL:
                    updated.setdefault("ended_at", _now_iso())
            merged = {**row.properties, **updated}
            new = json.dumps(merged)
            raw, now = row.raw, time.time()
            if self._cas(row.id, raw, new, now):
                break
            fresh = self.store.get(row.id)
            assert fresh is not None
            row = fresh
        else:
            raise Conflict(f"run {row.id} changes too often to update; try again")
        if "progress" in updated or "message" in updated:
            self._emit(
                f"pod.progress.{row.id}",
                {
                    "run_id": row.id,
                    "progress": merged.get("progress"),
                    "message": merged.get("message"),
                },
            )
        if new_status is not None and new_status != old_status:
            if new_status in TERMINAL:
                self.revoke(row.id)
            self._emit(
                f"pod.run.{row.id}.{new_status}",
                {"run_id": row.id, "status": new_status, "previous": old_status},
            )
        return {**row.to_dict(), **merged, "updated_at": now}

    def set_account(self, scope: Scope, run_id: Any, fields: Any) -> dict[str, Any]:
        """Store credentials for a run (owner only) and make a waiting run ``ready``."""
        if not scope.is_owner:
            raise Forbidden(f"only the owner may supply credentials, not {scope.describe()}")
        run = self.get_run(OWNER, run_id)
        if not isinstance(fields, Mapping):
            raise BadRequest("account: expected an object")
        accepted = {"service", "identifier", "secret", "code"}
        unknown = sorted(set(fields) - accepted)
        if unknown:
            raise BadRequest(
                f"account: unknown field {unknown[0]!r} (accepted: {', '.join(sorted(accepted))})"
            )
        _, properties = self.schema.check_item({**fields, "type": "Account"}, "account")
        now = time.time()
        row = (account_id(run["id"]), "Account", run["id"], json.dumps(properties), now, now)
        self.store.write(lambda conn: self.store.upsert_item(conn, row))
        if run.get("status") == RunStatus.USER_ACTION_NEEDED:
            self.update_run(OWNER, run["id"], {"status": RunStatus.READY.value})
        return self.get_run(OWNER, run["id"])

    def get_account(self, scope: Scope, run_id: Any) -> dict[str, Any] | None:
        """A run's Account, or None."""
        run = self.get_run(scope, run_id)
        row = self.store.get(account_id(run["id"]))
        return row.to_dict() if row is not None else None

    # -- files --------------------------------------------------------------------------------

    def put_file(self, scope: Scope, sha256: Any, data: bytes) -> bool:
        """Store a file under the sha256 of its bytes; False if that content is there already.

        A sha256 that does not match the bytes is a ``BadRequest``: files are
        content-addressed, so a client cannot store bytes under another file's name.
        """
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise BadRequest(f"file: {sha256!r} is not a sha256 (64 lowercase hex digits)")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise BadRequest(f"file: the bytes have sha256 {actual}, not {sha256}")
        now = time.time()
        stored = self.store.write(
            functools.partial(
                self.store.insert_file, sha256=sha256, data=data, run_id=scope.run_id, now=now
            )
        )
        if stored:
            self._emit(
                "pod.file.stored", {"sha256": sha256, "size": len(data), "run_id": scope.run_id}
            )
        return stored

    def get_file(self, scope: Scope, sha256: Any) -> bytes:
        """A file's bytes; a run's token reaches the files that run stored."""
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise BadRequest(f"file: {sha256!r} is not a sha256 (64 lowercase hex digits)")
        found = self.store.get_file(sha256)
        if found is None:
            raise ItemNotFound(f"no file with sha256 {sha256}")
        data, owner = found
        if scope.run_id is not None and owner != scope.run_id:
            raise Forbidden(f"the token of run {scope.run_id} may not reach file {sha256}")
        return data
