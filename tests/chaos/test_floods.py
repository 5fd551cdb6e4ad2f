"""Chaos: flood the command socket, the event socket and the HTTP port of a real host at once,
then check that it still answers every kind of client and that nothing stored changed."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _chaos import ChaosHost, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FLOOD_SECONDS = 4.0


def flood_commands(endpoint: str, stop: threading.Event, sent: list[int]) -> None:
    """Clients that send valid, malformed and oversized-count requests and never read."""
    import zmq

    ctx = zmq.Context()
    sockets = []
    try:
        for _ in range(20):
            dealer = ctx.socket(zmq.DEALER)
            dealer.linger = 0
            dealer.sndhwm = 1000
            dealer.connect(endpoint)
            sockets.append(dealer)
        frames = [
            b'{"command": "status"}',
            b"not json at all",
            b'{"command": "nosuch", "properties": {}}',
            b'{"command": "publish", "properties": {"topic": "app.flood"}}',
            b"[1, 2, 3]",
        ]
        n = 0
        while not stop.is_set():
            for dealer in sockets:
                try:
                    dealer.send(frames[n % len(frames)], zmq.NOBLOCK)
                    n += 1
                except zmq.Again:
                    pass
    finally:
        for dealer in sockets:
            dealer.close(0)
        ctx.term()
        sent.append(n)


def flood_events(endpoint: str, stop: threading.Event, opened: list[int]) -> None:
    """Subscribers that connect, subscribe to everything, never read, and go away."""
    import zmq

    ctx = zmq.Context()
    n = 0
    try:
        while not stop.is_set():
            batch = []
            for _ in range(20):
                sub = ctx.socket(zmq.SUB)
                sub.linger = 0
                sub.rcvhwm = 10
                sub.setsockopt(zmq.SUBSCRIBE, b"")
                sub.connect(endpoint)
                batch.append(sub)
            n += len(batch)
            time.sleep(0.05)  # the flood's own pace: let the host see the subscriptions
            for sub in batch:
                sub.close(0)
    finally:
        ctx.term()
        opened.append(n)


def flood_http(url: str, stop: threading.Event, answered: list[int]) -> None:
    """Many short requests, plus connections opened and left idle for the flood's length."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    idle = []
    try:
        for _ in range(50):
            with_idle = socket.create_connection((host, int(port)), timeout=5)
            with_idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
            idle.append(with_idle)
        ok = 0
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=5) as reply:
                    ok += reply.status == 200
            except OSError:
                pass
        answered.append(ok)
    finally:
        for sock in idle:
            sock.close()


def health(url: str) -> int:
    with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=5) as reply:
        return int(reply.status)


def test_a_host_flooded_on_every_socket_and_port_still_answers_and_keeps_its_data(
    chaos: ChaosHost,
) -> None:
    chaos.start()
    before = chaos.call("publish", topic="app.before", data={"keep": True})["event"]["seq"]
    zmq_facts: dict[str, Any] = chaos.info["zmq"]
    url = chaos.info["http_url"]
    stop = threading.Event()
    sent: list[int] = []
    opened: list[int] = []
    answered: list[int] = []
    floods = [
        threading.Thread(target=flood_commands, args=(zmq_facts["endpoint"], stop, sent)),
        threading.Thread(target=flood_events, args=(zmq_facts["pubsub_endpoint"], stop, opened)),
        threading.Thread(target=flood_http, args=(url, stop, answered)),
    ]
    for thread in floods:
        thread.start()
    try:
        stop.wait(FLOOD_SECONDS)  # the flood's length is the behaviour under test
        # under the flood: a well-behaved client still gets an answer, at worst "busy"
        during = chaos.call("status")
        assert during["status"] == "ok" or "the host is busy" in during["reason"], during
    finally:
        stop.set()
        for thread in floods:
            thread.join(30)
    assert sent and sent[0] > 1000, sent
    assert opened and opened[0] >= 20, opened

    assert health(url) == 200
    status = chaos.call("status")
    assert status["statuses"]["journal"] == "started", status
    after = chaos.call("publish", topic="app.after", data={})["event"]["seq"]
    assert after > before

    def seen(topic: str) -> list[int]:
        return [line["seq"] for line in chaos.journal_lines() if line.get("topic") == topic]

    until("the subscriber got the event published after the flood", lambda: seen("app.after"))
    assert seen("app.before") == [before], "the event before the flood, once"
    assert json.loads(chaos.cli("call", "status").stdout)["statuses"]["zmq"] != "failed"
    assert chaos.stop() == 0
