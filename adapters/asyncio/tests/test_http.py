"""The host's ASGI app: plugin routes, contributed routes, errors, serving with uvicorn."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pydantic
import pytest
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from plugyard.adapters.asyncio import AsyncioAdapter, AsyncioService
from plugyard.host.testing import run_host
from plugyard.sdk import hookimpl
from plugyard.sdk.events import BackgroundPlugin, route

pytestmark = pytest.mark.timeout(30)


class TeapotEndpoint(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        return PlainTextResponse("I am teapot", status_code=418)


class Teapot(BackgroundPlugin):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        app.add_routes([("/teapot", TeapotEndpoint)])


class Cup(pydantic.BaseModel):
    size: int


class Kitchen(BackgroundPlugin):
    @route("/boom")
    async def boom(self, request: Request) -> Response:
        raise RuntimeError("kettle exploded")

    @route("/cups", methods=["POST"])
    async def cups(self, request: Request) -> Response:
        cup = Cup.model_validate(await request.json())
        return JSONResponse({"size": cup.size}, status_code=201)


class Rival(BackgroundPlugin):
    @route("/teapot")
    async def teapot(self, request: Request) -> Response:
        return PlainTextResponse("not a teapot")


class PodLikeAdapter:
    """Another adapter contributing routes through the plugyard_routes hook."""

    name = "podlike"

    @hookimpl
    def plugyard_routes(self, host: Any) -> list[Any]:
        async def items(request: Request) -> Response:
            return JSONResponse({"items": []})

        async def version(request: Request) -> Response:
            return JSONResponse({"version": 1})

        return [
            Mount("/v1", routes=[Route("/items", items)]),
            ("/version", version, ["GET"]),
        ]


def serving(plugins: Any, adapters: Any = (), **extra: Any) -> Any:
    config = {"http": {"port": 0}, **extra}
    return run_host(plugins=plugins, config=config, adapters=[AsyncioAdapter(), *adapters])


async def test_served_routes_answer_over_real_http() -> None:
    async with serving({"teapot": Teapot, "kitchen": Kitchen}, [PodLikeAdapter()]) as host:
        url = host.advertised["http_url"]
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            teapot = await client.get("/teapot")
            assert (teapot.status_code, teapot.text) == (418, "I am teapot")
            created = await client.post("/cups", json={"size": 3})
            assert (created.status_code, created.json()) == (201, {"size": 3})
            assert (await client.get("/v1/items")).json() == {"items": []}
            assert (await client.get("/version")).json() == {"version": 1}
            health = (await client.get("/health")).json()
            assert health["status"] == "ok"
            assert health["running"] is True
            listing = (await client.get("/plugins")).json()["plugins"]
            by_name = {p["name"]: p for p in listing}
            assert by_name["teapot"]["details"]["routes"] == ["/teapot"]
            assert by_name["kitchen"]["state"] == "started"
            assert by_name["asyncio"]["model"] == "adapter"


async def test_a_raising_route_returns_500_with_a_request_id_and_the_host_stays_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving({"kitchen": Kitchen, "teapot": Teapot}) as host:
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            boom = await client.get("/boom")
            assert boom.status_code == 500
            body = boom.json()
            assert body["error"] == "internal server error"
            assert body["request_id"] == boom.headers["x-request-id"]
            assert (await client.get("/teapot")).status_code == 418
        assert host.stats["kitchen"].errors == 1
        [logged] = [r for r in caplog.records if "kettle exploded" in r.getMessage()]
        assert body["request_id"] in logged.getMessage()
        assert "plugin 'kitchen'" in logged.getMessage()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/nowhere", None, 404, "no route for GET /nowhere"),
        ("DELETE", "/teapot", None, 405, "DELETE is not allowed on /teapot"),
        ("POST", "/cups", b"{not json", 400, "request body is not valid JSON"),
        ("POST", "/cups", json.dumps({"size": "big"}).encode(), 422, "size: Input should be"),
    ],
)
async def test_bad_requests_get_clear_json_4xx_errors(
    method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    async with serving({"kitchen": Kitchen, "teapot": Teapot}) as host:
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            response = await client.request(method, path, content=body)
        assert response.status_code == status
        assert message in response.json()["error"]
        assert response.json()["request_id"] == response.headers["x-request-id"]
        assert host.stats["kitchen"].errors == 0


async def test_a_route_clash_fails_the_second_plugin_naming_both() -> None:
    async with serving({"teapot": Teapot, "rival": Rival}) as host:
        record = host.registry.get("rival")
        assert str(record.state) == "failed"
        assert "route /teapot (GET" in (record.error or "")
        assert "plugin 'rival' clashes with the same route of plugin 'teapot'" in (
            record.error or ""
        )
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            assert (await client.get("/teapot")).text == "I am teapot"


async def test_a_stopped_plugins_routes_answer_503() -> None:
    async with serving({"teapot": Teapot}) as host:
        await host.run_command("stop", name="teapot")
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            response = await client.get("/teapot")
            assert response.status_code == 503
            assert "plugin 'teapot' is not running" in response.json()["error"]
            await host.run_command("start", name="teapot")
            assert (await client.get("/teapot")).status_code == 418


async def test_asgi_app_can_be_mounted_by_an_application_without_serving() -> None:
    async with run_host(plugins={"teapot": Teapot}, adapters=[AsyncioAdapter()]) as host:
        assert "http_url" not in host.advertised
        transport = httpx.ASGITransport(app=AsyncioService.of(host).asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            assert (await client.get("/teapot")).status_code == 418


async def test_asgi_app_answers_503_before_the_host_starts() -> None:
    from plugyard.host import Host

    host = Host(autoload=False, plugins={"teapot": Teapot}, adapters=[AsyncioAdapter()])
    await host.load()
    transport = httpx.ASGITransport(app=AsyncioService.of(host).asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/teapot")).status_code == 503
    await host.stop()


async def test_the_server_stops_with_the_host_and_frees_the_port() -> None:
    async with serving({"teapot": Teapot}) as host:
        url = host.advertised["http_url"]
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url + "/health")


class ClashingAdapter:
    """An adapter whose plugyard_routes claim a path a plugin already serves."""

    name = "clashing"

    @hookimpl
    def plugyard_routes(self, host: Any) -> list[Any]:
        async def imposter(request: Request) -> Response:
            return PlainTextResponse("imposter")

        async def menu(request: Request) -> Response:
            return JSONResponse({"menu": ["tea"]})

        return [("/teapot", imposter, ["GET"]), ("/menu", menu, ["GET"])]


async def test_hook_routes_that_clash_with_a_plugin_route_are_left_out_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving({"teapot": Teapot}, [ClashingAdapter()]) as host:
        async with httpx.AsyncClient(base_url=host.advertised["http_url"], timeout=5) as client:
            teapot = await client.get("/teapot")
            assert (teapot.status_code, teapot.text) == (418, "I am teapot")
            # all or none: the adapter's other route is left out with the clashing one
            assert (await client.get("/menu")).status_code == 404
        assert str(host.registry.get("teapot").state) == "started"
    [logged] = [r for r in caplog.records if "routes of 'clashing' left out" in r.getMessage()]
    assert "clashes with the same route of plugin 'teapot'" in logged.getMessage()
