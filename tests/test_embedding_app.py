"""The embedding-app example for real: uvicorn serves the tea shop, whose lifespan runs a
plugyard host; every request becomes a ``monitoring_event`` that an event plugin records, and
the teapot plugin's route answers through the shop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "embedding-app"
CONFIG = EXAMPLE / "plugyard.toml"
PLUGINS = {"request_stats", "order_tally", "background_plugin_example"}

_T = TypeVar("_T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], _T | None], what: str, timeout: float = 10.0) -> _T:
    """Poll ``check`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Shop:
    """The tea shop served by uvicorn in a child process."""

    proc: subprocess.Popen[bytes]
    url: str
    runtime: Path
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> tuple[int, str]:
        """Ctrl-C, as a user stops uvicorn; returns the exit code and the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"uvicorn did not stop within {timeout:g}s:\n{self.output()}"
            ) from None
        return code, self.output()


def launch(folder: Path, config: Path = CONFIG) -> tuple[subprocess.Popen[bytes], str, Path, Path]:
    """Start ``uvicorn --factory embedding_app:create_app`` on a free loopback port."""
    folder.mkdir(parents=True, exist_ok=True)
    runtime = folder / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGYARD_")}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(EXAMPLE / "src") + (os.pathsep + path if path else "")
    env["EMBEDDING_APP_CONFIG"] = str(config)
    env["PLUGYARD_HOST__RUNTIME_DIR"] = str(runtime)
    port = free_port()
    log = folder / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory", "embedding_app:create_app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "info"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
        )
    return proc, f"http://127.0.0.1:{port}", runtime, log


def start_shop(folder: Path, config: Path = CONFIG) -> Shop:
    proc, url, runtime, log = launch(folder, config)
    shop = Shop(proc, url, runtime, log)

    def up() -> bool | None:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited with {proc.returncode}:\n{shop.output()}")
        try:
            return httpx.get(url + "/", timeout=1).status_code == 200 or None
        except httpx.TransportError:
            return None

    try:
        wait_for(up, "the tea shop to answer GET /", timeout=30)
    except BaseException:
        shop.stop()
        raise
    return shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    running = start_shop(tmp_path_factory.mktemp("shop"))
    yield running
    code, output = running.stop()
    assert code == 0, output


def recorded(client: httpx.Client, request_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The monitoring points ``request_stats`` holds for ``request_ids``, once all are in."""

    def check() -> dict[str, list[dict[str, Any]]] | None:
        points = client.get("/stats/requests").json()["recent"]
        found: dict[str, list[dict[str, Any]]] = {}
        for point in points:
            if point["request_id"] in request_ids:
                found.setdefault(point["request_id"], []).append(point)
        return found if set(found) == request_ids else None

    return wait_for(check, f"monitoring points for {sorted(request_ids)}")


def test_own_endpoints_answer_and_orders_reach_a_plugin(shop: Shop) -> None:
    with shop.client() as client:
        about = client.get("/")
        assert about.status_code == 200
        body = about.json()
        assert (body["service"], body["host"], body["running"]) == ("tea-shop", "tea-shop", True)
        assert body["plugins"] == dict.fromkeys(PLUGINS, "started")
        assert client.get("/menu").json()["teas"]["assam"] == 3.0

        before = client.get("/stats/orders").json()
        placed = client.post("/orders", json={"tea": "assam", "cups": 3})
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["tea"] == "assam" and order["cups"] == 3 and order["price"] == 9.0
        assert placed.headers["location"] == f"/orders/{order['id']}"
        assert client.get(f"/orders/{order['id']}").json() == order

        def tallied() -> dict[str, Any] | None:
            now = client.get("/stats/orders").json()
            return now if now["orders"] == before["orders"] + 1 else None

        after = wait_for(tallied, "order_tally to count the order")
        assert after["cups"]["assam"] == before["cups"].get("assam", 0) + 3


def test_the_teapot_route_of_a_background_plugin_answers_through_the_app(shop: Shop) -> None:
    with shop.client() as client:
        teapot = client.get("/teapot")
        assert (teapot.status_code, teapot.text) == (418, "I am teapot")
        assert teapot.headers["x-request-id"]
        health = client.get("/health").json()
        assert health == {"status": "ok", "host": "tea-shop", "running": True, "failed": []}
        listing = {p["name"]: p for p in client.get("/plugins").json()["plugins"]}
        assert listing["background_plugin_example"]["state"] == "started"
        assert listing["background_plugin_example"]["details"]["routes"] == ["/teapot"]


def test_the_shops_own_event_types_are_declared(shop: Shop) -> None:
    with shop.client() as client:
        events = client.get("/").json()["events"]
    assert set(events) == {"monitoring_event", "order_placed"}
    monitoring, orders = events["monitoring_event"], events["order_placed"]
    assert monitoring["payload"] == "plugyard.sdk.events.MonitoringPayload"
    assert monitoring["overflow"] == "drop_oldest"
    assert set(monitoring["plugins"]) == {"request_stats"}
    assert orders["payload"] == "embedding_app.events.OrderPlaced"
    assert orders["fields"] == ["order_id", "tea", "cups", "request_id"]
    assert orders["overflow"] == "block"
    assert set(orders["plugins"]) == {"order_tally"}


def test_every_request_reaches_the_monitoring_plugin_once(shop: Shop) -> None:
    calls: list[tuple[str, str, dict[str, Any] | None, int, str | None]] = [
        ("GET", "/menu", None, 200, "/menu"),
        ("GET", "/teapot", None, 418, "/teapot"),
        ("POST", "/orders", {"tea": "sencha", "cups": 1}, 201, "/orders"),
        ("POST", "/orders", {"tea": "sencha", "cups": 0}, 422, "/orders"),
        ("GET", "/orders/o-999", None, 404, "/orders/{order_id}"),
        ("GET", "/no/such/path", None, 404, None),
        ("DELETE", "/orders", None, 405, "/orders"),
    ]
    expected: dict[str, tuple[str, str, int, str | None]] = {}
    started = time.time()
    with shop.client() as client:
        for method, path, body, status, route in calls:
            request_id = f"test-{uuid.uuid4().hex[:12]}"
            response = client.request(method, path, json=body, headers={"X-Request-Id": request_id})
            assert response.status_code == status, response.text
            assert response.headers.get_list("x-request-id") == [request_id]
            expected[request_id] = (method, path, status, route)
        anonymous = client.get("/menu")
        generated = anonymous.headers["x-request-id"]
        assert generated and not generated.startswith("test-")
        expected[generated] = ("GET", "/menu", 200, "/menu")
        points = recorded(client, set(expected))
    finished = time.time()

    for request_id, (method, path, status, route) in expected.items():
        assert len(points[request_id]) == 1, points[request_id]
        point = points[request_id][0]
        assert point["tags"] == {
            "service": "tea-shop",
            "method": method,
            "path": path,
            "route": route,
            "status": status,
        }
        assert 0 < point["fields"]["duration"] < 5
        assert started <= point["event_time"] <= finished


def test_bad_requests_get_clear_errors(shop: Shop) -> None:
    cases: list[tuple[str, str, dict[str, Any], int, list[str]]] = [
        ("POST", "/orders", {"content": b"{bad"}, 400, ["request body is not valid JSON"]),
        ("POST", "/orders", {"content": b""}, 400, ["request body is not valid JSON"]),
        (
            "POST",
            "/orders",
            {"json": {"tea": "coffee", "cups": "many"}},
            422,
            [
                "tea: 'coffee' is not on the menu (sencha, assam, earl-grey, rooibos)",
                "cups: Input should be a valid integer",
            ],
        ),
        (
            "POST",
            "/orders",
            {"json": {"tea": "assam", "cups": 2, "sugar": True}},
            422,
            ["sugar: Extra inputs are not permitted"],
        ),
        ("POST", "/orders", {"json": ["assam"]}, 422, ["(body): Input should be a valid"]),
        ("GET", "/orders/o-999", {}, 404, ["no order 'o-999'"]),
        ("GET", "/nowhere", {}, 404, ["no route for GET /nowhere"]),
        ("DELETE", "/orders", {}, 405, ["DELETE is not allowed on /orders (allowed: POST)"]),
    ]
    with shop.client() as client:
        for method, path, kwargs, status, phrases in cases:
            response = client.request(method, path, **kwargs)
            assert response.status_code == status, (path, kwargs, response.text)
            body = response.json()
            assert body["status"] == status
            assert (body["method"], body["path"]) == (method, path)
            assert body["request_id"] == response.headers["x-request-id"]
            for phrase in phrases:
                assert phrase in body["error"], (phrase, body)
        assert client.get("/health").json()["status"] == "ok"


def test_shutdown_stops_the_host_and_every_plugin(tmp_path: Path) -> None:
    shop = start_shop(tmp_path)
    try:
        info = json.loads((shop.runtime / "host.json").read_text())
        assert info["name"] == "tea-shop" and info["pid"] == shop.proc.pid
        with shop.client() as client:
            assert client.get("/teapot").status_code == 418
        process = psutil.Process(shop.proc.pid)
        family = [process, *process.children(recursive=True)]
    finally:
        code, output = shop.stop()
    assert code == 0, output
    assert "Traceback" not in output, output
    states = ", ".join(
        f"{name}=stopped" for name in ("request_stats", "order_tally", "background_plugin_example")
    )
    assert f"plugyard host 'tea-shop' stopped: {states}" in output, output
    assert "request_stats closed after" in output
    assert output.index("plugyard host 'tea-shop' stopped") < output.index(
        "Application shutdown complete"
    )
    assert not (shop.runtime / "host.json").exists()
    assert [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(shop.url + "/", timeout=2)


def test_a_plugin_with_bad_options_fails_alone(tmp_path: Path) -> None:
    config = tmp_path / "plugyard.toml"
    text = CONFIG.read_text().replace("keep = 1000", "keep = 0")
    text = text.replace('"../asyncio-plugins', f'"{EXAMPLE.parent}/asyncio-plugins')
    config.write_text(text)
    shop = start_shop(tmp_path / "shop", config)
    try:
        with shop.client() as client:
            health = client.get("/health").json()
            assert (health["status"], health["failed"]) == ("degraded", ["request_stats"])
            plugins = {p["name"]: p for p in client.get("/plugins").json()["plugins"]}
            assert (
                "keep: expected a whole number of points >= 1, got 0"
                in (plugins["request_stats"]["error"])
            )
            assert client.get("/teapot").status_code == 418
            assert client.post("/orders", json={"tea": "rooibos", "cups": 1}).status_code == 201
    finally:
        code, output = shop.stop()
    assert code == 0, output
    assert "plugins failed to start: request_stats" in output


@pytest.mark.parametrize(
    ("change", "phrases"),
    [
        (
            lambda text: text + "\n[asyncoi]\nqueue_size = 10\n",
            ["[asyncoi]: no loaded adapter reads this section", "did you mean 'asyncio'?"],
        ),
        (
            lambda text: text + "\n[http]\nport = 8080\n",
            ["[http]: the tea shop serves the host's routes itself"],
        ),
        (
            lambda text: '[host]\nname = "tea-shop"\nautoload = false\n',
            ["[host] adapters: the tea shop needs the 'asyncio' adapter"],
        ),
    ],
    ids=["misspelt-section", "http-section", "no-asyncio-adapter"],
)
def test_a_bad_configuration_stops_start_up_naming_file_and_key(
    tmp_path: Path, change: Callable[[str], str], phrases: list[str]
) -> None:
    config = tmp_path / "plugyard.toml"
    config.write_text(change(CONFIG.read_text()))
    proc, _, _, log = launch(tmp_path / "shop", config)
    try:
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert code != 0, output
    assert str(config.resolve()) in output
    for phrase in phrases:
        assert phrase in output, output
