"""``[http] allow_remote`` opens plugin routes, not the host's insides: a client on another
machine gets no pod API (unless ``[pod] allow_remote``), no plugin list, no paths or error
texts without the HTTP token; and ``status`` never shows a secret-looking option."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugyard.adapters.asyncio import AsyncioService
from plugyard.adapters.asyncio import adapter as asyncio_adapter
from plugyard.adapters.pod import PodService
from plugyard.adapters.pod import adapter as pod_adapter
from plugyard.host import read_host_info
from plugyard.host.testing import run_host

pytestmark = pytest.mark.timeout(60)

REMOTE = ("192.0.2.10", 40000)
"""A client address on another machine (TEST-NET-1)."""


def _config(tmp_path: Path, pod_remote: bool = False, **http: Any) -> dict[str, Any]:
    return {
        "host": {"runtime_dir": str(tmp_path / "run"), "name": "remote-test"},
        "http": {"host": "127.0.0.1", "port": 0, **http},
        "pod": {"database": f"sqlite:///{tmp_path / 'pod.db'}", "allow_remote": pod_remote},
    }


async def _host(config: dict[str, Any]) -> Any:
    return run_host(adapters={"asyncio": asyncio_adapter, "pod": pod_adapter}, config=config)


async def _client(host: Any, client: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=AsyncioService.of(host).asgi_app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://plugyard") as web:
        yield web


async def test_a_remote_client_gets_no_pod_api_unless_the_pod_allows_it(tmp_path: Path) -> None:
    async with await _host(_config(tmp_path)) as host:
        owner = PodService.of(host).require_pod().owner_token
        headers = {"Authorization": f"Bearer {owner}"}
        async for web in _client(host, REMOTE):
            for path in ("/pod/v1/items/x", "/memri/v4/x/get_item"):
                refused = await web.get(path, headers=headers)
                assert refused.status_code == 403, path
                assert "[pod] allow_remote" in refused.json()["error"]
        async for web in _client(host, ("127.0.0.1", 5000)):
            local = await web.get("/pod/v1/items/x", headers=headers)
            assert local.status_code == 404  # reached the pod: no such item
    async with await _host(_config(tmp_path / "open", pod_remote=True)) as host:
        owner = PodService.of(host).require_pod().owner_token
        async for web in _client(host, REMOTE):
            answer = await web.get("/pod/v1/items/x", headers={"Authorization": f"Bearer {owner}"})
            assert answer.status_code == 404


async def test_remote_health_and_plugins_need_the_token(tmp_path: Path) -> None:
    async with await _host(_config(tmp_path)) as host:
        service = AsyncioService.of(host)
        token_file = Path(host.runtime_dir) / "http.token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text()
        assert service.check_http_token(token)
        async for web in _client(host, REMOTE):
            health = await web.get("/health")
            assert health.json() == {"status": "ok"}
            plugins = await web.get("/plugins")
            assert plugins.status_code == 401
            assert "Authorization: Bearer" in plugins.text
            assert str(tmp_path) not in plugins.text
            wrong = await web.get("/plugins", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            full = await web.get("/health", headers=bearer)
            assert full.json()["host"] == "remote-test"
            assert (await web.get("/plugins", headers=bearer)).status_code == 200
        async for web in _client(host, ("127.0.0.1", 5000)):
            assert (await web.get("/health")).json()["host"] == "remote-test"
            assert (await web.get("/plugins")).status_code == 200
    assert not token_file.exists()


def _outward_address() -> str | None:
    """This machine's address on its default route (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_over_the_network_a_remote_client_sees_only_the_status(tmp_path: Path) -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    config = _config(tmp_path, host="0.0.0.0", allow_remote=True)
    async with await _host(config) as host:
        url = read_host_info(Path(host.runtime_dir))["http_url"]
        port = int(url.rstrip("/").rpartition(":")[2])
        owner = PodService.of(host).require_pod().owner_token
        base = f"http://{address}:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as web:
            assert (await web.get("/health")).json() == {"status": "ok"}
            assert (await web.get("/plugins")).status_code == 401
            pod = await web.get("/pod/v1/items/x", headers={"Authorization": f"Bearer {owner}"})
            assert pod.status_code == 403


def test_secret_looking_options_are_masked() -> None:
    from plugyard.host import redact_secrets

    shown = redact_secrets(
        {
            "options": {"password": "S3cretPW", "api_token": "tok-123", "region": "eu"},
            "url": "redis://:S3cretPW@localhost:6379/0",
            "credentials": {"user": "u"},
            "keys": ["k1"],
        }
    )
    assert "S3cretPW" not in repr(shown) and "tok-123" not in repr(shown)
    assert shown["options"]["region"] == "eu"
    assert shown["url"] == "redis://:********@localhost:6379/0"
    assert shown["credentials"] == shown["keys"] == "********"
