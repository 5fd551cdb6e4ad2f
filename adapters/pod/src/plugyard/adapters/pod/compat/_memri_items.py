"""Items as the Memri pod API writes them, and as plugyard's pod stores them.

The two sides differ at the edge only: Memri sends dates as milliseconds since the epoch,
names PluginRun and Account properties in camelCase, spells two run statuses differently
(``idle``, ``userActionNeeded``), and its pod knows a central schema that plugyard's does not
ship. A type or property a Memri client writes without declaring it first is added to the
schema from the values it arrives with, once; after that the schema checks it as any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from plugyard.sdk.pod import RESERVED, BadRequest

from .._pod import Pod, Scope
from .._schema import ANY_TARGET, BUILTIN_TYPES

__all__ = [
    "MEMRI_VALUE_TYPES",
    "MemriItems",
    "memri_status",
    "plugyard_status",
]

MEMRI_VALUE_TYPES = {
    "Text": "str",
    "Integer": "int",
    "Real": "float",
    "Bool": "bool",
    "DateTime": "datetime",
}
"""Memri's property types and the pod's names for them."""

_DATES = frozenset({"dateCreated", "dateModified", "dateServerModified"})
_POD_OWNED = frozenset({"dateServerModified", "deleted", "version", "targetItemId"})
_RUN_NAMES = {
    "pluginModule": "plugin_module",
    "pluginName": "plugin_name",
    "config": "config",
    "status": "status",
    "progress": "progress",
    "error": "error",
    "authUrl": "auth_url",
    "containerImage": "container_image",
    "webserverPort": "webserver_port",
}
_RUN_UPDATABLE = frozenset({"status", "progress", "error", "authUrl"})
_ACCOUNT_NAMES = {
    "service": "service",
    "identifier": "identifier",
    "secret": "secret",
    "code": "code",
    "accessToken": "access_token",
    "refreshToken": "refresh_token",
    "errorMessage": "error_message",
}
_TO_MEMRI_STATUS = {"created": "idle", "user_action_needed": "userActionNeeded"}
_FROM_MEMRI_STATUS = {memri: ours for ours, memri in _TO_MEMRI_STATUS.items()}


def memri_status(status: str | None) -> str | None:
    """A plugyard run status as Memri spells it."""
    return None if status is None else _TO_MEMRI_STATUS.get(status, status)


def plugyard_status(status: Any) -> Any:
    """A Memri run status as plugyard spells it."""
    return _FROM_MEMRI_STATUS.get(status, status) if isinstance(status, str) else status


def _millis(value: Any) -> Any:
    if isinstance(value, float):
        return round(value * 1000)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)
    return value


def _iso(value: Any, where: str) -> Any:
    if isinstance(value, bool):
        raise BadRequest(f"{where}: a DateTime is milliseconds since the epoch, got {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat()
    return value


def _infer(name: str, value: Any, where: str) -> str:
    if name in _DATES:
        return "datetime"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    raise BadRequest(
        f"{where}.{name}: a property holds text, a number, a bool or a date, "
        f"got {type(value).__name__}"
    )


class MemriItems:
    """Translates items between the Memri API and one :class:`Pod`."""

    def __init__(self, pod: Pod) -> None:
        self.pod = pod

    # -- schema -----------------------------------------------------------------------------

    def declare(self, scope: Scope, items: Iterable[Mapping[str, Any]], where: str) -> None:
        """Add the types and properties of ``items`` the schema does not know yet."""
        schema = self.pod.schema
        wanted: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items):
            here = where if where == "item" else f"{where}[{index}]"
            if not isinstance(item, Mapping):
                raise BadRequest(f"{here}: an item is a JSON object, got {type(item).__name__}")
            item_type = item.get("type")
            if not isinstance(item_type, str) or item_type in BUILTIN_TYPES:
                continue
            known = schema.properties.get(item_type, {})
            edges = schema.edges.get(item_type, {})
            entry = wanted.setdefault(item_type, {"properties": {}, "edges": {}})
            for name, value in item.items():
                if name in RESERVED or name in _POD_OWNED or value is None:
                    continue
                if name not in known and name not in edges:
                    entry["properties"].setdefault(name, _infer(name, value, here))
        new = {t: e for t, e in wanted.items() if t not in schema.properties or e["properties"]}
        if new:
            self.pod.add_schema(scope, new)

    def declare_edge(self, scope: Scope, source_type: str, name: str, target_type: str) -> None:
        """Declare an edge a Memri client links without having declared it."""
        if source_type in BUILTIN_TYPES:
            return
        declared = self.pod.schema.edges.get(source_type, {}).get(name)
        if declared is None and name not in self.pod.schema.properties.get(source_type, {}):
            self.pod.add_schema(
                scope, {source_type: {"properties": {}, "edges": {name: target_type}}}
            )

    def schema_request(self, payload: Any) -> dict[str, dict[str, dict[str, str]]]:
        """A Memri ``/v5/.../schema`` payload as the pod's schema request (only what is new)."""
        if not isinstance(payload, Mapping) or not isinstance(payload.get("nodes", {}), Mapping):
            raise BadRequest('schema: expected {"nodes": {...}, "edges": {...}, "meta": {...}}')
        schema = self.pod.schema
        request: dict[str, dict[str, dict[str, str]]] = {}
        for item_type, node in payload.get("nodes", {}).items():
            if item_type in BUILTIN_TYPES:
                continue
            if not isinstance(node, Mapping) or not isinstance(node.get("properties", {}), Mapping):
                raise BadRequest(f'schema.nodes.{item_type}: expected {{"properties": {{...}}}}')
            entry = request.setdefault(item_type, {"properties": {}, "edges": {}})
            known = schema.properties.get(item_type, {})
            for name, memri_type in node.get("properties", {}).items():
                if name in RESERVED:
                    continue
                value_type = MEMRI_VALUE_TYPES.get(memri_type)
                if value_type is None:
                    raise BadRequest(
                        f"schema.nodes.{item_type}.properties.{name}: {memri_type!r} is not one "
                        f"of {', '.join(MEMRI_VALUE_TYPES)}"
                    )
                if name not in known:
                    entry["properties"][name] = value_type
        edges = payload.get("edges", {})
        if not isinstance(edges, Mapping):
            raise BadRequest('schema.edges: expected {"name": [{"source", "target"}]}')
        for name, pairs in edges.items():
            if not isinstance(pairs, list):
                raise BadRequest(f'schema.edges.{name}: expected [{{"source", "target"}}]')
            targets: dict[str, set[str]] = {}
            for pair in pairs:
                if not isinstance(pair, Mapping) or not {"source", "target"} <= set(pair):
                    raise BadRequest(f'schema.edges.{name}: expected [{{"source", "target"}}]')
                targets.setdefault(str(pair["source"]), set()).add(str(pair["target"]))
            for source, kinds in targets.items():
                if source in BUILTIN_TYPES:
                    continue
                target = next(iter(kinds)) if len(kinds) == 1 else ANY_TARGET
                if name in schema.edges.get(source, {}):
                    continue
                entry = request.setdefault(source, {"properties": {}, "edges": {}})
                entry["edges"][name] = target
        return {
            t: e
            for t, e in request.items()
            if e["properties"] or e["edges"] or t not in schema.properties
        }

    # -- values -----------------------------------------------------------------------------

    def to_pod(self, item: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A Memri item (after :meth:`declare`) as the pod stores it: dates as ISO text."""
        declared = self.pod.schema.properties.get(str(item.get("type")), {})
        out: dict[str, Any] = {}
        for name, value in item.items():
            if name in _POD_OWNED or (value is None and name != "id"):
                continue
            if declared.get(name) == "datetime":
                value = _iso(value, f"{where}.{name}")
            out[name] = value
        return out

    def to_memri(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A stored item (as the pod returns it) as the Memri API returns it."""
        item_type = str(data.get("type"))
        if item_type == "PluginRun":
            return self._run_to_memri(data)
        declared = self.pod.schema.properties.get(item_type, {})
        names = {v: k for k, v in _ACCOUNT_NAMES.items()} if item_type == "Account" else {}
        out: dict[str, Any] = {"id": data.get("id"), "type": item_type}
        for name, value in data.items():
            if name in RESERVED or name.startswith("_") or value is None:
                continue
            if declared.get(name) == "datetime":
                value = _millis(value)
            out[names.get(name, name)] = value
        self._dates(out, data)
        return out

    @staticmethod
    def _dates(out: dict[str, Any], data: Mapping[str, Any]) -> None:
        created, updated = data.get("created_at"), data.get("updated_at")
        if isinstance(created, float):
            out.setdefault("dateCreated", _millis(created))
        if isinstance(updated, float):
            out.setdefault("dateModified", _millis(updated))
            out["dateServerModified"] = _millis(updated)
        out["deleted"] = False

    def _run_to_memri(self, data: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": data.get("id"), "type": "PluginRun"}
        for memri, ours in _RUN_NAMES.items():
            value = data.get(ours)
            if value is not None:
                out[memri] = memri_status(value) if memri == "status" else value
        out["targetItemId"] = data.get("id")
        self._dates(out, data)
        return out

    # -- PluginRuns -------------------------------------------------------------------------

    @staticmethod
    def new_run(item: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """A Memri PluginRun to create: its id and the pod's run fields."""
        run_id = item.get("id")
        if run_id is not None and not isinstance(run_id, str):
            raise BadRequest(f"PluginRun: id must be a string, got {run_id!r}")
        target = item.get("targetItemId")
        if target is not None and target != run_id:
            raise BadRequest("PluginRun: targetItemId should match id")
        fields: dict[str, Any] = {}
        for memri, ours in _RUN_NAMES.items():
            value = item.get(memri)
            if value is not None and memri not in ("status", "progress", "error", "authUrl"):
                fields[ours] = value
        for key in ("pluginModule", "pluginName"):
            if not isinstance(item.get(key), str) or not item.get(key):
                raise BadRequest(f"PluginRun: {key} is required (a non-empty string)")
        return run_id, fields

    @staticmethod
    def run_changes(item: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        """A Memri PluginRun update as the pod's run changes (an unchanged status is dropped)."""
        changes: dict[str, Any] = {}
        for name, value in item.items():
            if name == "id" or name in _POD_OWNED or name in _DATES:
                continue
            if name not in _RUN_UPDATABLE:
                if name in _RUN_NAMES and current.get(_RUN_NAMES[name]) == value:
                    continue
                raise BadRequest(
                    f"PluginRun {current.get('id')}: {name} cannot be changed "
                    f"(a plugin changes {', '.join(sorted(_RUN_UPDATABLE))})"
                )
            ours = _RUN_NAMES[name]
            if name == "status":
                value = plugyard_status(value)
                if value == current.get("status"):
                    continue
            changes[ours] = value
        return changes

    @staticmethod
    def search_filters(type_name: str | None, query: Mapping[str, Any]) -> dict[str, Any]:
        """Memri search keys as the pod's filters, for PluginRun's and Account's own names."""
        if type_name == "PluginRun":
            names = _RUN_NAMES
        elif type_name == "Account":
            names = _ACCOUNT_NAMES
        else:
            return dict(query)
        out: dict[str, Any] = {}
        for name, value in query.items():
            if name == "status":
                value = plugyard_status(value)
            out[names.get(name, name)] = value
        return out
