"""The dashboard's ASGI app: server-rendered pages, a JSON API, the event stream over
Server-Sent Events, and the actions, which need the host's console token."""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from plugyard.sdk import CommandError

from . import _views as views
from ._service import ConsoleService

if TYPE_CHECKING:
    from jinja2 import Environment
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from plugyard.host import Host
    from plugyard.sdk import Event

__all__ = ["TOKEN_HEADER", "create_app"]

HERE = Path(__file__).parent
TOKEN_HEADER = "X-Plugyard-Token"
"""The header that carries the token (``Authorization: Bearer TOKEN`` works too)."""
KEEPALIVE = 15.0
COALESCE = 0.05
"""Seconds a stream waits after new events arrive, so that a burst goes out in one write."""
PAGE_EVENTS = 200
Endpoint = Callable[["Request"], Awaitable["Response"]]


def _offered_token(request: Request, *, query: bool) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    token = request.headers.get(TOKEN_HEADER.lower())
    if token:
        return token
    return request.query_params.get("token") if query else None


def _is_local(request: Request) -> bool:
    client = request.client
    if client is None:
        return False
    try:
        return ipaddress.ip_address(client.host).is_loopback
    except ValueError:
        return False


def _json_error(status: int, message: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message, "status": status}, status_code=status)


def _templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        enable_async=False,
    )
    env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, default=str)
    env.filters["duration"] = _duration
    return env


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def event_dict(event: Event) -> dict[str, Any]:
    """An event as JSON-ready data."""
    return {
        "seq": event.seq,
        "id": event.id,
        "topic": event.topic,
        "source": event.source,
        "time": event.time,
        "data": event.data,
    }


_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode
"""JSON text of a value (one encoder for every event: ``json.dumps`` with options builds a
new one per call)."""


def _sse(event: Event) -> bytes:
    """One event as a Server-Sent Events message (orjson: the stream's main cost)."""
    body = {
        "seq": event.seq,
        "id": event.id,
        "topic": event.topic,
        "source": event.source,
        "time": event.time,
        "data": event.data,
    }
    try:
        data = orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what orjson refuses (an int past 64 bits, a Mapping that is no dict)
        data = _encode(body).encode()
    return b"id: %d\nevent: host-event\ndata: %s\n\n" % (event.seq, data)


def create_app(host: Host, console: ConsoleService | None = None) -> Starlette:
    """The dashboard for ``host``, an ASGI app to mount where you like (the console adapter
    mounts it at ``[console] path`` on the host's HTTP app)."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    templates = _templates()

    def service() -> ConsoleService:
        return console if console is not None else ConsoleService.of(host)

    def guarded(endpoint: Endpoint, *, action: bool = False) -> Endpoint:
        async def wrapper(request: Request) -> Response:
            svc = service()
            local = _is_local(request)
            if not local and not svc.settings.allow_remote:
                return _json_error(
                    403, "the console answers this machine only ([console] allow_remote)"
                )
            needs_token = action or not local
            if needs_token and not svc.check_token(_offered_token(request, query=not action)):
                what = "this action" if action else "a client on another machine"
                return _json_error(
                    401,
                    f"{what} needs the console token: send 'Authorization: Bearer TOKEN' "
                    f"or '{TOKEN_HEADER}: TOKEN'",
                )
            return await endpoint(request)

        return wrapper

    def render(request: Request, template: str, **context: Any) -> Response:
        svc = service()
        base = request.scope.get("root_path", "")
        page = templates.get_template(template).render(
            base=base,
            host=host,
            models=views.MODELS,
            partial=request.query_params.get("partial") == "1",
            last_seq=svc.last_seq,
            **context,
        )
        return HTMLResponse(page)

    async def plugins_page(request: Request) -> Response:
        model = request.query_params.get("model") or None
        state = request.query_params.get("state") or None
        rows = views.plugins(host, model, state)
        states = sorted({str(r.state) for r in host.plugins})
        return render(
            request,
            "plugins.html",
            page="plugins",
            plugins=rows,
            model=model,
            state=state,
            states=states,
            all_models=sorted({r.model for r in host.plugins}),
        )

    async def events_page(request: Request) -> Response:
        recent = [event_dict(e) for e in service().recent(PAGE_EVENTS)]
        recent.reverse()
        return render(request, "events.html", page="events", events=recent)

    async def tasks_page(request: Request) -> Response:
        try:
            rows = await views.tasks(host, service())
        except views.Missing as exc:
            return render(request, "missing.html", page="tasks", missing=str(exc))
        return render(request, "tasks.html", page="tasks", tasks=rows)

    async def deployments_page(request: Request) -> Response:
        try:
            rows = await views.deployments(host, service())
        except views.Missing as exc:
            return render(request, "missing.html", page="deployments", missing=str(exc))
        return render(request, "deployments.html", page="deployments", deployments=rows)

    async def runs_page(request: Request) -> Response:
        try:
            rows = await views.runs(host, service())
        except views.Missing as exc:
            return render(request, "missing.html", page="runs", missing=str(exc))
        return render(request, "runs.html", page="runs", runs=rows)

    # -- JSON ---------------------------------------------------------------------------------

    async def api_plugins(request: Request) -> Response:
        rows = views.plugins(
            host, request.query_params.get("model"), request.query_params.get("state")
        )
        return JSONResponse({"plugins": rows})

    async def api_events(request: Request) -> Response:
        after = _seq(request.query_params.get("after"))
        if after is None:
            return _json_error(400, "after: expected a sequence number (an integer >= 0)")
        events, gap = service().since(after)
        return JSONResponse({"events": [event_dict(e) for e in events], "gap": gap})

    def api_of(gather: Callable[[Host, ConsoleService], Awaitable[Any]], key: str) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                rows = await gather(host, service())
            except views.Missing as exc:
                return _json_error(404, f"no {exc} command: its adapter is not loaded")
            return JSONResponse({key: rows}, headers={"Cache-Control": "no-store"})

        return endpoint

    # -- the event stream ---------------------------------------------------------------------

    async def stream(request: Request) -> Response:
        raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        after = _seq(raw)
        if after is None:
            return _json_error(400, f"cannot resume from {raw!r}: expected a sequence number")
        pattern = request.query_params.get("topic") or "*"
        svc = service()

        most = max(1, int(svc.settings.stream_rate * COALESCE))

        async def lines() -> AsyncIterator[str | bytes]:
            last = after
            yield "retry: 1000\n\n"
            while True:
                events, gap = svc.since(last, most + 1)
                if len(events) > most:  # a flood: the newest, and how many were skipped
                    events = events[-most:]
                    skipped = events[0].seq - last - 1
                    data = json.dumps({"after": last, "skipped": skipped})
                    yield f"event: gap\ndata: {data}\n\n"
                elif gap:
                    yield f"event: gap\ndata: {json.dumps({'after': last})}\n\n"
                chunk = []
                for event in events:
                    last = event.seq
                    if pattern == "*" or fnmatch.fnmatchcase(event.topic, pattern):
                        chunk.append(_sse(event))
                if chunk:
                    yield b"".join(chunk)
                elif events:
                    # nothing matched: move the browser's resume point on all the same
                    yield f"id: {last}\n: skipped\n\n"
                if svc.closing:
                    yield "event: closing\ndata: {}\n\n"
                    return
                if not events and not await svc.wait_for_more(last, KEEPALIVE):
                    yield ": keepalive\n\n"
                    continue
                # one batch per COALESCE: a burst goes out in one write, and a flood is capped
                await asyncio.sleep(COALESCE)

        return StreamingResponse(
            lines(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    # -- actions ------------------------------------------------------------------------------

    def action(run: Callable[[Request], Awaitable[dict[str, Any]]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                reply = await run(request)
            except CommandError as exc:
                return _json_error(409, exc.reason)
            except KeyError as exc:
                return _json_error(404, str(exc.args[0] if exc.args else exc))
            return JSONResponse(reply)

        return endpoint

    async def restart(request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        if name not in {r.name for r in host.plugins}:
            raise KeyError(f"no plugin named {name!r}")
        return await host.run_command("restart", name=name)

    async def cancel(request: Request) -> dict[str, Any]:
        return await host.run_command("tasks.cancel", id=request.path_params["task_id"])

    async def abort(request: Request) -> dict[str, Any]:
        return await host.run_command("pod.abort", run_id=request.path_params["run_id"])

    async def to_plugins(request: Request) -> Response:
        from starlette.responses import RedirectResponse

        return RedirectResponse(request.scope.get("root_path", "") + "/plugins", 307)

    page_routes: list[tuple[str, Endpoint]] = [
        ("/", to_plugins),
        ("/plugins", plugins_page),
        ("/events", events_page),
        ("/tasks", tasks_page),
        ("/deployments", deployments_page),
        ("/runs", runs_page),
        ("/events/stream", stream),
        ("/api/plugins", api_plugins),
        ("/api/events", api_events),
        ("/api/tasks", api_of(views.tasks, "tasks")),
        ("/api/deployments", api_of(views.deployments, "deployments")),
        ("/api/runs", api_of(views.runs, "runs")),
    ]
    action_routes: list[tuple[str, Endpoint]] = [
        ("/api/plugins/{name}/restart", action(restart)),
        ("/api/tasks/{task_id}/cancel", action(cancel)),
        ("/api/runs/{run_id}/abort", action(abort)),
    ]
    routes: list[Any] = [
        Route(path, guarded(endpoint), methods=["GET"]) for path, endpoint in page_routes
    ]
    routes += [
        Route(path, guarded(endpoint, action=True), methods=["POST"])
        for path, endpoint in action_routes
    ]
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    return Starlette(routes=routes)


def _seq(raw: str | None) -> int | None:
    try:
        value = int(raw or "0")
    except ValueError:
        return None
    return value if value >= 0 else None
