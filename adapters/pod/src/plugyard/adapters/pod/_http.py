"""The pod's HTTP API (Starlette routes under ``/pod/v1``), authenticated by bearer tokens.

Every answer is JSON; an error is ``{"error": message}`` with a 4xx status naming what is
wrong. Store calls run in worker threads, where the store's group commit batches them; a
single item is written at once instead when that needs no waiting (SQLite, nobody else writing).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from plugyard.sdk.pod import BadRequest, Forbidden, PodError

if TYPE_CHECKING:
    from ._pod import Pod, Scope
    from ._runs import RunManager

__all__ = ["PREFIX", "LocalOnly", "StorageFull", "pod_routes", "storage_failure"]

PREFIX = "/pod/v1"
logger = logging.getLogger("plugyard.adapters.pod.http")

Endpoint = Callable[[Request], Awaitable[Response]]


class StorageFull(PodError):
    """The pod's database or disk is full: nothing of the request was stored (507)."""

    status = 507


_FULL_MARKERS = ("database or disk is full", "no space left on device", "disk full")


def _is_full(exc: BaseException) -> bool:
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if getattr(exc, "sqlstate", None) == "53100":
        return True
    return any(marker in str(exc).lower() for marker in _FULL_MARKERS)


def storage_failure(exc: BaseException) -> PodError | None:
    """The :class:`PodError` a storage failure becomes (a full disk: 507; a number the
    database cannot hold: 400), or ``None`` for anything else."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if _is_full(seen):
            break
        if isinstance(seen, OverflowError):
            return BadRequest(f"a number in the request is too large to store: {seen}")
        seen = seen.__cause__ or getattr(seen, "orig", None) or seen.__context__
    if seen is None or not _is_full(seen):
        return None
    logger.error("the pod's storage is full: %s", seen)
    return StorageFull(
        "the pod's storage is full (database or disk); nothing of this request was stored. "
        "Free space, then send it again"
    )


class LocalOnly:
    """ASGI middleware: answer 403 to clients not on this machine (``[pod] allow_remote``
    off), whichever server carries the pod API (its own, or the host's HTTP app)."""

    def __init__(self, app: Any, *, allow_remote: bool = False) -> None:
        self.app = app
        self.allow_remote = allow_remote

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self.allow_remote and not _loopback(scope):
            response = JSONResponse(
                {"error": "the pod API answers this machine only ([pod] allow_remote)"},
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _loopback(scope: Any) -> bool:
    import ipaddress

    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Plain:
    """An answer of strings, whole numbers, lists and dicts only (ids and counts), which
    orjson writes exactly as the standard library would, only faster."""

    data: dict[str, Any]


def _error(exc: PodError) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise BadRequest("the request needs a JSON body")
    try:
        return orjson.loads(raw)
    except ValueError:
        pass  # let the standard library say what is wrong (and read what orjson refuses)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the body is JSON nested too deeply") from None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


class _TooLarge(PodError):
    status = 413


async def _raw_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"the body passes {limit} bytes, this pod's limit")
        chunks.append(chunk)
    return b"".join(chunks)


def pod_routes(
    get_pod: Callable[[], Pod],
    get_runs: Callable[[], RunManager | None],
    *,
    max_body_size: int = 16 * 1024 * 1024,
    max_file_size: int = 64 * 1024 * 1024,
) -> list[Any]:
    """The API as one ``Mount`` at ``/pod/v1``; the pod is looked up per request. A body
    over ``max_body_size`` bytes (``max_file_size`` for a file upload) is answered 413 and
    never read whole."""

    def scoped(
        handler: Callable[[Pod, Scope, Request], Awaitable[Any]], status: int = 200
    ) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                pod = get_pod()
                scope = pod.scope_for(_bearer(request))
                result = await handler(pod, scope, request)
            except PodError as exc:
                return _error(exc)
            except Exception as exc:
                converted = storage_failure(exc)
                if converted is None:
                    raise
                return _error(converted)
            if type(result) is _Plain:
                return Response(orjson.dumps(result.data), status, media_type="application/json")
            return JSONResponse(result, status_code=status)

        return endpoint

    async def create(pod: Pod, scope: Scope, request: Request) -> Any:
        body = await _body(request)
        ids = pod.create_at_once(scope, [body], where="item")
        if ids is None:
            ids = await run_in_threadpool(pod.create, scope, [body], where="item")
        return _Plain({"id": ids[0]})

    async def get(pod: Pod, scope: Scope, request: Request) -> Any:
        return await run_in_threadpool(pod.get, scope, request.path_params["item_id"])

    async def update(pod: Pod, scope: Scope, request: Request) -> Any:
        body = await _body(request)
        return await run_in_threadpool(pod.update, scope, request.path_params["item_id"], body)

    async def delete(pod: Pod, scope: Scope, request: Request) -> Any:
        await run_in_threadpool(pod.delete, scope, request.path_params["item_id"])
        return {"deleted": request.path_params["item_id"]}

    async def search(pod: Pod, scope: Scope, request: Request) -> Any:
        body = await _body(request)
        if not isinstance(body, dict) or set(body) - {"filters", "limit", "offset", "order"}:
            raise BadRequest(
                'search: expected {"filters": {...}, "limit": N, "offset": N, "order": "asc"}'
            )
        order = body.get("order", "asc")
        if order not in ("asc", "desc"):
            raise BadRequest(f'search: order is "asc" or "desc", not {order!r}')
        rows = await run_in_threadpool(
            functools.partial(
                pod.search,
                scope,
                body.get("filters", {}),
                body.get("limit"),
                body.get("offset", 0),
                newest_first=order == "desc",
            )
        )
        return {"items": rows}

    async def put_file(pod: Pod, scope: Scope, request: Request) -> Any:
        data = await _raw_body(request, max_file_size)
        stored = await run_in_threadpool(pod.put_file, scope, request.path_params["sha"], data)
        return {"sha256": request.path_params["sha"], "stored": stored}

    async def get_file(request: Request) -> Response:
        try:
            pod = get_pod()
            scope = pod.scope_for(_bearer(request))
            data = await run_in_threadpool(pod.get_file, scope, request.path_params["sha"])
        except PodError as exc:
            return _error(exc)
        return Response(data, media_type="application/octet-stream")

    async def edges(pod: Pod, scope: Scope, request: Request) -> Any:
        body = await _body(request)
        if not isinstance(body, dict) or "edges" not in body:
            raise BadRequest('edges: expected {"edges": [{"source", "target", "name"}]}')
        return {"created": await run_in_threadpool(pod.create_edges, scope, body["edges"])}

    async def bulk(pod: Pod, scope: Scope, request: Request) -> Any:
        return _Plain(await run_in_threadpool(pod.bulk, scope, await _body(request)))

    async def get_schema(pod: Pod, scope: Scope, request: Request) -> Any:
        return pod.schema.to_dict()

    async def add_schema(pod: Pod, scope: Scope, request: Request) -> Any:
        return {"added": await run_in_threadpool(pod.add_schema, scope, await _body(request))}

    async def create_run(pod: Pod, scope: Scope, request: Request) -> Any:
        body = await _body(request)
        if not isinstance(body, dict):
            raise BadRequest("runs: expected an object")
        launch = body.pop("launch", None)
        run, token = await run_in_threadpool(pod.create_run, scope, body)
        if launch is not None:
            runs = get_runs()
            if runs is None:
                raise BadRequest("this pod has no launchers (it is not running inside a host)")
            launcher = launch if isinstance(launch, str) else None
            await runs.launch(run["id"], launcher)
            run = pod.get_run(scope, run["id"])
        return {"run": run, "token": token}

    async def get_run(pod: Pod, scope: Scope, request: Request) -> Any:
        return pod.get_run(scope, request.path_params["run_id"])

    async def update_run(pod: Pod, scope: Scope, request: Request) -> Any:
        body = await _body(request)
        return await run_in_threadpool(pod.update_run, scope, request.path_params["run_id"], body)

    async def abort_run(pod: Pod, scope: Scope, request: Request) -> Any:
        run_id = request.path_params["run_id"]
        runs = get_runs()
        if runs is None:
            return await run_in_threadpool(pod.update_run, scope, run_id, {"status": "aborted"})
        if not scope.is_owner:
            raise Forbidden(f"only the owner may abort runs, not {scope.describe()}")
        return await runs.abort(run_id)

    async def get_account(pod: Pod, scope: Scope, request: Request) -> Any:
        account = await run_in_threadpool(pod.get_account, scope, request.path_params["run_id"])
        return {"account": account}

    async def set_account(pod: Pod, scope: Scope, request: Request) -> Any:
        body = await _body(request)
        run = await run_in_threadpool(pod.set_account, scope, request.path_params["run_id"], body)
        return {"run": run}

    async def logs(pod: Pod, scope: Scope, request: Request) -> Any:
        run = pod.get_run(scope, request.path_params["run_id"])
        runs = get_runs()
        return {"lines": runs.logs(run["id"]) if runs is not None else []}

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/items", scoped(create, 201), methods=["POST"]),
        Route("/items/{item_id}", scoped(get), methods=["GET"]),
        Route("/items/{item_id}", scoped(update), methods=["PATCH"]),
        Route("/items/{item_id}", scoped(delete), methods=["DELETE"]),
        Route("/search", scoped(search), methods=["POST"]),
        Route("/edges", scoped(edges), methods=["POST"]),
        Route("/bulk", scoped(bulk), methods=["POST"]),
        Route("/files/{sha}", scoped(put_file), methods=["PUT"]),
        Route("/files/{sha}", get_file, methods=["GET"]),
        Route("/schema", scoped(get_schema), methods=["GET"]),
        Route("/schema", scoped(add_schema), methods=["POST"]),
        Route("/runs", scoped(create_run, 201), methods=["POST"]),
        Route("/runs/{run_id}", scoped(get_run), methods=["GET"]),
        Route("/runs/{run_id}", scoped(update_run), methods=["PATCH"]),
        Route("/runs/{run_id}/abort", scoped(abort_run), methods=["POST"]),
        Route("/runs/{run_id}/account", scoped(get_account), methods=["GET"]),
        Route("/runs/{run_id}/account", scoped(set_account), methods=["PUT"]),
        Route("/runs/{run_id}/logs", scoped(logs), methods=["GET"]),
    ]
    from starlette.middleware import Middleware

    from plugyard.host import BodyLimit

    limited = [
        Route(
            route.path,
            route.endpoint,
            methods=list(route.methods or ()),
            middleware=[
                Middleware(
                    BodyLimit,
                    max_size=max_file_size if route.path == "/files/{sha}" else max_body_size,
                )
            ],
        )
        for route in routes
    ]
    return [Mount(PREFIX, routes=limited)]
