"""Message limits: no frame bigger than ``[zmq] max_message_size`` gets into the host, and the
host sends none bigger to its clients (they would drop the connection)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import host_config

from plugyard.adapters.zmq import HostClient, ZmqService, adapter
from plugyard.host import Command, ConfigError, Host, Param
from plugyard.host.testing import HostRunner
from plugyard.sdk import hookimpl

LIMIT = 64 * 1024


class _BigReply:
    """A hook plugin with a command whose reply is as big as asked."""

    @hookimpl
    def plugyard_commands(self, host: Any) -> list[Command]:
        def big(size: int) -> dict[str, Any]:
            return {"blob": "x" * size}

        return [Command("big", big, params={"size": Param(int, required=True)})]


@pytest.fixture
def running(runtime_dir: Path) -> Iterator[HostRunner]:
    config = host_config(runtime_dir, zmq={"max_message_size": LIMIT})
    with HostRunner([_BigReply()], config=config, adapters=[adapter]) as runner:
        yield runner


_HOSTILE = """
import os, sys, zmq, zmq.utils.monitor
kind, endpoint, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
sock = zmq.Context().socket(getattr(zmq, kind))
monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
sock.connect(endpoint)
def wait_for(event):
    while monitor.poll(10_000):
        if zmq.utils.monitor.recv_monitor_message(monitor)["event"] == event:
            return True
    return False
assert wait_for(zmq.EVENT_HANDSHAKE_SUCCEEDED), "never connected"
if kind == "SUB":
    sock.setsockopt(zmq.SUBSCRIBE, b"x" * size)
else:
    sock.send(b'{"command": "publish", "properties": {"topic": "x", "d": "' + b"y" * size + b'"}}')
print("dropped" if wait_for(zmq.EVENT_DISCONNECTED) else "kept", flush=True)
os._exit(0)  # libzmq may stumble over the oversized frame it still holds at exit
"""


def _hostile(kind: str, endpoint: str, size: int) -> str:
    """What happens to a client of another process that sends one frame of ``size`` bytes:
    "dropped" (the host cut its connection) or "kept"."""
    done = subprocess.run(
        [sys.executable, "-c", _HOSTILE, kind, endpoint, str(size)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() in ("dropped", "kept"), done.stderr
    return done.stdout.strip()


def test_an_oversized_subscription_frame_drops_that_peer_and_nothing_else(
    running: HostRunner,
) -> None:
    before = ZmqService.of(running.host).publisher.subscriptions
    assert (
        _hostile("SUB", ZmqService.of(running.host).pubsub_endpoint, 4 * 1024 * 1024) == "dropped"
    )
    with HostClient.from_facts(ZmqService.of(running.host).advertisement(), timeout=5) as client:
        assert client.call("list")["status"] == "ok"
    assert ZmqService.of(running.host).publisher.subscriptions == before


def test_an_oversized_command_frame_drops_that_peer_and_the_host_keeps_answering(
    running: HostRunner,
) -> None:
    assert _hostile("DEALER", ZmqService.of(running.host).endpoint, 2 * LIMIT) == "dropped"
    with HostClient.from_facts(ZmqService.of(running.host).advertisement(), timeout=5) as client:
        assert client.max_message_size == LIMIT
        assert client.call("list")["status"] == "ok"


def test_an_oversized_reply_becomes_an_error_reply(running: HostRunner) -> None:
    with HostClient.from_facts(ZmqService.of(running.host).advertisement(), timeout=5) as client:
        assert client.call("big", size=100)["blob"] == "x" * 100
        reply = client.call("big", size=2 * LIMIT)
    assert reply["status"] == "error"
    assert "over [zmq] max_message_size (65536)" in reply["reason"]


def test_an_oversized_event_is_not_published_and_the_subscribers_stay_connected(
    running: HostRunner,
) -> None:
    facts = ZmqService.of(running.host).advertisement()
    assert facts["max_message_size"] == LIMIT
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.MAXMSGSIZE, LIMIT)  # as every plugyard client has it
    sub.setsockopt(zmq.SUBSCRIBE, b"app.")
    sub.connect(facts["pubsub_endpoint"])
    try:
        deadline = time.monotonic() + 10
        while not sub.poll(100):  # the subscription is live once a probe comes through
            assert time.monotonic() < deadline, "no probe came through"
            running.run_command("publish", topic="app.probe")
        running.run(_publish_big(running.host))
        running.run_command("publish", topic="app.after")
        seen: list[bytes] = []
        while b"app.after" not in seen:
            assert sub.poll(10_000), f"app.after never came; saw {seen}"
            seen.append(sub.recv_multipart()[0])
    finally:
        sub.close()
        ctx.term()
    assert b"app.big" not in seen
    assert ZmqService.of(running.host).publisher.oversized == 1


async def _publish_big(host: Any) -> None:
    host.publish("app.big", blob="z" * (2 * LIMIT))


async def test_the_limit_is_bounded_in_the_configuration(runtime_dir: Path) -> None:
    config = host_config(runtime_dir, zmq={"max_message_size": 10})
    with pytest.raises(ConfigError, match="max_message_size"):
        await Host(config, autoload=False, adapters=[adapter]).start()
