"""The host's event stream: numbered events, glob subscriptions, one ordered dispatcher."""

from __future__ import annotations

import asyncio
import collections
import fnmatch
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
    matching subscriber, then ``after`` (the host's ``plugyard_event`` dispatch).
    """

    def __init__(
        self,
        host_id: str,
        stats: Stats,
        *,
        maxsize: int = 100_000,
        timeout: float = 5.0,
        after: Callable[[Event], Awaitable[None]] | None = None,
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
        if not topic or not isinstance(topic, str):
            raise ValueError(f"event topic must be a non-empty string, got {topic!r}")
        with self._seq_lock:
            seq = next(self._seq)
            self._last_seq = seq
            event = Event(topic, data, source, time.time(), f"{self.host_id}-{seq}", seq)
            if len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self.dropped += 1
                self.stats["host"].drops += 1
            self._queue.append(event)
        self._signal()
        return event

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
        queue = self._queue
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
                for sub in self._matching(event.topic):
                    await self._deliver(sub, event)
                if self.after is not None:
                    await self.after(event)
                self._release(event.seq)
                delivered += 1
                if delivered % _BURST == 0:
                    # synchronous subscribers never suspend: let the loop breathe in a burst
                    await asyncio.sleep(0)

    async def _deliver(self, sub: Subscription, event: Event) -> None:
        try:
            result = sub.callback(event)
            if result is not None and inspect.isawaitable(result):
                async with asyncio.timeout(self.timeout):
                    await result
        except Exception as exc:
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
