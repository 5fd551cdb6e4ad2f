"""The tea shop: a Starlette app whose lifespan runs a plugyard host.

Start-up loads the host (adapters and plugins), declares the shop's event types, then starts
it; shutdown stops it. Requests the shop has no route for go to the host's own HTTP app, so
background plugins' routes (``/teapot``), ``/health`` and ``/plugins`` answer here too.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugyard.adapters.asyncio import AsyncioService
from plugyard.host import ConfigError, Host

from ._monitoring import RequestMonitor
from .events import declare_events

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from plugyard.sdk import Event

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG", "MENU", "create_app"]

logger = logging.getLogger("embedding_app")

SERVICE = "tea-shop"

CONFIG_ENV = "EMBEDDING_APP_CONFIG"
"""Environment variable naming the host's configuration file (``plugyard.toml``)."""

DEFAULT_CONFIG: Mapping[str, Any] = {
    "host": {"name": SERVICE, "autoload": False, "adapters": ["asyncio"]},
    "plugins": {
        "request_stats": {"use": "embedding_app.plugins:RequestStats"},
        "order_tally": {"use": "embedding_app.plugins:OrderTally"},
    },
}
"""The configuration used when neither ``create_app(config)`` nor :data:`CONFIG_ENV` names one."""

MENU: Mapping[str, float] = {"sencha": 3.5, "assam": 3.0, "earl-grey": 3.2, "rooibos": 2.8}
"""Teas on offer and their price per cup."""


class OrderRequest(BaseModel):
    """The body of ``POST /orders``."""

    model_config = ConfigDict(extra="forbid")

    tea: str
    cups: int = Field(ge=1, le=12)

    @field_validator("tea")
    @classmethod
    def _on_the_menu(cls, value: str) -> str:
        if value not in MENU:
            raise ValueError(f"{value!r} is not on the menu ({', '.join(MENU)})")
        return value


@dataclass(frozen=True, slots=True)
class Order:
    """An accepted order."""

    id: str
    tea: str
    cups: int
    price: float


def _error(request: Request, status: int, message: str) -> JSONResponse:
    """A JSON error shaped like the host's own (``error``, ``status``, ``request_id`` ...)."""
    body = {
        "error": message,
        "status": status,
        "method": request.method,
        "path": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    return JSONResponse(body, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    response = _error(request, exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


async def _invalid_json(request: Request, exc: Exception) -> Response:
    return _error(request, 400, f"request body is not valid JSON: {exc}")


async def _invalid_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: "
        + err["msg"].removeprefix("Value error, ")
        for err in exc.errors()
    ]
    return _error(request, 422, "; ".join(problems))


class HostRoutes:
    """The host's HTTP app, looked up per request.

    The asyncio adapter adds its service (and its ``asgi_app``) when the host loads, which is
    after the shop's routes are built; by the time a request arrives the lifespan has loaded
    the host.
    """

    def __init__(self, host: Host) -> None:
        self.host = host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await AsyncioService.of(self.host).asgi_app(scope, receive, send)


class TeaShop:
    """The shop's own endpoints and its orders (kept in memory)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.orders: dict[str, Order] = {}
        self._ids = itertools.count(1)

    def routes(self) -> list[Route]:
        """``GET /``, ``GET /menu``, ``POST /orders`` and ``GET /orders/{order_id}``."""
        return [
            Route("/", self.about, methods=["GET"]),
            Route("/menu", self.menu, methods=["GET"]),
            Route("/orders", self.place_order, methods=["POST"]),
            Route("/orders/{order_id}", self.get_order, methods=["GET"]),
        ]

    async def about(self, request: Request) -> Response:
        """The service, its host's plugins and the declared event types."""
        host = self.host
        return JSONResponse(
            {
                "service": SERVICE,
                "host": host.name,
                "running": host.running,
                "plugins": {r.name: str(r.state) for r in host.plugins if r.model != "adapter"},
                "events": AsyncioService.of(host).event_types.describe(),
            }
        )

    async def menu(self, request: Request) -> Response:
        """Teas and prices."""
        return JSONResponse({"teas": dict(MENU)})

    async def place_order(self, request: Request) -> Response:
        """Accept an order and emit ``order_placed`` (waits if the plugins are behind)."""
        wanted = OrderRequest.model_validate(await request.json())
        order = Order(
            f"o-{next(self._ids)}",
            wanted.tea,
            wanted.cups,
            round(MENU[wanted.tea] * wanted.cups, 2),
        )
        self.orders[order.id] = order
        await AsyncioService.of(self.host).event_types.put(
            "order_placed",
            order_id=order.id,
            tea=order.tea,
            cups=order.cups,
            request_id=request.state.request_id,
        )
        return JSONResponse(
            asdict(order), status_code=201, headers={"Location": f"/orders/{order.id}"}
        )

    async def get_order(self, request: Request) -> Response:
        """One order, or 404 naming it."""
        order_id = request.path_params["order_id"]
        order = self.orders.get(order_id)
        if order is None:
            raise HTTPException(404, f"no order {order_id!r}")
        return JSONResponse(asdict(order))


def _log_state(event: Event) -> None:
    """Log plugins starting, stopping and failing (``plugin.<name>.<state>`` host events)."""
    data = event.data
    state = data.get("state")
    if data.get("model") == "adapter" or state not in ("started", "stopped", "failed"):
        return
    if state == "failed":
        logger.warning("plugin %r failed: %s", data.get("name"), data.get("error"))
    else:
        logger.info("plugin %r %s", data.get("name"), state)


def _states(host: Host) -> str:
    return ", ".join(f"{r.name}={r.state}" for r in host.plugins if r.model != "adapter")


def _make_host(config: str | os.PathLike[str] | Mapping[str, Any] | None) -> Host:
    if config is None:
        config = os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    host = Host(config) if isinstance(config, Mapping) else Host.from_file(Path(config))
    http = host.config.to_dict().get("http")
    if isinstance(http, Mapping) and http.get("enabled", True) is not False:
        raise ConfigError(
            f"{host.config.where}: [http]: the tea shop serves the host's routes itself; remove "
            "[http] or set enabled = false (it would start a second HTTP server)"
        )
    return host


def create_app(config: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> Starlette:
    """The tea shop's ASGI app, with a plugyard host configured by ``config``.

    ``config`` is a ``plugyard.toml`` path or a mapping; by default the file named by the
    ``EMBEDDING_APP_CONFIG`` environment variable, else :data:`DEFAULT_CONFIG`. A bad file
    raises :class:`plugyard.host.ConfigError` naming the file and the key. Serve it with
    ``uvicorn --factory embedding_app:create_app``.
    """
    host = _make_host(config)
    logging.basicConfig(
        level=host.config.host.log_level.upper(), format="%(levelname)-8s %(name)s: %(message)s"
    )
    shop = TeaShop(host)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await host.load()  # adapters and plugins: the asyncio service exists from here on
        if AsyncioService.find(host) is None:
            await host.stop()
            raise ConfigError(
                f"{host.config.where}: [host] adapters: the tea shop needs the 'asyncio' adapter "
                "(plugyard-asyncio) for its events and routes"
            )
        declare_events(AsyncioService.of(host).event_types)  # before any plugin starts
        unsubscribe = host.subscribe("plugin.*", _log_state, name=SERVICE)
        async with host:
            failed = [r.name for r in host.plugins if str(r.state) == "failed"]
            if failed:
                logger.warning("plugins failed to start: %s (see GET /health)", ", ".join(failed))
            logger.info("plugyard host %r started: %s", host.name, _states(host))
            yield
        unsubscribe()
        logger.info("plugyard host %r stopped: %s", host.name, _states(host))

    app = Starlette(
        routes=shop.routes(),
        middleware=[Middleware(RequestMonitor, host=host, service=SERVICE)],
        exception_handlers={
            HTTPException: _http_error,
            json.JSONDecodeError: _invalid_json,
            ValidationError: _invalid_body,
        },
        lifespan=lifespan,
    )
    # Whatever the shop has no route for goes to the host. A Mount("/") would take those
    # requests too, but would also turn the shop's own 405s into 404s.
    app.router.default = HostRoutes(host)
    app.state.host = host
    return app
