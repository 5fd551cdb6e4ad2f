"""The pod's schema: which item types exist, their properties' types and their edges."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from plugyard.sdk.pod import (
    RESERVED,
    VALUE_TYPES,
    Account,
    BadRequest,
    Conflict,
    PluginRun,
    schema_of,
)

__all__ = ["ANY_TARGET", "BUILTIN_TYPES", "Schema"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
BUILTIN_TYPES = frozenset({"PluginRun", "Account"})
ANY_TARGET = "Item"
"""An edge declared to point at ``Item`` may point at an item of any type."""
_RUN_EXTRAS = {
    "PluginRun": {
        "properties": {
            "container_image": "str",
            "webserver_port": "int",
            "python": "str",
            "launched_by": "str",
        },
        "edges": {},
    }
}
"""What a run has beside the SDK's fields: its image and web server port (Memri's), the
interpreter its plugin runs with, and the owner mark of the host process that launched it."""


_EXACT: dict[str, frozenset[type]] = {
    "str": frozenset({str}),
    "int": frozenset({int}),
    "float": frozenset({int, float}),
    "bool": frozenset({bool}),
    "datetime": frozenset(),
}


_NOTHING: frozenset[type] = frozenset()


def _fits(value_type: str, value: Any) -> bool:
    if value is None:
        return True
    if value_type == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if value_type == "int":
        return isinstance(value, int)
    if value_type == "float":
        return isinstance(value, int | float)
    if value_type == "datetime":
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return isinstance(value, str)


class Schema:
    """Item types by name: ``properties`` (name to value type) and ``edges`` (name to type)."""

    def __init__(self) -> None:
        self.properties: dict[str, dict[str, str]] = {}
        self.edges: dict[str, dict[str, str]] = {}
        self._exact: dict[str, dict[str, frozenset[type]]] = {}
        self.merge(schema_of(PluginRun, Account), check=False)
        self.merge(_RUN_EXTRAS, check=False)

    def types(self) -> list[str]:
        """Every known item type, sorted."""
        return sorted(self.properties)

    def to_dict(self) -> dict[str, Any]:
        """The schema as the API returns it."""
        return {
            name: {"properties": dict(self.properties[name]), "edges": dict(self.edges[name])}
            for name in self.types()
        }

    def load_rows(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Add rows read from the store."""
        self._exact.clear()
        for item_type, name, kind, value_type in rows:
            self.properties.setdefault(item_type, {})
            self.edges.setdefault(item_type, {})
            (self.edges if kind == "edge" else self.properties)[item_type][name] = value_type

    def parse(self, raw: Any) -> list[dict[str, str]]:
        """Check a schema request and return the rows it adds; clashes are a ``Conflict``."""
        if not isinstance(raw, Mapping) or not raw:
            raise BadRequest('schema: expected {"Type": {"properties": {...}, "edges": {...}}}')
        rows: list[dict[str, str]] = []
        for item_type, entry in raw.items():
            where = f"schema.{item_type}"
            if not isinstance(item_type, str) or not _NAME.match(item_type):
                raise BadRequest(f"{where}: a type name is a Python identifier")
            if not isinstance(entry, Mapping) or set(entry) - {"properties", "edges"}:
                raise BadRequest(f"{where}: expected an object with 'properties' and 'edges'")
            for kind, table in (("property", "properties"), ("edge", "edges")):
                declared = entry.get(table, {})
                if not isinstance(declared, Mapping):
                    raise BadRequest(f"{where}.{table}: expected an object")
                for name, value_type in declared.items():
                    rows.append(self._row(item_type, kind, name, value_type, where))
        return rows

    def _row(
        self, item_type: str, kind: str, name: Any, value_type: Any, where: str
    ) -> dict[str, str]:
        table = "properties" if kind == "property" else "edges"
        if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED:
            raise BadRequest(f"{where}.{table}: {name!r} is not a usable name")
        if kind == "property" and value_type not in VALUE_TYPES:
            raise BadRequest(
                f"{where}.properties.{name}: type {value_type!r} is not one of "
                f"{', '.join(VALUE_TYPES)}"
            )
        if kind == "edge" and (not isinstance(value_type, str) or not _NAME.match(value_type)):
            raise BadRequest(f"{where}.edges.{name}: target {value_type!r} is not a type name")
        current = (self.properties if kind == "property" else self.edges).get(item_type, {})
        other = (self.edges if kind == "property" else self.properties).get(item_type, {})
        if name in other or current.get(name, value_type) != value_type:
            have = current.get(name) or f"an {'edge' if kind == 'property' else 'property'}"
            raise Conflict(
                f"{where}: {name!r} is already {have}; the schema only grows (new names)"
            )
        return {"item_type": item_type, "name": name, "kind": kind, "value_type": value_type}

    def merge(self, raw: Mapping[str, Any], *, check: bool = True) -> list[dict[str, str]]:
        """Add a schema (checked unless ``check`` is False); returns the new rows."""
        rows = (
            self.parse(raw)
            if check
            else [
                {"item_type": t, "name": n, "kind": k, "value_type": v}
                for t, entry in raw.items()
                for k, table in (("property", "properties"), ("edge", "edges"))
                for n, v in entry[table].items()
            ]
        )
        for item_type in raw:
            self.properties.setdefault(item_type, {})
            self.edges.setdefault(item_type, {})
        self._exact.clear()
        for row in rows:
            table = self.edges if row["kind"] == "edge" else self.properties
            table[row["item_type"]][row["name"]] = row["value_type"]
        return rows

    def plain_properties(self, data: Any) -> tuple[str, Any, dict[str, Any]] | None:
        """``(type, id, properties)`` of an item that needs no further checks, else None.

        That is a plain dict of a type checked before, whose values all have their declared
        type exactly; anything else (None) goes through :meth:`check_item`, which says what
        is wrong. Costs a dict copy and one set lookup per property.
        """
        if type(data) is not dict:
            return None
        exact = self._exact.get(data.get("type"))  # type: ignore[arg-type]
        if exact is None:
            return None
        properties = dict(data)
        item_type = properties.pop("type")
        item_id = properties.pop("id", None)
        get = exact.get
        for key, value in properties.items():
            if type(value) not in get(key, _NOTHING):
                return None
        return item_type, item_id, properties

    def check_item(
        self, data: Any, where: str, index: int | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Check an item's type and properties; returns ``(type, properties)``.

        ``where`` (with ``index``, for lists) names the item in error messages.
        """
        checked = self.plain_properties(data)
        if checked is not None:
            return checked[0], checked[2]
        try:
            return self._check_item(data, where)
        except BadRequest as exc:
            if index is None:
                raise
            raise BadRequest(f"{where}[{index}]" + exc.message[len(where) :]) from None

    def _check_item(self, data: Any, where: str) -> tuple[str, dict[str, Any]]:
        if not isinstance(data, Mapping):
            raise BadRequest(f"{where}: an item is a JSON object, got {type(data).__name__}")
        item_type = data.get("type")
        declared = self.properties.get(item_type) if isinstance(item_type, str) else None
        if declared is None:
            raise BadRequest(
                f"{where}: unknown item type {item_type!r}; add it to the schema first "
                f"(known: {', '.join(self.types())})"
            )
        properties: dict[str, Any] = {}
        for key, value in data.items():
            if key in RESERVED:
                continue
            value_type = declared.get(key)
            if value_type is None:
                raise BadRequest(
                    f"{where}: {item_type} has no property {key!r} "
                    f"(properties: {', '.join(declared) or 'none'})"
                )
            if (
                value is not None
                and type(value) not in _EXACT[value_type]
                and not _fits(value_type, value)
            ):
                raise BadRequest(
                    f"{where}: {item_type}.{key} must be {value_type}, got "
                    f"{type(value).__name__} {value!r}"
                )
            properties[key] = value
        item_type = str(item_type)
        if item_type not in self._exact:
            self._exact[item_type] = {
                name: _EXACT[value_type] | {type(None)} for name, value_type in declared.items()
            }
        return item_type, properties

    def check_edge(self, source_type: str, name: str, target_type: str, where: str) -> None:
        """Refuse an edge the source type does not declare, or that points at the wrong type."""
        declared = self.edges.get(source_type, {})
        if name not in declared:
            raise BadRequest(
                f"{where}: {source_type} has no edge {name!r} "
                f"(edges: {', '.join(declared) or 'none'})"
            )
        if declared[name] not in (target_type, ANY_TARGET):
            raise BadRequest(
                f"{where}: {source_type}.{name} points to {declared[name]}, not {target_type}"
            )
