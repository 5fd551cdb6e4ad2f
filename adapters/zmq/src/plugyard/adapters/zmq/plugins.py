"""Built-in subscriber plugins: an event logger, flapping alerts and a statsd emitter.

Use them from the configuration::

    [plugins.events]
    use = "plugyard.adapters.zmq.plugins:EventLogger"
    filename = "events.log"
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import socket
from collections import Counter
from typing import IO, Any

from plugyard.sdk.subscriber import SubscriberPlugin

__all__ = ["EventLogger", "Flapping", "StatsdEmitter"]


class EventLogger(SubscriberPlugin):
    """Append every event to ``filename``: one JSON object per line (``format = "json"``,
    the default) or ``ACTION NAME::DATA`` lines as in the circus tutorial (``"text"``).

    Lines are flushed every ``flush_interval`` seconds (default 0.2) and at stop.
    """

    name = "event_logger"

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        if not config.get("filename"):
            raise ValueError("EventLogger needs a 'filename' option")
        self.filename = str(config["filename"])
        self.format = str(config.get("format", "json"))
        if self.format not in ("json", "text"):
            raise ValueError(f"EventLogger: format must be 'json' or 'text', got {self.format!r}")
        self.flush_interval = float(config.get("flush_interval", 0.2))
        self.file: IO[bytes] | None = None

    def handle_init(self) -> None:
        self.file = open(self.filename, "ab")  # noqa: SIM115 - closed in handle_stop
        self.loop.call_later(self.flush_interval, self._flush)

    def _flush(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.flush()
            self.loop.call_later(self.flush_interval, self._flush)

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        topic, body = data
        assert self.file is not None
        if self.format == "json":
            if body[:1] == b"{" and body[1:2] != b"}":
                line = b'{"topic":' + json.dumps(topic.decode()).encode() + b"," + body[1:]
            else:
                line = json.dumps({"topic": topic.decode(), "body": body.decode()}).encode()
            self.file.write(line + b"\n")
        else:
            name, action, msg = self.split_data(data)
            self.file.write(f"{action} {name}::{self.load_message(msg)!r}\n".encode())

    def handle_stop(self) -> None:
        if self.file is not None:
            self.file.close()


class Flapping(SubscriberPlugin):
    """Alert when a plugin flaps (the host publishes ``plugin.NAME.flapping``).

    For each flapping plugin it publishes ``alert.NAME.flapping``, runs ``command`` if set (a
    list of arguments or a string split like a shell would; ``{name}``, ``{crashes}``,
    ``{window}`` and ``{exit_code}`` are filled in), and, with ``retry_in`` > 0, restarts the
    plugin after that many seconds, at most ``max_retry`` times (-1: no limit).
    """

    name = "flapping"
    topics = ("",)

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        raw = config.get("command")
        self.command: list[str] = (
            shlex.split(raw) if isinstance(raw, str) else [str(a) for a in raw or []]
        )
        self.retry_in = float(config.get("retry_in", 0))
        self.max_retry = int(config.get("max_retry", 3))
        self.retries: Counter[str] = Counter()
        self.alerts = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        topic = data[0]
        if not (topic.startswith(b"plugin.") and topic.endswith(b".flapping")):
            return
        name, _, msg = self.split_data(data)
        details = self.load_message(msg).get("data", {})
        self.alerts += 1
        self.log.warning("plugin %r is flapping: %s", name, details)
        self.cast("publish", topic=f"alert.{name}.flapping", data={"name": name, **details})
        if self.command:
            task = self.loop.create_task(self._run_command(name, details))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self.retry_in > 0 and (self.max_retry < 0 or self.retries[name] < self.max_retry):
            self.retries[name] += 1
            self.loop.call_later(self.retry_in, self._retry, name)

    async def _run_command(self, name: str, details: dict[str, Any]) -> None:
        values = {"name": name, **{k: details.get(k) for k in ("crashes", "window", "exit_code")}}
        argv = [arg.format(**values) for arg in self.command]
        try:
            process = await asyncio.create_subprocess_exec(*argv)
            code = await asyncio.wait_for(process.wait(), 30)
        except (OSError, TimeoutError) as exc:
            self.log.error("alert command %s failed: %s", argv[0], exc)
            return
        if code != 0:
            self.log.error("alert command %s exited with code %s", argv[0], code)

    def _retry(self, name: str) -> None:
        self.log.info("restarting %r (retry %d)", name, self.retries[name])
        self.cast("restart", name=name)


_STATSD_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


class StatsdEmitter(SubscriberPlugin):
    """Count events per topic and send the counts to statsd over UDP.

    Options: ``host`` (default ``127.0.0.1``), ``port`` (8125), ``prefix`` (``plugyard``),
    ``flush_interval`` seconds (1.0). Each flush sends ``PREFIX.TOPIC:COUNT|c`` lines.
    """

    name = "statsd"

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.address = (str(config.get("host", "127.0.0.1")), int(config.get("port", 8125)))
        self.prefix = str(config.get("prefix", "plugyard")).rstrip(".")
        self.flush_interval = float(config.get("flush_interval", 1.0))
        self.counts: Counter[bytes] = Counter()
        self.sock: socket.socket | None = None

    def handle_init(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.loop.call_later(self.flush_interval, self._tick)

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        self.counts[data[0]] += 1

    def _tick(self) -> None:
        self.flush()
        if self.sock is not None:
            self.loop.call_later(self.flush_interval, self._tick)

    def flush(self) -> None:
        """Send the counts gathered since the last flush, in packets of at most 1,400 bytes."""
        if not self.counts or self.sock is None:
            return
        counts, self.counts = self.counts, Counter()
        packet = b""
        for topic, count in counts.items():
            metric = _STATSD_UNSAFE.sub("_", topic.decode(errors="replace"))
            line = f"{self.prefix}.{metric}:{count}|c".encode()
            if packet and len(packet) + len(line) + 1 > 1400:
                self._send_packet(packet)
                packet = b""
            packet = packet + b"\n" + line if packet else line
        if packet:
            self._send_packet(packet)

    def _send_packet(self, packet: bytes) -> None:
        assert self.sock is not None
        try:
            self.sock.sendto(packet, self.address)
        except OSError as exc:
            self.log.warning("statsd at %s:%d: %s", *self.address, exc)

    def handle_stop(self) -> None:
        self.flush()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
