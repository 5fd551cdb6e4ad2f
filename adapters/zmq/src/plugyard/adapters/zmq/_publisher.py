"""The event socket: every host event out as ``[topic, json body]`` on an XPUB socket.

Delivery is lossless while subscribers keep up: the socket refuses to drop (``XPUB_NODROP``)
and each subscriber has its own ZMQ queue of ``sndhwm`` events. When one queue is full the
host keeps events in a bounded buffer of its own and sends them again as soon as libzmq says
a queue has room (the socket's notification descriptor, watched on the host's loop, with a
timer as a backstop); the host never blocks. Once that
buffer is full, the oldest event is sent anyway, so only the subscribers whose queues are
full lose it: they see a jump in ``seq``, and SDK plugins report it (``stats`` shows their
``drops``). That report comes only once the subscriber has worked through its queue to the
gap, so the overflow itself is reported at once, with the ``seq`` range sent past full queues
(``on_overflow``): the adapter names the subscribers that were behind by then.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from plugyard.sdk import Event

from ._circus import circus_events

if TYPE_CHECKING:
    import zmq

__all__ = ["EventPublisher", "encode_event"]

logger = logging.getLogger("plugyard.adapters.zmq.events")

_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode
_dumps = orjson.dumps
_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS
_RETRY_MIN = 0.001
_RETRY_MAX = 0.02
"""The backstop timer's delays; room is normally noticed from the socket's descriptor."""
_SUBSCRIPTION_DRAIN = 1.0


def encode_event(event: Event) -> tuple[bytes, bytes]:
    """``(topic, body)`` frames; ``seq`` comes first in the body so subscribers find it fast."""
    body = {
        "seq": event.seq,
        "id": event.id,
        "time": event.time,
        "source": event.source,
        "data": event.data,
    }
    if event.origin:
        body["origin"] = event.origin
        body["origin_seq"] = event.origin_seq
    try:
        return event.topic.encode(), _dumps(body, default=str, option=_NON_STR_KEYS)
    except TypeError:  # what orjson refuses (an int past 64 bits, a Mapping that is no dict)
        pass
    try:
        text = _ENCODE(body)
    except (TypeError, ValueError) as exc:
        body["data"] = {"unencodable": repr(event.data)[:1000], "error": str(exc)}
        text = _ENCODE(body)
    return event.topic.encode(), text.encode()


def encode_watcher_event(event: Event) -> tuple[bytes, bytes]:
    """A ``watcher.NAME.ACTION`` event: the usual body, with the data's keys also at the top
    level, where circus plugins read them (``process_pid``, ``exit_code`` ...)."""
    topic, body = encode_event(event)
    extra = {k: v for k, v in event.data.items() if k not in _ENVELOPE}
    if not extra:
        return topic, body
    try:
        tail = _ENCODE(extra)
    except (TypeError, ValueError):
        return topic, body
    return topic, body[:-1] + b"," + tail[1:].encode()


_ENVELOPE = frozenset({"seq", "id", "time", "source", "data", "origin", "origin_seq"})


class EventPublisher:
    """Publish host events on an XPUB socket without ever blocking the host's loop.

    Call it with each event (it is the callback of ``host.subscribe("*", ...)``). Every method
    runs on the host's loop thread.
    """

    def __init__(
        self,
        socket: zmq.Socket[Any],
        *,
        buffer: int,
        circus_compat: bool = False,
        on_overflow: Callable[[int, int, int], None] | None = None,
        max_size: int = 1 << 20,
    ) -> None:
        import zmq

        self._zmq = zmq
        self.socket = socket
        self.buffer = buffer
        self.circus_compat = circus_compat
        self.on_overflow = on_overflow
        self.sent = 0
        self.overflowed = 0
        self.max_size = max_size
        self.oversized = 0
        self.subscriptions = 0
        self._pending: collections.deque[tuple[bytes, bytes, int]] = collections.deque()
        """Held events: topic, body and ``seq`` (-1 for raw frames)."""
        self._retry: asyncio.TimerHandle | None = None
        self._retry_delay = _RETRY_MIN
        self._drain: asyncio.TimerHandle | None = None
        self._fd: int | None = None
        self._closed = False
        self._more = int(zmq.SNDMORE | zmq.NOBLOCK)  # plain ints: cheaper than pyzmq's enums
        self._noblock = int(zmq.NOBLOCK)
        self._again = zmq.Again

    @property
    def pending(self) -> int:
        """Events the host holds because some subscriber's queue is full."""
        return len(self._pending)

    def start(self) -> None:
        """Begin reading subscription notices (so they never pile up in the socket), and
        watch the socket for room in its subscribers' queues."""
        loop = asyncio.get_running_loop()
        self._drain = loop.call_later(_SUBSCRIPTION_DRAIN, self._drain_subscriptions)
        self._fd = fd = int(self.socket.getsockopt(self._zmq.FD))
        loop.add_reader(fd, self._on_socket)

    def _on_socket(self) -> None:
        """libzmq signalled its descriptor: a subscriber read from its queue (or something
        else happened on the socket). Reading ``EVENTS`` takes the signal in; then resend."""
        if self._closed:
            return
        self.socket.getsockopt(self._zmq.EVENTS)
        if self._pending:
            self._flush(self.buffer)

    def __call__(self, event: Event) -> None:
        if self._closed:
            return
        seq = event.seq
        if event.topic[:8] == "watcher.":
            self._publish(*encode_watcher_event(event), seq)
            return
        self._publish(*encode_event(event), seq)
        if self.circus_compat and (event.topic[:7] in ("plugin.", "process")):
            for topic, body in circus_events(event):
                self._publish(topic.encode(), _ENCODE(body).encode(), seq)

    def publish_raw(self, topic: bytes, body: bytes) -> None:
        """Send already encoded frames through the same buffer (keeps the order)."""
        if not self._closed:
            self._publish(topic, body, -1)

    def _publish(self, topic: bytes, body: bytes, seq: int) -> None:
        if len(body) > self.max_size or len(topic) > self.max_size:
            self._refuse_oversized((topic, body))
            return
        pending = self._pending
        if pending:
            # A queue was full a moment ago: hold this one behind the others and let the
            # socket's room notice (or the timer) send them in a row, rather than paying
            # for two refused sends per event while the subscriber catches up.
            pending.append((topic, body, seq))
            if len(pending) > self.buffer:
                self._flush(self.buffer)
            return
        try:
            self.socket.send(topic, self._more)
            self.socket.send(body, self._noblock)
            self.sent += 1
        except self._again:
            self._pending.append((topic, body, seq))
            self._schedule()

    def _refuse_oversized(self, frames: tuple[bytes, bytes]) -> None:
        """A frame over the subscribers' limit would make each of them drop its connection;
        drop the event instead, and say so."""
        self.oversized += 1
        logger.warning(
            "event %r not published: %d bytes, over [zmq] max_message_size (%d)",
            frames[0][:80].decode(errors="replace"),
            max(len(frames[0]), len(frames[1])),
            self.max_size,
        )

    def _flush(self, limit: int) -> None:
        """Send what the subscribers' queues accept now; past ``limit`` held events, send the
        oldest lossily (only queues that are full at that moment lose them)."""
        pending, sock = self._pending, self.socket
        send, more, noblock, again = sock.send, self._more, self._noblock, self._again
        refreshed = False
        while pending:
            topic, body, _ = pending[0]
            try:
                send(topic, more)
                send(body, noblock)
            except again:
                if refreshed:
                    break
                self._refresh()
                refreshed = True
                continue
            pending.popleft()
            self.sent += 1
            self._retry_delay = _RETRY_MIN
        if len(pending) > limit:
            self._overflow(len(pending) - self.buffer)
        if pending:
            self._schedule()

    def _refresh(self) -> None:
        """Let libzmq take in what subscribers read since the last check (queues look fuller
        than they are until it does), so that only truly full queues refuse an event."""
        self.socket.getsockopt(self._zmq.EVENTS)

    def _overflow(self, count: int) -> None:
        """Send the oldest ``count`` events even where a queue is full (those queues lose them)."""
        zmq, sock, pending = self._zmq, self.socket, self._pending
        first = last = -1
        sock.setsockopt(zmq.XPUB_NODROP, 0)
        try:
            for _ in range(count):
                topic, body, seq = pending.popleft()
                sock.send(topic, self._more)
                sock.send(body, self._noblock)
                if seq >= 0:
                    last = seq
                    if first < 0:
                        first = seq
        finally:
            sock.setsockopt(zmq.XPUB_NODROP, 1)
        self.overflowed += count
        self.sent += count
        if self.on_overflow is not None:
            self.on_overflow(count, first, last)

    def _schedule(self) -> None:
        if self._retry is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._retry = loop.call_later(self._retry_delay, self._on_retry)
            self._retry_delay = min(self._retry_delay * 2, _RETRY_MAX)

    def _on_retry(self) -> None:
        self._retry = None
        if not self._closed:
            self._flush(self.buffer)

    def _drain_subscriptions(self) -> None:
        """Read XPUB's subscription notices; counting them helps ``status`` and debugging."""
        self._drain = None
        if self._closed:
            return
        zmq = self._zmq
        while True:
            try:
                notice = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if notice[:1] == b"\x01":
                self.subscriptions += 1
            elif notice[:1] == b"\x00":
                self.subscriptions = max(0, self.subscriptions - 1)
        self._drain = asyncio.get_running_loop().call_later(
            _SUBSCRIPTION_DRAIN, self._drain_subscriptions
        )

    async def close(self, grace: float = 1.0) -> None:
        """Flush what is held for up to ``grace`` seconds, then close the socket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._pending and loop.time() < deadline:
            self._flush(len(self._pending))
            await asyncio.sleep(0.005)
        self._closed = True
        if self._fd is not None:
            loop.remove_reader(self._fd)
            self._fd = None
        for handle in (self._retry, self._drain):
            if handle is not None:
                handle.cancel()
        if self._pending:
            logger.warning("%d event(s) not delivered at shutdown", len(self._pending))
        self.socket.close(linger=int(grace * 1000))

    def describe(self) -> dict[str, Any]:
        """Counters for ``status``."""
        return {
            "sent": self.sent,
            "pending": len(self._pending),
            "overflowed": self.overflowed,
            "subscriptions": self.subscriptions,
        }
