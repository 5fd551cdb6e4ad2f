"""One bounded queue and one consumer task per event plugin.

A queue-and-task per handler costs about a seventh of an ``asyncio.gather`` per event, and a
slow plugin then delays nobody but itself.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._declarations import OverflowPolicy, QueueFullError

if TYPE_CHECKING:
    from plugyard.host import PluginStats

__all__ = ["HandlerOutcome", "Mailbox"]

logger = logging.getLogger("plugyard.adapters.asyncio")

# One queued event: (event id, event name, handler kwargs, waiter for emit_and_wait or None).
_Item = tuple[str, str, dict[str, Any], "asyncio.Future[HandlerOutcome] | None"]


@dataclass(frozen=True, slots=True)
class HandlerOutcome:
    """How one plugin handled one event: ``ok``, ``error``, ``timeout`` or ``dropped``."""

    plugin: str
    status: str
    error: str | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the handler returned normally."""
        return self.status == "ok"


class Mailbox:
    """An event plugin's bounded queue and the task that feeds its handler one event at a time.

    ``offer`` never waits (it applies the event type's overflow policy); ``wait_for_room``
    lets emitters that can wait honour ``block``. A handler that raises or overruns
    ``timeout`` is logged with the plugin's name and the event id and counted; the consumer
    goes on with the next event.
    """

    __slots__ = (
        "_closing",
        "_items",
        "_room",
        "_task",
        "_wake",
        "handler",
        "log",
        "maxsize",
        "on_drop",
        "on_failure",
        "plugin",
        "stats",
        "timeout",
        "wants_logger",
    )

    def __init__(
        self,
        plugin: str,
        handler: Callable[..., Awaitable[Any]],
        *,
        maxsize: int,
        timeout: float | None,
        stats: PluginStats,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        wants_logger: bool,
        on_drop: Callable[[str, str], None],
        on_failure: Callable[[str, str, str, str], None],
    ) -> None:
        self.plugin = plugin
        self.handler = handler
        self.maxsize = maxsize
        self.timeout = timeout
        self.stats = stats
        self.log = log
        self.wants_logger = wants_logger
        self.on_drop = on_drop
        self.on_failure = on_failure
        self._items: collections.deque[_Item] = collections.deque()
        self._room: collections.deque[asyncio.Future[None]] = collections.deque()
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """Whether the queue holds ``maxsize`` events."""
        return len(self._items) >= self.maxsize

    @property
    def running(self) -> bool:
        """Whether the consumer task is running."""
        return self._task is not None and not self._task.done()

    def offer(self, item: _Item, policy: OverflowPolicy) -> None:
        """Queue ``item`` without waiting, applying ``policy`` when the queue is full."""
        items = self._items
        if len(items) >= self.maxsize:
            if policy is OverflowPolicy.DROP_NEW:
                self._dropped(item)
                return
            if policy is OverflowPolicy.DROP_OLDEST:
                self._dropped(items.popleft())
            else:
                raise QueueFullError(
                    f"plugin {self.plugin!r}: queue full ({self.maxsize} events) for event "
                    f"{item[1]!r} under the 'block' policy; await service.event_types.put(...) or "
                    "service.emit_and_wait(...) to wait for room"
                )
        items.append(item)
        if self._wake is not None:
            self._wake_consumer()

    def _wake_consumer(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def wait_for_room(self) -> None:
        """Return once the queue has room for one more event."""
        while len(self._items) >= self.maxsize:
            room = asyncio.get_running_loop().create_future()
            self._room.append(room)
            await room

    def _dropped(self, item: _Item) -> None:
        self.stats.drops += 1
        waiter = item[3]
        if waiter is not None and not waiter.done():
            waiter.set_result(HandlerOutcome(self.plugin, "dropped", "queue full"))
        self.on_drop(self.plugin, item[1])

    def start(self, context_setup: Callable[[], None] | None = None) -> None:
        """Start the consumer task (``context_setup`` runs first, inside the task)."""
        if self.running:
            return
        self._closing = False
        self._task = asyncio.create_task(self._run(context_setup), name=f"plugyard-{self.plugin}")

    async def stop(self, drain: float = 2.0) -> int:
        """Deliver what is queued (up to ``drain`` seconds), then stop; returns events dropped."""
        task = self._task
        if task is None:
            return 0
        self._closing = True
        self._wake_consumer()
        await asyncio.wait({task}, timeout=drain)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        self._task = None
        left = len(self._items)
        while self._items:
            item = self._items.popleft()
            self.stats.drops += 1
            waiter = item[3]
            if waiter is not None and not waiter.done():
                waiter.set_result(HandlerOutcome(self.plugin, "dropped", "plugin stopped"))
        self._release_room()
        return left

    def _release_room(self) -> None:
        while self._room:
            room = self._room.popleft()
            if not room.done():
                room.set_result(None)
                return

    async def _run(self, context_setup: Callable[[], None] | None) -> None:
        if context_setup is not None:
            context_setup()
        loop = asyncio.get_running_loop()
        items = self._items
        while True:
            if not items:
                if self._closing:
                    return
                self._wake = wake = loop.create_future()
                await wake
                continue
            item = items.popleft()
            if self._room:
                self._release_room()
            outcome = await self._handle(item)
            waiter = item[3]
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)

    async def _handle(self, item: _Item) -> HandlerOutcome:
        event_id, event_name, kwargs, _ = item
        if self.wants_logger:
            kwargs = {
                **kwargs,
                "logger": logging.LoggerAdapter(
                    self.log.logger if isinstance(self.log, logging.LoggerAdapter) else self.log,
                    {"plugin": self.plugin, "event_id": event_id},
                ),
            }
        stats = self.stats
        started = time.perf_counter()
        timer = asyncio.timeout(self.timeout) if self.timeout else None
        try:
            if timer is None:
                await self.handler(**kwargs)
            else:
                async with timer:
                    await self.handler(**kwargs)
        except Exception as exc:
            spent = time.perf_counter() - started
            stats.calls += 1
            stats.time_spent += spent
            if isinstance(exc, TimeoutError) and timer is not None and timer.expired():
                return self._failed("timeout", f"no result within {self.timeout:g}s", item, spent)
            self.log.error(
                "plugin %r failed on event %r (id %s): %s: %s",
                self.plugin,
                event_name,
                event_id,
                type(exc).__name__,
                exc,
                exc_info=exc,
                extra={"plugin": self.plugin, "event_id": event_id},
            )
            return self._failed("error", f"{type(exc).__name__}: {exc}", item, spent, logged=True)
        spent = time.perf_counter() - started
        stats.calls += 1
        stats.time_spent += spent
        return HandlerOutcome(self.plugin, "ok", None, spent)

    def _failed(
        self, status: str, error: str, item: _Item, spent: float, *, logged: bool = False
    ) -> HandlerOutcome:
        if status == "timeout":
            self.stats.timeouts += 1
            if not logged:
                self.log.error(
                    "plugin %r timed out on event %r (id %s): %s",
                    self.plugin,
                    item[1],
                    item[0],
                    error,
                    extra={"plugin": self.plugin, "event_id": item[0]},
                )
        else:
            self.stats.errors += 1
        self.on_failure(self.plugin, item[1], item[0], f"{status}: {error}")
        return HandlerOutcome(self.plugin, status, error, spent)
