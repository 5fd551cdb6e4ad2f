"""The Memri pod's HTTP API, served by plugyard's pod over the same store as ``/pod/v1``.

Pymemri's ``PodClient`` posts ``{"auth": ..., "payload": ...}`` to ``{root}/v4/{owner_key}/
{endpoint}`` (and ``{root}/v5/{owner_key}/schema``). The owner key in the path names the
pod's owner and is not a secret; the authority is in ``auth``:

* ``{"type": "ClientAuth", "databaseKey": TOKEN}``: the database key is a plugyard token,
  the owner's (everything) or a run's (what that run may reach);
* ``{"type": "PluginAuth", "token": TOKEN}``: what plugyard hands a launched plugin in
  ``POD_AUTH_JSON``. A token the pod no longer knows (its run ended or was aborted) is
  answered with 421, as Memri's pod answers a plugin whose keys it lost, which makes
  Pymemri's own listener stop the plugin.

Errors are plain text with the status Pymemri's ``PodError`` carries.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from plugyard.sdk.pod import BadRequest, ItemNotFound, PodError, Unauthorized

from ._memri_items import MemriItems, memri_status

if TYPE_CHECKING:
    from .._pod import Pod, Scope
    from .._runs import RunManager

__all__ = ["MEMRI_PREFIX", "Misdirected", "memri_routes"]

MEMRI_PREFIX = "/memri"
"""Where the Memri API is mounted on the host's HTTP app: Pymemri's pod address is
``http://HOST:PORT/memri``."""

logger = logging.getLogger("plugyard.adapters.pod.memri")
_OWNER_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Misdirected(PodError):
    """A plugin's key the pod does not know (any more): Memri's pod answers 421."""

    status = 421


class PayloadTooLarge(PodError):
    """A request body over the pod's limit."""

    status = 413


@dataclass(slots=True)
class _Call:
    pod: Pod
    scope: Scope
    items: MemriItems
    runs: RunManager | None
    loop: asyncio.AbstractEventLoop | None = None


def _scope(pod: Pod, auth: Any) -> Scope:
    if not isinstance(auth, Mapping):
        raise Unauthorized('auth: expected {"type": "ClientAuth", "databaseKey": ...}')
    kind = auth.get("type")
    if kind == "ClientAuth":
        key = auth.get("databaseKey")
        if not isinstance(key, str) or not key:
            raise Unauthorized("auth: ClientAuth needs a databaseKey (a plugyard pod token)")
        try:
            return pod.scope_for(key)
        except Unauthorized:
            raise Unauthorized("auth: the databaseKey is not a token this pod issued") from None
    if kind == "PluginAuth":
        token = auth.get("token")
        if not isinstance(token, str) or not token:
            raise Unauthorized('auth: PluginAuth needs "token" (plugyard puts it in POD_AUTH_JSON)')
        try:
            return pod.scope_for(token)
        except Unauthorized:
            raise Misdirected(
                "auth: the pod does not know this plugin's token (its run ended or was aborted)"
            ) from None
    raise Unauthorized(f"auth: type {kind!r} is not ClientAuth or PluginAuth")


def _ids(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{where}: expected a list of item ids")
    return list(value)


def _edge(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not {"_source", "_target", "_name"} <= set(value):
        raise BadRequest(f'{where}: an edge is {{"_source", "_target", "_name"}}')
    return {"source": value["_source"], "target": value["_target"], "name": value["_name"]}


# -- endpoints (each runs in a worker thread) ---------------------------------------------------


def _create_item(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, Mapping):
        raise BadRequest("create_item: the payload is an item object")
    if payload.get("type") == "PluginRun":
        run_id, fields = call.items.new_run(payload)
        run, _token = call.pod.create_run(call.scope, fields, run_id=run_id)
        image = fields.get("container_image")
        if call.runs is not None and call.loop is not None and image not in (None, "", "none"):
            _launch(call.runs, call.loop, run["id"])
        return run["id"]
    call.items.declare(call.scope, [payload], "item")
    return call.pod.create(call.scope, [call.items.to_pod(payload, "item")], where="item")[0]


def _launch(runs: RunManager, loop: asyncio.AbstractEventLoop, run_id: str) -> None:
    """Launch a run a Memri client created, as Memri's pod starts its container.

    Memri's pod fires and forgets; so does this, but the host watches the run, and a launch
    that fails puts the run in ``error`` with the reason.
    """
    try:
        asyncio.run_coroutine_threadsafe(runs.launch(run_id, None), loop).result()
    except PodError as exc:
        logger.warning("run %s: not launched: %s", run_id, exc.message)
    except Exception:
        logger.exception("run %s: not launched", run_id)


def _get_item(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, str):
        raise BadRequest("get_item: the payload is an item id")
    try:
        return [call.items.to_memri(call.pod.get(call.scope, payload))]
    except ItemNotFound:
        return []


def _update_item(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("id"), str):
        raise BadRequest("update_item: the payload is an item object with an id")
    current = call.pod.get(call.scope, payload["id"])
    if current["type"] == "PluginRun":
        changes = call.items.run_changes(payload, current)
        if changes:
            call.pod.update_run(call.scope, current["id"], changes)
        return None
    typed = {**payload, "type": current["type"]}
    call.items.declare(call.scope, [typed], "item")
    call.pod.update(call.scope, current["id"], call.items.to_pod(typed, "item"))
    return None


def _delete_item(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, str):
        raise BadRequest("delete_item: the payload is an item id")
    call.pod.delete(call.scope, payload)
    return None


def _get_edges(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("item"), str):
        raise BadRequest('get_edges: expected {"item": id, "direction": "Outgoing"}')
    direction = payload.get("direction", "Outgoing")
    if direction != "Outgoing":
        raise BadRequest(f"get_edges: direction {direction!r}: plugyard's pod answers Outgoing")
    item = call.pod.get(call.scope, payload["item"])
    edges = [
        {"name": edge["name"], "item": call.items.to_memri(edge["target"])}
        for edge in item["_edges"]
    ]
    if item["type"] == "PluginRun":
        account = call.pod.get_account(call.scope, item["id"])
        if account is not None:
            edges.append({"name": "account", "item": call.items.to_memri(account)})
    return edges


def _create_edge(call: _Call, payload: Any) -> Any:
    edge = _edge(payload, "create_edge")
    _declare_edges(call, [edge], {})
    call.pod.create_edges(call.scope, [edge])
    return None


def _declare_edges(call: _Call, edges: list[dict[str, str]], known: Mapping[str, str]) -> None:
    wanted = [i for e in edges for i in (e["source"], e["target"]) if i not in known]
    stored = call.pod.store.get_many(wanted)
    types = {**known, **{row.id: row.type for row in stored.values()}}
    for edge in edges:
        source, target = types.get(edge["source"]), types.get(edge["target"])
        if source is not None and target is not None:
            call.items.declare_edge(call.scope, source, edge["name"], target)


def _search(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, Mapping):
        raise BadRequest('search: the payload is an object such as {"type": "Dog"}')
    query = dict(payload)
    with_edges = query.pop("[[edges]]", None) is not None
    limit = query.pop("_limit", None)
    offset = query.pop("_offset", 0)
    order = query.pop("_sortOrder", "Asc")
    if order not in ("Asc", "Desc"):
        raise BadRequest(f"search: _sortOrder is Asc or Desc, not {order!r}")
    if query.pop("deleted", None) is True:
        return []
    for key in [k for k in query if isinstance(k, str) and k.endswith("==")]:
        query[key[:-2]] = query.pop(key)
    for key in query:
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            raise BadRequest(
                f"search: {key!r}: plugyard's pod matches properties by equality "
                "(with _limit, _offset, _sortOrder and [[edges]])"
            )
    type_name = query.get("type")
    filters = call.items.search_filters(type_name, query)
    if isinstance(type_name, str):
        declared = call.pod.schema.properties.get(type_name)
        if declared is None or any(k not in declared for k in filters if k not in ("id", "type")):
            return []
        filters = call.items.to_pod(filters, "search") if type_name != "PluginRun" else filters
    rows = call.pod.search(call.scope, filters, limit, offset, newest_first=order == "Desc")
    found = []
    for row in rows:
        item = call.items.to_memri(row)
        if with_edges:
            item["[[edges]]"] = [
                {"_edge": edge["name"], "_item": call.items.to_memri(edge["target"])}
                for edge in call.pod.get(call.scope, row["id"])["_edges"]
            ]
        found.append(item)
    return found


def _bulk(call: _Call, payload: Any) -> Any:
    known = {"createItems", "updateItems", "createEdges", "deleteItems", "search"}
    if not isinstance(payload, Mapping) or set(payload) - known:
        raise BadRequest(f"bulk: expected an object with {', '.join(sorted(known))}")
    creates = payload.get("createItems") or []
    if not isinstance(creates, list):
        raise BadRequest("bulk.createItems: expected a list of items")
    if any(isinstance(i, Mapping) and i.get("type") == "PluginRun" for i in creates):
        raise BadRequest("bulk.createItems: create a PluginRun with create_item")
    call.items.declare(call.scope, creates, "bulk.createItems")
    create = [call.items.to_pod(item, f"bulk.createItems[{n}]") for n, item in enumerate(creates)]
    updates = payload.get("updateItems") or []
    if not isinstance(updates, list) or not all(
        isinstance(u, Mapping) and isinstance(u.get("id"), str) for u in updates
    ):
        raise BadRequest("bulk.updateItems: expected a list of items with ids")
    stored = call.pod.store.get_many([u["id"] for u in updates])
    update, run_updates = [], []
    for n, change in enumerate(updates):
        row = stored.get(change["id"])
        if row is None:
            raise ItemNotFound(f"bulk.updateItems[{n}]: no item with id {change['id']!r}")
        if row.type == "PluginRun":
            run_updates.append(change)
            continue
        typed = {**change, "type": row.type}
        call.items.declare(call.scope, [typed], f"bulk.updateItems[{n}]")
        update.append(call.items.to_pod(typed, f"bulk.updateItems[{n}]"))
    edges = [
        _edge(e, f"bulk.createEdges[{n}]") for n, e in enumerate(payload.get("createEdges") or [])
    ]
    _declare_edges(call, edges, {str(i.get("id")): str(i.get("type")) for i in create})
    request = {
        "create": create,
        "update": update,
        "delete": _ids(payload.get("deleteItems") or [], "bulk.deleteItems"),
        "edges": edges,
    }
    result = call.pod.bulk(call.scope, request)
    for change in run_updates:
        _update_item(call, change)
    searches = payload.get("search") or []
    if not isinstance(searches, list):
        raise BadRequest("bulk.search: expected a list of search queries")
    return {
        "createItems": result["created"],
        "updateItems": result["updated"] + [c["id"] for c in run_updates],
        "deleteItems": result["deleted"],
        "createEdges": result["edges"],
        "search": [_search(call, query) for query in searches],
    }


def _get_file(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, Mapping):
        raise BadRequest('get_file: expected {"sha256": ...}')
    return call.pod.get_file(call.scope, payload.get("sha256"))


def _plugin_status(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, Mapping):
        raise BadRequest('plugin/status: expected {"plugins": [run ids]}')
    statuses = {}
    for run_id in _ids(payload.get("plugins"), "plugin/status.plugins"):
        try:
            run = call.pod.get_run(call.scope, run_id)
        except ItemNotFound:
            continue
        statuses[run_id] = {"status": memri_status(run.get("status"))}
    return {"plugins": statuses}


def _trigger_status(call: _Call, payload: Any) -> Any:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("trigger_id"), str):
        raise BadRequest('trigger/status: expected {"item_ids", "trigger_id", "status"}')
    call.pod._emit(
        f"pod.trigger.{payload['trigger_id']}.status",
        {
            "trigger_id": payload["trigger_id"],
            "item_ids": _ids(payload.get("item_ids") or [], "trigger/status.item_ids"),
            "status": str(payload.get("status")),
            "run_id": call.scope.run_id,
        },
    )
    return None


def _schema(call: _Call, payload: Any) -> Any:
    request = call.items.schema_request(payload)
    if request:
        call.pod.add_schema(call.scope, request)
    return None


_V4: dict[str, Callable[[_Call, Any], Any]] = {
    "create_item": _create_item,
    "get_item": _get_item,
    "update_item": _update_item,
    "delete_item": _delete_item,
    "get_edges": _get_edges,
    "create_edge": _create_edge,
    "search": _search,
    "bulk": _bulk,
    "get_file": _get_file,
    "plugin/status": _plugin_status,
    "trigger/status": _trigger_status,
}
_V5: dict[str, Callable[[_Call, Any], Any]] = {"schema": _schema}


# -- the routes ---------------------------------------------------------------------------------


def _reply(value: Any) -> Response:
    if isinstance(value, bytes):
        return Response(value, media_type="application/octet-stream")
    return JSONResponse(value)


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; this pod takes at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body passes {limit} bytes, this pod's limit")
        chunks.append(chunk)
    return b"".join(chunks)


def memri_routes(
    get_pod: Callable[[], Pod],
    get_runs: Callable[[], RunManager | None],
    *,
    max_body: int = 64 * 1024 * 1024,
) -> list[Any]:
    """The Memri API as one ``Mount`` at :data:`MEMRI_PREFIX`."""
    translators: dict[int, MemriItems] = {}

    def items_for(pod: Pod) -> MemriItems:
        found = translators.get(id(pod))
        if found is None or found.pod is not pod:
            found = translators[id(pod)] = MemriItems(pod)
        return found

    def guarded(
        handler: Callable[[Request], Any],
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                owner = request.path_params.get("owner")
                if owner is not None and not _OWNER_KEY.match(owner):
                    raise BadRequest(f"owner key {owner!r} is not 1-128 letters, digits, _ or -")
                response: Response = await handler(request)
                return response
            except PodError as exc:
                return PlainTextResponse(exc.message, status_code=exc.status)
            except Exception as exc:
                from .._http import storage_failure

                converted = storage_failure(exc)
                if converted is None:
                    raise
                return PlainTextResponse(converted.message, status_code=converted.status)

        return endpoint

    async def body(request: Request) -> tuple[Pod, Any, Any]:
        raw = await _read(request, max_body)
        try:
            data = json.loads(raw) if raw else None
        except ValueError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadRequest("the body is JSON nested too deeply") from None
        if not isinstance(data, Mapping) or "auth" not in data:
            raise BadRequest('the body is {"auth": {...}, "payload": ...}')
        return get_pod(), data["auth"], data.get("payload")

    def dispatcher(table: Mapping[str, Callable[[_Call, Any], Any]], version: str) -> Any:
        async def call(request: Request) -> Response:
            endpoint = request.path_params["endpoint"]
            handler = table.get(endpoint)
            if handler is None:
                raise ItemNotFound(
                    f"{version}/{endpoint}: plugyard's pod does not serve this Memri endpoint "
                    f"(it serves {', '.join(sorted(table))})"
                )
            pod, auth, payload = await body(request)
            scope = _scope(pod, auth)
            done = _Call(pod, scope, items_for(pod), get_runs(), asyncio.get_running_loop())
            return _reply(await run_in_threadpool(handler, done, payload))

        return call

    async def upload(pod: Pod, scope: Scope, request: Request) -> Response:
        data = await _read(request, max_body)
        stored = await run_in_threadpool(pod.put_file, scope, request.path_params["sha"], data)
        if not stored:
            return PlainTextResponse("the file is stored already", status_code=409)
        return JSONResponse(None)

    async def upload_file(request: Request) -> Response:
        pod = get_pod()
        auth = {"type": "ClientAuth", "databaseKey": request.path_params["key"]}
        return await upload(pod, _scope(pod, auth), request)

    async def upload_file_b(request: Request) -> Response:
        pod = get_pod()
        try:
            auth = json.loads(urllib.parse.unquote(request.path_params["auth"]))
        except (ValueError, RecursionError):
            raise BadRequest("upload_file_b: the auth in the path is not JSON") from None
        return await upload(pod, _scope(pod, auth), request)

    async def account(request: Request) -> Response:
        raw = await _read(request, 64 * 1024)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest('account: expected {"ownerKey", "databaseKey"}') from None
        if not isinstance(data, Mapping):
            raise BadRequest('account: expected {"ownerKey", "databaseKey"}')
        _scope(get_pod(), {"type": "ClientAuth", "databaseKey": data.get("databaseKey")})
        return JSONResponse(None)

    async def version(request: Request) -> Response:
        try:
            ours = importlib.metadata.version("plugyard-pod")
        except importlib.metadata.PackageNotFoundError:
            ours = "unknown"
        return JSONResponse({"cargo": ours, "server": "plugyard-pod", "api": ["v4", "v5"]})

    routes = [
        Route("/", guarded(version), methods=["GET"]),
        Route("/version", guarded(version), methods=["GET"]),
        Route("/v4/account", guarded(account), methods=["POST"]),
        Route("/v4/{owner}/upload_file/{key}/{sha}", guarded(upload_file), methods=["POST"]),
        Route("/v4/{owner}/upload_file_b/{auth}/{sha}", guarded(upload_file_b), methods=["POST"]),
        Route("/v4/{owner}/{endpoint:path}", guarded(dispatcher(_V4, "v4")), methods=["POST"]),
        Route("/v5/{owner}/{endpoint:path}", guarded(dispatcher(_V5, "v5")), methods=["POST"]),
    ]
    return [Mount(MEMRI_PREFIX, routes=routes)]
