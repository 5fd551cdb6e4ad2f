"""Safe by default: private ipc:// endpoints, loopback TCP, and CURVE for anything wider."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import event_topics, host_config, wait_until, zcall, zmq_host

from plugyard.adapters.zmq import HostClient, HostUnavailable, ZmqService, adapter
from plugyard.host import ConfigError, Host


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_default_endpoints_are_ipc_sockets_in_the_private_runtime_folder(
    runtime_dir: Path,
) -> None:
    async with zmq_host(runtime_dir) as host:
        facts = json.loads((runtime_dir / "host.json").read_text())["zmq"]
        assert facts["endpoint"] == f"ipc://{runtime_dir}/zmq-control.sock"
        assert facts["pubsub_endpoint"] == f"ipc://{runtime_dir}/zmq-events.sock"
        assert stat.S_IMODE(runtime_dir.stat().st_mode) == 0o700  # noqa: ASYNC240
        assert (await zcall(host, "list"))["status"] == "ok"


async def test_loopback_tcp_is_allowed_and_a_random_port_is_advertised(runtime_dir: Path) -> None:
    zmq_section = {
        "endpoint": "tcp://127.0.0.1:*",
        "pubsub_endpoint": f"tcp://127.0.0.1:{free_port()}",
    }
    async with zmq_host(runtime_dir, zmq=zmq_section) as host:
        endpoint = ZmqService.of(host).advertisement()["endpoint"]
        assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith("*")
        assert (await zcall(host, "snapshot"))["status"] == "ok"


@pytest.mark.parametrize("key", ["endpoint", "pubsub_endpoint"])
async def test_a_non_loopback_bind_without_curve_keys_is_refused(
    runtime_dir: Path, key: str
) -> None:
    config = host_config(runtime_dir, zmq={key: "tcp://0.0.0.0:5599"})
    host = Host(config, autoload=False, adapters=[adapter])
    with pytest.raises(ConfigError, match=rf"zmq\.{key}: tcp://0\.0\.0\.0:5599 is reachable"):
        await host.start()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"endpoint": "udp://x"}, "expected ipc://PATH or tcp://HOST:PORT"),
        ({"curve_secret_key": "short"}, "40 characters"),
        ({"sndhwm": 0}, "zmq.sndhwm"),
        ({"process": {"flap_attempts": 0}}, "zmq.process.flap_attempts"),
        ({"bogus": 1}, "zmq.bogus: unknown key"),
    ],
)
async def test_bad_zmq_settings_name_the_key(
    runtime_dir: Path, section: dict[str, Any], message: str
) -> None:
    host = Host(host_config(runtime_dir, zmq=section), autoload=False, adapters=[adapter])
    with pytest.raises(ConfigError, match=message):
        await host.start()


async def test_an_ipc_path_too_long_is_a_config_error(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    host = Host(host_config(deep), autoload=False, adapters=[adapter])
    with pytest.raises(ConfigError, match="runtime_dir"):
        await host.start()


async def test_curve_admits_listed_clients_and_refuses_the_rest(
    runtime_dir: Path, tmp_path: Path
) -> None:
    server_public, server_secret = (k.decode() for k in zmq.curve_keypair())
    client_public, client_secret = (k.decode() for k in zmq.curve_keypair())
    stranger_public, stranger_secret = (k.decode() for k in zmq.curve_keypair())
    out = tmp_path / "rec.jsonl"
    section = {
        "endpoint": f"tcp://0.0.0.0:{free_port()}",
        "pubsub_endpoint": f"tcp://0.0.0.0:{free_port()}",
        "curve_secret_key": server_secret,
        "curve_clients": [client_public],
    }
    plugins = {"rec": {"use": "zmq_test_plugins:Recorder", "out": str(out)}}
    async with zmq_host(runtime_dir, zmq=section, plugins=plugins) as host:
        facts = ZmqService.of(host).advertisement()
        assert facts["curve_server_key"] == server_public
        key_file = Path(facts["curve_keys_file"])
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # noqa: ASYNC240
        assert server_secret not in (runtime_dir / "host.json").read_text()
        port = facts["endpoint"].rpartition(":")[2]
        local = f"tcp://127.0.0.1:{port}"

        def call_with(keys: dict[str, str] | None) -> dict[str, Any]:
            with HostClient(local, curve_keys=keys, timeout=1.0) as client:
                return client.call("list")

        listed = {
            "server_key": server_public,
            "public_key": client_public,
            "secret_key": client_secret,
        }
        assert (await asyncio.to_thread(call_with, listed))["status"] == "ok"
        stranger = {**listed, "public_key": stranger_public, "secret_key": stranger_secret}
        with pytest.raises(HostUnavailable, match="no reply"):
            await asyncio.to_thread(call_with, stranger)
        with pytest.raises(HostUnavailable, match="no reply"):
            await asyncio.to_thread(call_with, None)
        assert ZmqService.of(host)._zap.refused >= 1
        host.publish("app.secure")
        await wait_until(lambda: "app.secure" in event_topics(out), what="the plugin over CURVE")
    assert not key_file.exists()  # noqa: ASYNC240
