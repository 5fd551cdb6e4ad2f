"""The author-facing pieces of plugyard.sdk.subscriber that need no host."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugyard.sdk.subscriber import (
    CallError,
    SubscriberPlugin,
    event_seq,
    parse_config,
    split_topic,
)


def test_config_strings_are_parsed_as_circus_does() -> None:
    assert parse_config("filename:events.log") == {"filename": "events.log"}
    assert parse_config("a:1::: b : x:y :::broken") == {"a": "1", "b": "x:y"}
    assert parse_config(None) == {}


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("plugin.web.started", ("web", "started")),
        ("operation.dep.node_1.install.succeeded", ("dep.node_1.install", "succeeded")),
        ("host.started", ("", "started")),
        ("lonely", ("", "")),
    ],
)
def test_topics_split_into_name_and_action(topic: str, expected: tuple[str, str]) -> None:
    assert split_topic(topic) == expected


def test_split_data_and_load_message_read_an_event() -> None:
    body = json.dumps({"seq": 3, "data": {"x": 1}}).encode()
    assert SubscriberPlugin.split_data((b"plugin.a.b.stopped", body)) == ("a.b", "stopped", body)
    assert SubscriberPlugin.load_message(body)["data"] == {"x": 1}


def test_seq_is_read_from_the_front_of_a_body() -> None:
    assert event_seq(b'{"seq":42,"id":"x"}') == 42
    assert event_seq(b'{"id":"x","seq":42}') is None
    assert event_seq(b'{"seq":nope,"id":1}') is None


def test_plugins_keep_their_config_types_and_name() -> None:
    class Typed(SubscriberPlugin):
        def handle_recv(self, data: tuple[bytes, bytes]) -> None:
            pass

    plugin = Typed("ipc:///x", "ipc:///y", 2, size=3, ratio=0.5, flags=["a"])
    assert plugin.config == {"size": 3, "ratio": 0.5, "flags": ["a"]}
    assert plugin.name == "typed"
    assert plugin.check_delay == 2.0
    plugin.loop.close()


def test_an_inactive_plugin_refuses_to_start() -> None:
    plugin = SubscriberPlugin("ipc:///x", "ipc:///y", active="false")
    with pytest.raises(ValueError, match="not active"):
        plugin.start()
    plugin.loop.close()


def test_handle_recv_must_be_implemented() -> None:
    plugin = SubscriberPlugin("ipc:///x", "ipc:///y")
    with pytest.raises(NotImplementedError, match="handle_recv"):
        plugin.handle_recv((b"t", b"{}"))
    plugin.loop.close()


def test_call_error_carries_reason_and_errno() -> None:
    error = CallError("stop", {"status": "error", "reason": "no plugin named 'x'", "errno": 3})
    assert (error.reason, error.errno) == ("no plugin named 'x'", 3)
    assert "stop: no plugin named 'x' (errno 3)" in str(error)


def test_importing_the_sdk_stays_light() -> None:
    code = (
        "import sys, plugyard.sdk, plugyard.sdk.subscriber\n"
        "print('zmq' in sys.modules, 'plugyard.host' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


class _Collector(SubscriberPlugin):
    announce = False

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.topics_seen: list[bytes] = []

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        self.topics_seen.append(data[0])


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_a_message_of_another_shape_is_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As docs/protocol.md says: a message of more than two frames is dropped alone; after a
    one-frame message, the event that follows it is dropped too if it was already there."""
    import zmq

    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    router = ctx.socket(zmq.ROUTER)
    pubsub, endpoint = f"ipc://{tmp_path}/events.sock", f"ipc://{tmp_path}/control.sock"
    pub.bind(pubsub)
    router.bind(endpoint)
    plugin = _Collector(endpoint, pubsub)
    thread = threading.Thread(target=plugin.start, daemon=True)
    caplog.set_level(logging.WARNING, logger="plugyard.subscriber")
    thread.start()
    try:
        assert pub.poll(10_000), "the plugin did not subscribe"
        assert pub.recv() == b"\x01"

        def event(topic: bytes, seq: int) -> list[bytes]:
            return [topic, b'{"seq":%d,"id":"h-%d","data":{}}' % (seq, seq)]

        pub.send_multipart(event(b"a.one", 1))
        pub.send_multipart([b"x", b"y", b"z"])
        pub.send_multipart(event(b"a.two", 2))
        pub.send_multipart([b"lone"])
        pub.send_multipart(event(b"a.three", 3))
        pub.send_multipart(event(b"a.four", 4))
        _wait_for(lambda: b"a.four" in plugin.topics_seen)
        # a.three is lost with the lone frame only if it had arrived when the frame was read
        assert plugin.topics_seen in (
            [b"a.one", b"a.two", b"a.four"],
            [b"a.one", b"a.two", b"a.three", b"a.four"],
        )
        assert caplog.text.count("not an event of two frames") == 2
    finally:
        plugin.stop()
        thread.join(10)
        pub.close(linger=0)
        router.close(linger=0)
        ctx.term()
    assert not thread.is_alive()
