"""Who reaches the host: its own user over ipc, CURVE key holders over TCP (loopback
included), and only the host's user or its local key may send commands that load code.

The hostile clients here hold no key, hold a listed key that may not load code, or run as
another user (``nobody``, in a forked child that drops root)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import host_config, zmq_host

from plugyard.adapters.zmq import HostClient, HostUnavailable, ZmqService, adapter
from plugyard.host import ConfigError, Host

LOOPBACK = {"endpoint": "tcp://127.0.0.1:*", "pubsub_endpoint": "tcp://127.0.0.1:*"}


def _call(endpoint: str, keys: dict[str, str] | None, command: str, **props: Any) -> Any:
    with HostClient(endpoint, curve_keys=keys, timeout=1.0) as client:
        try:
            return client.call(command, **props)
        except HostUnavailable:
            return None


def _own_client_call(host: Host, command: str, **props: Any) -> dict[str, Any]:
    with HostClient.from_facts(ZmqService.of(host).advertisement(), timeout=5) as client:
        return client.call(command, **props)


async def test_loopback_tcp_needs_a_key_and_the_host_keeps_its_key_pair(runtime_dir: Path) -> None:
    async with zmq_host(runtime_dir, zmq=LOOPBACK) as host:
        facts = ZmqService.of(host).advertisement()
        server_key = facts["curve_server_key"]
        assert server_key, "a TCP endpoint without keys must still get CURVE"
        kept = runtime_dir / "zmq-server.key"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert await asyncio.to_thread(_call, facts["endpoint"], None, "list") is None
        reply = await asyncio.to_thread(_own_client_call, host, "list")
        assert reply["status"] == "ok"
    async with zmq_host(runtime_dir, zmq=LOOPBACK) as host:
        again = ZmqService.of(host).advertisement()["curve_server_key"]
        assert again == server_key, "clients configured with the host's key keep working"


async def test_a_kept_key_file_another_user_could_read_is_refused(runtime_dir: Path) -> None:
    async with zmq_host(runtime_dir, zmq=LOOPBACK):
        pass
    (runtime_dir / "zmq-server.key").chmod(0o644)
    async with zmq_host(runtime_dir, zmq=LOOPBACK) as host:
        record = host.registry.get("zmq")
        assert record.state == "failed"
        assert "zmq-server.key is readable by other users" in (record.error or "")
        assert ZmqService.of(host).server is None, "no socket may open with a suspect key"


async def test_insecure_tcp_is_an_explicit_logged_opt_out_and_still_refuses_code(
    runtime_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran"
    section = {**LOOPBACK, "insecure_tcp": True, "circus_compat": True}
    with caplog.at_level(logging.WARNING, logger="plugyard.adapters.zmq"):
        async with zmq_host(runtime_dir, zmq=section) as host:
            endpoint = ZmqService.of(host).endpoint
            assert ZmqService.of(host).advertisement()["curve_server_key"] is None
            listed = await asyncio.to_thread(_call, endpoint, None, "list")
            assert listed["status"] == "ok"
            added = await asyncio.to_thread(
                _call, endpoint, None, "add", name="evil", cmd=f"touch {marker}", start=True
            )
            assert added["status"] == "error"
            assert "loads code" in added["reason"]
            assert "evil" not in host.registry
    assert any("UNSAFE" in r.getMessage() for r in caplog.records)
    assert not marker.exists()


async def test_only_the_hosts_own_key_may_load_code(runtime_dir: Path, tmp_path: Path) -> None:
    public, secret = (k.decode() for k in zmq.curve_keypair())
    marker = tmp_path / "ran"
    section = {**LOOPBACK, "curve_clients": [public], "circus_compat": True}
    async with zmq_host(runtime_dir, zmq=section) as host:
        facts = ZmqService.of(host).advertisement()
        operator = {"server_key": facts["curve_server_key"], "public_key": public}
        operator["secret_key"] = secret
        assert (await asyncio.to_thread(_call, facts["endpoint"], operator, "list"))[
            "status"
        ] == "ok"
        for command, props in (
            ("add", {"name": "evil", "cmd": f"touch {marker}", "start": True}),
            ("set", {"name": "evil", "options": {"cmd": "true"}}),
            ("reloadconfig", {}),
        ):
            reply = await asyncio.to_thread(_call, facts["endpoint"], operator, command, **props)
            assert reply["status"] == "error", command
            assert "refused" in reply["reason"] and "loads code" in reply["reason"]
        assert "evil" not in host.registry
        own = await asyncio.to_thread(
            _own_client_call, host, "add", name="mine", cmd="sleep 30", start=False
        )
        assert own["status"] == "ok", own
        assert "mine" in host.registry
    assert not marker.exists()


async def test_the_hosts_user_over_ipc_may_load_code(runtime_dir: Path) -> None:
    async with zmq_host(runtime_dir, zmq={"circus_compat": True}) as host:
        reply = await asyncio.to_thread(
            _own_client_call, host, "add", name="mine", cmd="sleep 30", start=False
        )
        assert reply["status"] == "ok", reply
        assert "mine" in host.registry


async def test_an_ipc_endpoint_in_a_folder_others_can_write_is_refused(
    runtime_dir: Path,
) -> None:
    config = host_config(runtime_dir, zmq={"endpoint": "ipc:///tmp/plugyard-shared.sock"})
    host = Host(config, autoload=False, adapters=[adapter])
    with pytest.raises(ConfigError, match=r"zmq\.endpoint: ipc:///tmp/plugyard-shared\.sock"):
        await host.start()


# -- another user ---------------------------------------------------------------------------


def _as_nobody(conn: Any, endpoints: list[str], key_file: str | None) -> None:
    import pwd

    found: dict[str, Any] = {}
    try:
        user = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
        found["uid"] = os.getuid()
        if key_file is not None:
            try:
                Path(key_file).read_text()
                found["key"] = "read"
            except PermissionError:
                found["key"] = "denied"
        for endpoint in endpoints:
            reply = _call(endpoint, None, "quit")
            found[endpoint] = None if reply is None else reply.get("status")
    except BaseException as exc:  # reported to the parent, which fails the test
        found["error"] = repr(exc)
    conn.send(found)


def _run_as_nobody(endpoints: list[str], key_file: str | None) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_as_nobody, args=(child, endpoints, key_file))
    process.start()
    try:
        if not parent.poll(30):
            raise AssertionError("the child running as nobody did not report")
        found: dict[str, Any] = parent.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
    assert "error" not in found, found
    return found


def _need_nobody() -> None:
    import pwd

    if os.getuid() != 0:
        pytest.skip("switching to another uid needs root; these tests run as a normal user")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no 'nobody' account")


async def test_another_user_reaches_neither_socket(runtime_dir: Path) -> None:
    _need_nobody()
    async with zmq_host(runtime_dir) as ipc_host:
        ipc = ZmqService.of(ipc_host)
        found = await asyncio.to_thread(_run_as_nobody, [ipc.endpoint], None)
        assert found[ipc.endpoint] is None
        assert (await asyncio.to_thread(_own_client_call, ipc_host, "list"))["status"] == "ok"
    async with zmq_host(runtime_dir, zmq=LOOPBACK) as tcp_host:
        tcp = ZmqService.of(tcp_host)
        found = await asyncio.to_thread(_run_as_nobody, [tcp.endpoint], str(tcp.key_file))
        assert found == {"uid": found["uid"], "key": "denied", tcp.endpoint: None}
        assert (await asyncio.to_thread(_own_client_call, tcp_host, "list"))["status"] == "ok"


async def test_another_user_is_refused_even_through_a_leaked_ipc_socket(runtime_dir: Path) -> None:
    _need_nobody()
    async with zmq_host(runtime_dir) as host:
        service = ZmqService.of(host)
        runtime_dir.chmod(0o711)  # noqa: ASYNC240 - a mistake that lets others reach the socket
        for endpoint in (service.endpoint, service.pubsub_endpoint):
            Path(endpoint[len("ipc://") :]).chmod(0o777)  # noqa: ASYNC240
        found = await asyncio.to_thread(_run_as_nobody, [service.endpoint], None)
        assert found[service.endpoint] is None, "the socket answered another user"
        assert service._zap.refused >= 1
        assert (await asyncio.to_thread(_own_client_call, host, "list"))["status"] == "ok"
        runtime_dir.chmod(0o700)  # noqa: ASYNC240


async def test_status_masks_a_plugins_secret_options(runtime_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec.jsonl"
    plugins = {
        "rec": {
            "use": "zmq_test_plugins:Recorder",
            "out": str(out),
            "password": "S3cretPW",
            "api_token": "tok-123",
            "broker": "amqp://guest:S3cretPW@localhost//",
        }
    }
    async with zmq_host(runtime_dir, plugins=plugins) as host:
        reply = await asyncio.to_thread(_own_client_call, host, "status", name="rec")
        assert reply["status"] == "started"
        assert "S3cretPW" not in repr(reply) and "tok-123" not in repr(reply)
        assert str(out) in repr(reply), "options that are not secrets are still shown"
