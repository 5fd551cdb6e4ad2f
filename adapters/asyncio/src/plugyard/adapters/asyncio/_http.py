"""The host's ASGI app: plugin routes, routes other adapters contribute, ``/health`` and
``/plugins``, JSON errors with a request id."""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Receive, Scope, Send

    from plugyard.host import Host

__all__ = [
    "AsgiApp",
    "RouteClashError",
    "RouteTable",
    "bearer_token",
    "build_app",
    "is_local",
    "plugin_gate",
    "to_route",
]

logger = logging.getLogger("plugyard.adapters.asyncio.http")

BUILTIN = "plugyard-asyncio"
ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteClashError(ValueError):
    """Two owners asked for the same path and method; the message names both."""


@dataclass(frozen=True, slots=True)
class _Entry:
    owner: str
    path: str
    methods: frozenset[str]
    route: Any


def _methods_of(route: Any) -> frozenset[str]:
    methods = getattr(route, "methods", None)
    return frozenset(methods) if methods else ALL_METHODS


def to_route(spec: Any, *, where: str) -> BaseRoute:
    """A Starlette route from a route object or a ``(path, endpoint[, methods])`` tuple."""
    from starlette.routing import BaseRoute, Route

    if isinstance(spec, BaseRoute):
        return spec
    if isinstance(spec, tuple | list) and len(spec) in (2, 3) and isinstance(spec[0], str):
        path, endpoint = spec[0], spec[1]
        methods = list(spec[2]) if len(spec) == 3 and spec[2] else None
        if not path.startswith("/"):
            raise ValueError(f"{where}: route path must start with '/', got {path!r}")
        if not callable(endpoint):
            raise ValueError(f"{where}: route {path!r}: endpoint {endpoint!r} is not callable")
        return Route(path, endpoint, methods=methods)
    raise ValueError(
        f"{where}: expected a Starlette Route or Mount, or a (path, endpoint, methods) tuple; "
        f"got {spec!r}"
    )


class RouteTable:
    """Every route by owner; a path and method claimed twice is a :class:`RouteClashError`."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def add(self, owner: str, specs: Iterable[Any], *, gate: Callable[..., Any] | None) -> None:
        """Add ``owner``'s routes; all or none (a clash leaves the table unchanged)."""
        new: list[_Entry] = []
        for spec in specs:
            route = to_route(spec, where=f"plugin {owner!r}")
            path = str(getattr(route, "path", ""))
            entry = _Entry(owner, path, _methods_of(route), route)
            for other in (*self._entries, *new):
                if other.path == path and other.methods & entry.methods:
                    verbs = ", ".join(sorted(other.methods & entry.methods))
                    raise RouteClashError(
                        f"route {path} ({verbs}) of {_who(owner)} clashes with the same "
                        f"route of {_who(other.owner)}"
                    )
            if gate is not None and hasattr(route, "app"):
                route.app = gate(owner, path, route.app)
            new.append(entry)
        self._entries.extend(new)

    def owners(self) -> dict[str, list[str]]:
        """Paths by owner."""
        found: dict[str, list[str]] = {}
        for entry in self._entries:
            found.setdefault(entry.owner, []).append(entry.path)
        return found

    def routes(self) -> list[BaseRoute]:
        """The Starlette routes, in the order they were added."""
        return [entry.route for entry in self._entries]

    def remove(self, owner: str) -> None:
        """Forget ``owner``'s routes (a plugin that failed to build)."""
        self._entries = [e for e in self._entries if e.owner != owner]


def _who(owner: str) -> str:
    return "plugyard-asyncio (built in)" if owner == BUILTIN else f"plugin {owner!r}"


def _request_id(scope: Scope, header: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == header and 0 < len(value) <= 64 and value.isascii():
            return str(value.decode())
    return uuid.uuid4().hex[:16]


RequestHook = Callable[["MutableMapping[str, Any]", str, int, float, float], None]
"""Called when a request ends: ``(scope, request_id, status, started, duration)``."""


class RequestIdMiddleware:
    """Gives each request an id (from the request-id header, or generated), sent back in the
    same header; turns an unhandled error into a JSON 500 that carries it (logged with the
    plugin that owns the route); and reports every finished request to ``on_request``."""

    def __init__(
        self,
        app: ASGIApp,
        header: str = "X-Request-Id",
        on_request: RequestHook | None = None,
    ) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope, self.header)
        scope.setdefault("state", {})["request_id"] = rid
        header = self.header
        started = False
        status = 500
        began = time.time()
        clock = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((header, rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            owner = scope.get("plugyard.plugin", "unknown")
            logger.error(
                "request %s %s (request id %s, plugin %r) failed: %s: %s",
                scope.get("method"),
                scope.get("path"),
                rid,
                owner,
                type(exc).__name__,
                exc,
                exc_info=exc,
                extra={"plugin": owner, "request_id": rid},
            )
            if not started:
                from starlette.responses import JSONResponse

                response = JSONResponse(
                    {"error": "internal server error", "status": 500, "request_id": rid},
                    status_code=500,
                )
                await response(scope, receive, send_with_id)
        finally:
            if self.on_request is not None:
                try:
                    self.on_request(scope, rid, status, began, time.perf_counter() - clock)
                except Exception:
                    logger.exception("request %s: reporting the finished request failed", rid)


def _error_body(request: Request, status: int, message: str) -> dict[str, Any]:
    return {
        "error": message,
        "status": status,
        "method": request.method,
        "path": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }


async def _http_error(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response

    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    return JSONResponse(
        _error_body(request, exc.status_code, message),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    from pydantic import ValidationError
    from starlette.responses import JSONResponse

    assert isinstance(exc, ValidationError)
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}" for err in exc.errors()
    ]
    body = _error_body(request, 422, "; ".join(problems))
    return JSONResponse(body, status_code=422)


async def _json_error(request: Request, exc: Exception) -> Response:
    from starlette.responses import JSONResponse

    body = _error_body(request, 400, f"request body is not valid JSON: {exc}")
    return JSONResponse(body, status_code=400)


def is_local(request: Request) -> bool:
    """Whether a request comes from this machine (a loopback client address)."""
    client = request.client
    if client is None:
        return False
    try:
        return ipaddress.ip_address(client.host).is_loopback
    except ValueError:
        return False


def bearer_token(request: Request) -> str | None:
    """The token in an ``Authorization: Bearer TOKEN`` header, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def build_app(
    host: Host,
    table: RouteTable,
    describe_plugins: Callable[[], list[dict[str, Any]]],
    *,
    request_id_header: str = "X-Request-Id",
    on_request: RequestHook | None = None,
    check_token: Callable[[str | None], bool] | None = None,
) -> Starlette:
    """The Starlette app with ``/health``, ``/plugins`` and every route in ``table``;
    ``on_request`` hears of every finished request.

    A client on another machine sees only the status in ``/health`` and gets 401 from
    ``/plugins``, unless ``check_token`` accepts its bearer token; secret-looking plugin
    options are masked for everyone.
    """
    from pydantic import ValidationError
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from plugyard.host import redact_secrets

    def trusted(request: Request) -> bool:
        if is_local(request):
            return True
        return check_token is not None and check_token(bearer_token(request))

    async def health(request: Request) -> Response:
        failed = [r.name for r in host.plugins if str(r.state) == "failed"]
        status = "degraded" if failed else "ok"
        if not trusted(request):
            return JSONResponse({"status": status})
        return JSONResponse(
            {"status": status, "host": host.name, "running": host.running, "failed": failed}
        )

    async def plugins(request: Request) -> Response:
        if not trusted(request):
            body = _error_body(
                request,
                401,
                "/plugins needs the HTTP token from another machine: send "
                "'Authorization: Bearer TOKEN' ([http] token, or http.token in the host's "
                "runtime folder)",
            )
            return JSONResponse(body, status_code=401)
        return JSONResponse({"plugins": redact_secrets(describe_plugins())})

    table.add(
        BUILTIN,
        [Route("/health", health, methods=["GET"]), Route("/plugins", plugins, methods=["GET"])],
        gate=None,
    )
    return Starlette(
        routes=table.routes(),
        middleware=[
            Middleware(RequestIdMiddleware, header=request_id_header, on_request=on_request)
        ],
        exception_handlers={
            HTTPException: _http_error,
            ValidationError: _validation_error,
            json.JSONDecodeError: _json_error,
        },
    )


class AsgiApp:
    """``AsyncioService.asgi_app``: an ASGI app that an application can mount before the host
    starts; it answers 503 until the routes are assembled at startup."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if app is not None:
            await app(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        from starlette.responses import JSONResponse

        response = JSONResponse(
            {"error": "the plugyard host has not started", "status": 503}, status_code=503
        )
        await response(scope, receive, send)


def _is_client_error(exc: Exception) -> bool:
    from pydantic import ValidationError
    from starlette.exceptions import HTTPException

    return isinstance(exc, HTTPException | ValidationError | json.JSONDecodeError)


def plugin_gate(
    is_started: Callable[[str], bool], count_error: Callable[[str], None]
) -> Callable[[str, str, ASGIApp], ASGIApp]:
    """Wrap a plugin's route: 503 while the plugin is not started; errors counted against it."""

    def gate(owner: str, path: str, app: ASGIApp) -> ASGIApp:
        async def gated(scope: Scope, receive: Receive, send: Send) -> None:
            scope["plugyard.plugin"] = owner
            if not is_started(owner):
                from starlette.responses import JSONResponse

                response = JSONResponse(
                    {"error": f"plugin {owner!r} is not running", "status": 503, "path": path},
                    status_code=503,
                )
                await response(scope, receive, send)
                return
            try:
                await app(scope, receive, send)
            except Exception as exc:
                if not _is_client_error(exc):
                    count_error(owner)
                raise

        return gated

    return gate
