"""The ROUTER command socket: circus's request and reply shapes, and no crash on any input."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import host_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugyard.adapters.zmq import ZmqService, adapter
from plugyard.host import Command
from plugyard.host.testing import HostRunner


@pytest.fixture
def running(runtime_dir: Path) -> Iterator[HostRunner]:
    with HostRunner(config=host_config(runtime_dir), adapters=[adapter]) as runner:
        yield runner


@pytest.fixture
def dealer(running: HostRunner) -> Iterator[zmq.Socket[Any]]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(ZmqService.of(running.host).endpoint)
    yield sock
    sock.close()
    ctx.term()


def exchange(sock: zmq.Socket[Any], *frames: bytes, timeout: float = 3.0) -> dict[str, Any] | None:
    """Send frames; return the decoded reply, or None when none comes within ``timeout``."""
    sock.send_multipart(list(frames))
    if not sock.poll(int(timeout * 1000)):
        return None
    reply: dict[str, Any] = json.loads(sock.recv_multipart()[-1])
    return reply


def request(sock: zmq.Socket[Any], message: Any, timeout: float = 3.0) -> dict[str, Any] | None:
    return exchange(sock, json.dumps(message).encode(), timeout=timeout)


def test_a_reply_echoes_the_id_and_carries_status_and_time(dealer: zmq.Socket[Any]) -> None:
    reply = request(dealer, {"id": "abc", "command": "list", "properties": {}})
    assert reply is not None
    assert reply["id"] == "abc" and reply["status"] == "ok" and isinstance(reply["time"], float)
    assert "zmq" in reply["plugins"]


def test_requests_without_an_id_get_a_null_id_as_in_circus(dealer: zmq.Socket[Any]) -> None:
    reply = request(dealer, {"command": "snapshot"})
    assert reply is not None and reply["id"] is None and reply["status"] == "ok"
    assert isinstance(reply["seq"], int)


def test_command_names_are_case_insensitive(dealer: zmq.Socket[Any]) -> None:
    reply = request(dealer, {"id": 1, "command": "LiSt"})
    assert reply is not None and reply["status"] == "ok"


@pytest.mark.parametrize(
    ("frames", "errno", "reason"),
    [
        ([b"{not json"], 1, "not valid JSON"),
        ([b"\xff\xfe"], 1, "not valid JSON"),
        ([b"[1, 2]"], 3, "must be a JSON object"),
        ([b'{"id": 7}'], 3, "needs 'command'"),
        ([b'{"id": 7, "command": "nosuch"}'], 2, "unknown command"),
        ([b'{"id": 7, "command": "status", "properties": []}'], 3, "must be an object"),
        ([b'{"id": 7, "command": "status", "properties": {"name": 5}}'], 3, "must be a string"),
        ([b'{"id": 7, "command": "status", "properties": {"bogus": 1}}'], 3, "unknown property"),
        ([b'{"id": 7, "command": "stop", "properties": {"name": "ghost"}}'], 3, "no plugin"),
        ([b"one", b"two", b"three"], 3, "expected one request frame"),
        ([b"[" * 100_000 + b"]" * 100_000], 1, "nested too deeply"),
        ([b'{"id": 7, "command": "publish", "properties": {"topic": ""}}'], 3, "non-empty"),
        (
            [b'{"id": 7, "command": "publish", "properties": {"topic": "a\\ud800b"}}'],
            3,
            "lone surrogate",
        ),
        ([b'{"id": 7, "command": "publish", "properties": {"topic": "a b"}}'], 3, "whitespace"),
    ],
)
def test_bad_requests_get_error_replies_with_circus_errnos(
    dealer: zmq.Socket[Any], frames: list[bytes], errno: int, reason: str
) -> None:
    reply = exchange(dealer, *frames)
    assert reply is not None, "no reply"
    assert reply["status"] == "error" and reply["errno"] == errno, reply
    assert reason in reply["reason"]
    assert "time" in reply and "id" in reply
    assert reply["tb"] is None, "a server traceback reached the client"


def test_a_failing_command_sends_no_server_traceback(running: HostRunner, dealer: Any) -> None:
    def boom() -> None:
        raise RuntimeError("disk /srv/secret/path exploded")

    running.host.commands.add(Command("boom", boom, source="test"))
    reply = request(dealer, {"id": "b", "command": "boom"})
    assert reply is not None and reply["status"] == "error"
    assert "exploded" in reply["reason"] and reply["tb"] is None


def test_req_style_envelopes_are_answered_in_kind(dealer: zmq.Socket[Any]) -> None:
    dealer.send_multipart([b"", json.dumps({"id": "r", "command": "list"}).encode()])
    assert dealer.poll(3000)
    frames = dealer.recv_multipart()
    assert frames[0] == b"" and json.loads(frames[1])["id"] == "r"


def test_casts_get_no_reply_even_when_they_fail(
    running: HostRunner, dealer: zmq.Socket[Any]
) -> None:
    cast = {"command": "publish", "msg_type": "cast", "properties": {"topic": "app.cast"}}
    assert request(dealer, cast, timeout=0.5) is None
    running.events.wait_for("app.cast", timeout=3)
    bad = {"command": "nosuch", "msg_type": "cast"}
    assert request(dealer, bad, timeout=0.5) is None
    assert request(dealer, {"id": "after", "command": "list"}) is not None


def test_commands_from_every_adapter_are_served(
    running: HostRunner, dealer: zmq.Socket[Any]
) -> None:
    reply = request(
        dealer, {"id": 1, "command": "zmq.drops", "properties": {"name": "x", "count": 2}}
    )
    assert reply is not None and reply["drops"] == 2
    assert running.run_command("stats", name="zmq")["name"] == "zmq"


def test_a_progress_report_is_checked_and_answered_with_the_lag(
    running: HostRunner, dealer: zmq.Socket[Any]
) -> None:
    running.run_command("publish", topic="app.one")
    running.run_command("publish", topic="app.two")
    good = {"id": 1, "command": "zmq.progress", "properties": {"name": "x", "seq": 0}}
    reply = request(dealer, good)
    assert reply is not None and reply["status"] == "ok" and reply["lag"] >= 2
    bad = {"id": 2, "command": "zmq.progress", "properties": {"name": "x", "seq": -5}}
    reply = request(dealer, bad)
    assert reply is not None and reply["status"] == "error"
    assert "seq must not be negative" in reply["reason"]


def test_a_flush_publishes_the_marker_with_its_token(
    running: HostRunner, dealer: zmq.Socket[Any]
) -> None:
    seen: list[Any] = []
    running.host.subscribe("subscriber.web.flushed", seen.append)
    good = {"id": 1, "command": "zmq.flush", "properties": {"name": "web", "token": "t0k3n"}}
    reply = request(dealer, good)
    assert reply is not None and reply["status"] == "ok", reply
    deadline = time.monotonic() + 30
    while not seen:
        assert time.monotonic() < deadline, "no subscriber.web.flushed event"
        time.sleep(0.01)
    assert seen[0].topic == "subscriber.web.flushed"
    assert seen[0].data == {"name": "web", "token": "t0k3n"}
    for n, bad in enumerate(("", "x" * 65), start=2):
        refused = {"id": n, "command": "zmq.flush", "properties": {"name": "web", "token": bad}}
        reply = request(dealer, refused)
        assert reply is not None and reply["status"] == "error", reply
        assert "token must be 1 to 64 characters" in reply["reason"]


_SAFE_COMMANDS = ["list", "status", "stats", "snapshot", "publish", "plugins", "nosuch", "", "LIST"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_requests = st.fixed_dictionaries(
    {},
    optional={
        "id": _json,
        "command": st.sampled_from(_SAFE_COMMANDS) | _json,
        "properties": st.dictionaries(
            st.sampled_from(["name", "topic", "data", "x"]) | st.text(max_size=5), _json, max_size=3
        )
        | _json,
        "msg_type": st.sampled_from(["cast", "call"]) | _json,
    },
)
_frames = st.lists(
    st.binary(max_size=40) | _requests.map(lambda r: json.dumps(r).encode()), min_size=1, max_size=3
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=_frames)
def test_no_frames_crash_or_hang_the_server(dealer: zmq.Socket[Any], frames: list[bytes]) -> None:
    body = frames[-1] if len(frames) == 1 or (len(frames) == 2 and frames[0] == b"") else None
    try:
        parsed = json.loads(body) if body is not None else None
    except ValueError:
        parsed = None
    is_cast = isinstance(parsed, dict) and parsed.get("msg_type") == "cast"
    reply = exchange(dealer, *frames, timeout=0.3 if is_cast else 3.0)
    if is_cast:
        assert reply is None
    else:
        assert reply is not None, f"no reply to {frames!r}"
        assert reply["status"] in ("ok", "error") or "statuses" in reply or "name" in reply
        if reply["status"] == "error":
            assert reply["errno"] in range(7) and reply["reason"]
    marker = uuid.uuid4().hex
    alive = request(dealer, {"id": marker, "command": "list"})
    assert alive is not None and alive["id"] == marker


async def test_many_concurrent_clients_are_all_answered(runtime_dir: Path) -> None:
    from conftest import zmq_host

    from plugyard.adapters.zmq import HostClient

    async with zmq_host(runtime_dir) as host:
        facts = ZmqService.of(host).advertisement()

        def client_calls() -> list[str]:
            with HostClient.from_facts(facts) as client:
                return [client.call("snapshot")["status"] for _ in range(20)]

        results = await asyncio.gather(*(asyncio.to_thread(client_calls) for _ in range(8)))
    assert all(status == "ok" for batch in results for status in batch)
