"""The host's event stream: numbered events, glob subscriptions, one ordered dispatcher."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import fnmatch
import functools
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plugyard.sdk import Event

from ._stats import Stats

__all__ = ["EventBus", "Subscription"]

logger = logging.getLogger("plugyard.host.events")
_BURST = 64
"""Events delivered in a row before the dispatcher lets other tasks run."""

Callback = Callable[[Event], Awaitable[None] | None]

# Setting a frozen dataclass's slots directly: ``Event(...)`` goes through
# ``object.__setattr__`` once per field, which costs as much again as everything else here.
_FIELDS = ("topic", "data", "source", "time", "id", "seq", "origin", "origin_seq")
if {f.name for f in dataclasses.fields(Event)} != set(_FIELDS):  # pragma: no cover
    raise ImportError("plugyard.host: EventBus.publish does not set every field of Event")
_TOPIC, _DATA, _SOURCE, _TIME, _ID, _SEQ, _ORIGIN, _ORIGIN_SEQ = (
    Event.__dict__[name].__set__ for name in _FIELDS
)


MAX_TOPIC_LENGTH = 1024
"""Characters an event topic may have."""


def check_topic(topic: Any) -> None:
    """Refuse a topic no subscriber could receive: empty, not text, with whitespace or
    control characters, not encodable as UTF-8 (a lone surrogate), or too long."""
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"event topic must be a non-empty string, got {topic!r}")
    _check_text(topic)


@functools.lru_cache(maxsize=4096)
def _check_text(topic: str) -> None:
    """The text checks of :func:`check_topic`, remembered per topic (topics repeat; a refused
    topic raises, and a raise is not cached)."""
    if len(topic) > MAX_TOPIC_LENGTH:
        raise ValueError(
            f"event topic is {len(topic)} characters; at most {MAX_TOPIC_LENGTH} are allowed"
        )
    try:
        topic.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"event topic {topic!r} is not valid Unicode text (a lone surrogate); "
            "it could not be sent to any subscriber"
        ) from None
    if any(ch.isspace() or not ch.isprintable() for ch in topic):
        raise ValueError(
            f"event topic {topic!r} contains whitespace or control characters; "
            "use dotted names such as app.order.created"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Subscription:
    """One in-process observer: a glob pattern over topics and a callback."""

    pattern: str
    callback: Callback
    name: str


class EventBus:
    """Numbers events as they are published and delivers them in order from one task.

    ``publish`` may be called from any thread and never blocks: events wait in a bounded
    queue (the oldest is dropped on overflow, and counted). The dispatcher task calls each
    matching subscriber, then ``after`` (the host's ``plugyard_event`` dispatch), which returns
    an awaitable, or ``None`` when it has nothing to do.
    """

    def __init__(
        self,
        host_id: str,
        stats: Stats,
        *,
        maxsize: int = 100_000,
        timeout: float = 5.0,
        after: Callable[[Event], Awaitable[object] | None] | None = None,
    ) -> None:
        self.host_id = host_id
        self.stats = stats
        self.maxsize = maxsize
        self.timeout = timeout
        self.after = after
        self.dropped = 0
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._seq_lock = threading.Lock()
        self._queue: collections.deque[Event] = collections.deque()
        self._subs: list[Subscription] = []
        self._match_cache: dict[str, tuple[Subscription, ...]] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.Event | None = None
        self._delivered = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the most recently published event (0 before the first)."""
        return self._last_seq

    @property
    def delivered_seq(self) -> int:
        """The ``seq`` of the last event handed to every subscriber (or dropped)."""
        return self._delivered

    async def wait_delivered(self, seq: int, timeout: float | None = None) -> None:
        """Wait until the event numbered ``seq`` has been delivered (or dropped on overflow).

        ``TimeoutError`` names the seq waited for and the last one delivered.
        """
        if seq <= self._delivered:
            return
        if seq > self._last_seq:
            raise ValueError(f"no event with seq {seq} has been published (last: {self._last_seq})")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, future))
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise TimeoutError(
                f"event seq {seq} not delivered within {timeout:g}s "
                f"(delivered up to {self._delivered}; is the host started?)"
            ) from None
        finally:
            if not future.done():
                future.cancel()
            self._waiters = [w for w in self._waiters if w[1] is not future]

    def _release(self, seq: int) -> None:
        self._delivered = seq
        if self._waiters:
            for wanted, future in self._waiters:
                if wanted <= seq and not future.done():
                    future.set_result(None)

    @property
    def pending(self) -> int:
        """Events published but not yet delivered."""
        return len(self._queue)

    def publish(self, topic: str, data: Mapping[str, Any], source: str = "host") -> Event:
        """Number an event and queue it for delivery; returns it at once."""
        check_topic(topic)
        event: Event = object.__new__(Event)
        _TOPIC(event, topic)
        _DATA(event, data)
        _SOURCE(event, source)
        _ORIGIN(event, "")
        _ORIGIN_SEQ(event, 0)
        with self._seq_lock:
            seq = next(self._seq)
            self._last_seq = seq
            _TIME(event, time.time())
            _ID(event, f"{self.host_id}-{seq}")
            _SEQ(event, seq)
            if len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self.dropped += 1
                self.stats["host"].drops += 1
            self._queue.append(event)
        self._signal()
        return event

    def relay(self, event: Event) -> Event:
        """Queue an event that began on another host (an event bridge's): it keeps its
        ``id``, ``time``, ``origin`` and ``origin_seq`` and takes this host's next ``seq``."""
        if not event.origin:
            raise ValueError(f"relay: event {event.id!r} has no origin; use publish()")
        with self._seq_lock:
            seq = next(self._seq)
            self._last_seq = seq
            relayed = dataclasses.replace(event, seq=seq)
            if len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self.dropped += 1
                self.stats["host"].drops += 1
            self._queue.append(relayed)
        self._signal()
        return relayed

    def _signal(self) -> None:
        wake, loop = self._wake, self._loop
        if wake is None or loop is None or wake.is_set():
            return
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    def subscribe(
        self, pattern: str, callback: Callback, *, name: str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for every event whose topic matches the glob ``pattern``.

        The callback may be plain or ``async``; it runs on the host's loop, in publishing
        order. Returns a function that unsubscribes.
        """
        label = name or str(getattr(callback, "__qualname__", repr(callback)))
        sub = Subscription(pattern, callback, label)
        self._subs.append(sub)
        self._match_cache.clear()

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)
                self._match_cache.clear()

        return unsubscribe

    def unsubscribe_owner(self, name: str) -> int:
        """Remove every subscription made under ``name`` (an unloaded plugin's); how many."""
        kept = [sub for sub in self._subs if sub.name != name]
        removed = len(self._subs) - len(kept)
        if removed:
            self._subs[:] = kept
            self._match_cache.clear()
        return removed

    def _matching(self, topic: str) -> tuple[Subscription, ...]:
        found = self._match_cache.get(topic)
        if found is None:
            found = tuple(
                sub
                for sub in self._subs
                if sub.pattern in ("*", topic) or fnmatch.fnmatchcase(topic, sub.pattern)
            )
            if len(self._match_cache) > 10_000:
                self._match_cache.clear()
            self._match_cache[topic] = found
        return found

    async def start(self) -> None:
        """Start delivering (events published before now are delivered first)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        if self._queue:
            self._wake.set()
        self._task = asyncio.create_task(self._run(), name="plugyard-event-dispatcher")

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued event has been delivered; ``False`` on timeout."""
        if self._task is None or self._idle is None:
            return not self._queue
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._queue or not self._idle.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._idle.clear()
            self._signal()
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the dispatcher."""
        if self._task is None:
            return
        await self.drain(timeout)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        self._wake = None
        self._loop = None

    async def _run(self) -> None:
        wake, idle = self._wake, self._idle
        assert wake is not None
        assert idle is not None
        queue, after, cache = self._queue, self.after, self._match_cache
        while True:
            if not queue:
                idle.set()
                await wake.wait()
                wake.clear()
                continue
            idle.clear()
            delivered = 0
            while queue:
                event = queue.popleft()
                subs = cache.get(event.topic)
                for sub in self._matching(event.topic) if subs is None else subs:
                    try:
                        result = sub.callback(event)
                    except Exception as exc:
                        self._failed(sub, event, exc)
                        continue
                    if result is not None and inspect.isawaitable(result):
                        await self._finish(sub, event, result)
                if after is not None and (pending := after(event)) is not None:
                    await pending
                self._delivered = event.seq
                if self._waiters:
                    self._release(event.seq)
                delivered += 1
                if delivered % _BURST == 0:
                    # synchronous subscribers never suspend: let the loop breathe in a burst
                    await asyncio.sleep(0)

    async def _finish(self, sub: Subscription, event: Event, result: Awaitable[None]) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await result
        except Exception as exc:
            self._failed(sub, event, exc)

    def _failed(self, sub: Subscription, event: Event, exc: Exception) -> None:
        self.stats[sub.name].errors += 1
        logger.error(
            "event subscriber %s failed on %s (seq %d): %s: %s",
            sub.name,
            event.topic,
            event.seq,
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={"plugin": sub.name},
        )
