"""A stopping SDK subscriber handles every event published before its stop: it asks the host
for a marker (``zmq.flush``) and handles events until the marker comes back.

The host here is played by the test on its own ROUTER and PUB sockets, so that it can publish
an event *after* the plugin was told to stop (as a busy host's last events are still on their
way), and check the plugin still handles it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from plugyard.sdk.subscriber import SubscriberPlugin


class Recorder(SubscriberPlugin):
    name = "recorder"

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.topics_seen: list[str] = []
        self.stopped_with: list[str] = []

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        self.topics_seen.append(data[0].decode())

    def handle_stop(self) -> None:
        self.stopped_with = list(self.topics_seen)


class FakeHost:
    """A ROUTER for commands and a PUB for events, as the host binds them."""

    def __init__(self, folder: Path) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.pub = self.ctx.socket(zmq.PUB)
        self.endpoint = f"ipc://{folder}/control.sock"
        self.pubsub_endpoint = f"ipc://{folder}/events.sock"
        self.router.bind(self.endpoint)
        self.pub.bind(self.pubsub_endpoint)
        self.seq = 0

    def publish(self, topic: str, **data: Any) -> None:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "topic": topic, "data": data})
        self.pub.send_multipart([topic.encode(), body.encode()])

    def receive(self, timeout: float = 30.0) -> tuple[bytes, dict[str, Any]]:
        """The next command: (the sender's identity, the request)."""
        assert self.router.poll(int(timeout * 1000)), "no command from the plugin"
        identity, raw = self.router.recv_multipart()
        return identity, json.loads(raw)

    def answer(self, identity: bytes, request: dict[str, Any]) -> None:
        if request.get("msg_type") != "cast":
            reply = {"id": request["id"], "status": "ok", "time": time.time()}
            self.router.send_multipart([identity, json.dumps(reply).encode()])

    def handshake(self, name: str) -> None:
        """Answer hellos (publishing each back) until the plugin says it is ready."""
        while True:
            identity, request = self.receive()
            self.answer(identity, request)
            props = request["properties"]
            if request["command"] != "zmq.hello":
                continue
            if props.get("ready"):
                return
            self.publish(f"subscriber.{name}.hello", name=name, pid=props["pid"])

    def close(self) -> None:
        self.router.close(0)
        self.pub.close(0)
        self.ctx.term()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FakeHost]:
    fake = FakeHost(tmp_path)
    yield fake
    fake.close()


def _start(host: FakeHost) -> tuple[Recorder, threading.Thread]:
    plugin = Recorder(host.endpoint, host.pubsub_endpoint)
    thread = threading.Thread(target=plugin.start, daemon=True)
    thread.start()
    host.handshake(plugin.name)
    return plugin, thread


def _wait(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _stopping(host: FakeHost) -> tuple[Recorder, threading.Thread, dict[str, Any]]:
    """A started plugin that handled one event and was then told to stop; the flush request
    it sent."""
    plugin, thread = _start(host)
    host.publish("app.early", n=1)
    _wait(lambda: "app.early" in plugin.topics_seen, "the first event was not handled")
    plugin.stop()
    _, request = host.receive()
    assert request["command"] == "zmq.flush" and request["msg_type"] == "cast"
    assert request["properties"]["name"] == "recorder"
    return plugin, thread, request


def test_events_published_after_the_stop_request_but_before_the_marker_are_handled(
    host: FakeHost,
) -> None:
    plugin, thread, request = _stopping(host)
    token = request["properties"]["token"]
    # still on its way when the stop came: handled all the same, before handle_stop
    host.publish("host.stopping", name="test")
    host.publish("subscriber.recorder.flushed", name="recorder", token="someone else's")
    host.publish("app.late", n=2)
    host.publish("subscriber.recorder.flushed", name="recorder", token=token)
    host.publish("app.after-the-marker", n=3)
    thread.join(30)
    assert not thread.is_alive()
    assert plugin.stopped_with[-3:] == [
        "host.stopping",
        "subscriber.recorder.flushed",
        "app.late",
    ]
    assert "app.after-the-marker" not in plugin.stopped_with


def test_a_host_that_never_sends_the_marker_delays_the_stop_by_a_second_at_most(
    host: FakeHost,
) -> None:
    plugin, thread, _ = _stopping(host)
    thread.join(30)  # FLUSH_TIMEOUT is one second; the deadline is for a busy machine
    assert not thread.is_alive()
    assert plugin.stopped_with[-1] == "app.early"
