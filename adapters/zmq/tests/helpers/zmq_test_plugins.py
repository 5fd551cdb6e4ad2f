"""Subscriber plugins used by the zmq adapter's tests (importable by child processes)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from plugyard.sdk.subscriber import CallError, SubscriberPlugin


class Recorder(SubscriberPlugin):
    """Writes one JSON line per event: topic, seq and data; optionally calls the host first."""

    name = "recorder"

    def handle_init(self) -> None:
        self.out = open(self.config["out"], "a", buffering=1)  # noqa: SIM115
        self.out.write(json.dumps({"init": True, "pid": os.getpid(), "config": self.config}) + "\n")
        if self.config.get("call_status"):
            reply = self.call("status", name=self.name)
            self.out.write(json.dumps({"status_reply": reply}) + "\n")
            try:
                self.call("nosuchcommand")
            except CallError as exc:
                self.out.write(json.dumps({"call_error": exc.errno, "reason": exc.reason}) + "\n")

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        topic, body = data
        message = self.load_message(body)
        self.out.write(
            json.dumps(
                {
                    "topic": topic.decode(),
                    "seq": message.get("seq"),
                    "data": message.get("data"),
                    **{k: message[k] for k in ("origin", "origin_seq") if k in message},
                }
            )
            + "\n"
        )

    def handle_stop(self) -> None:
        self.out.write(json.dumps({"stopped": True}) + "\n")
        self.out.close()


class AsyncRecorder(Recorder):
    """The same, with an async handle_recv that awaits on the plugin's loop."""

    name = "async_recorder"

    async def handle_recv(self, data: tuple[bytes, bytes]) -> None:  # type: ignore[override]
        import asyncio

        await asyncio.sleep(0)
        super().handle_recv(data)


class CrashAtStart(SubscriberPlugin):
    """Fails in handle_init every time."""

    def handle_init(self) -> None:
        print("about to fail", flush=True)
        raise RuntimeError("cannot start")

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        pass


class IgnoresSigterm(Recorder):
    """Ignores SIGTERM, so only SIGKILL stops it."""

    name = "stubborn"

    def handle_init(self) -> None:
        super().handle_init()
        self.loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


class SlowFileRecorder(Recorder):
    """A :class:`Recorder` with a small receive queue that takes ``delay`` per event, so the
    host's queue for it fills up and the host holds events for it."""

    rcvhwm = 50

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        time.sleep(float(self.config.get("delay", 0.0005)))
        super().handle_recv(data)


class SlowRecorder(SubscriberPlugin):
    """Sleeps on every event so that its queue fills up."""

    rcvhwm = 50

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        time.sleep(float(self.config.get("delay", 0.01)))


class GatedRecorder(SubscriberPlugin):
    """Handles events at once until ``app.hold`` arrives, then blocks in ``handle_recv`` until
    the file ``gate`` exists (so its queue fills and it falls behind), then goes on."""

    rcvhwm = 50

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        if data[0] != b"app.hold":
            return
        gate = self.config["gate"]
        deadline = time.monotonic() + 120
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)


class Counter(SubscriberPlugin):
    """Counts events on topic prefix ``bench.`` and reports the count on ``bench.done``."""

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        topic = data[0]
        if topic == b"bench.item":
            self.load_message(data[1])
            if not self.count:
                self.first = time.perf_counter()
            self.count += 1
            self.last = time.perf_counter()
        elif topic == b"bench.done":
            self.cast(
                "publish",
                topic="bench.result",
                data={"count": self.count, "first": self.first, "last": self.last},
            )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)


class FromTheFuture(Recorder):
    """A recorder written against a hook spec this host does not speak."""

    name = "from_the_future"
    plugyard_spec_version = "2.0"

    def handle_stop(self) -> None:
        self.out.write(json.dumps({"refused": self.refused}) + "\n")
        super().handle_stop()
