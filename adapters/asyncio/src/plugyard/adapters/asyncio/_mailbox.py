"""One bounded queue and one consumer task per event plugin.

A queue-and-task per handler costs about a seventh of an ``asyncio.gather`` per event, and a
slow plugin then delays nobody but itself. The consumer calls the handler directly (no
coroutine of its own per event), and the handler timeout is one timer per plugin, not one per
event: a watchdog looks at the handler running when the timer fires and cancels it if it has
run past its time, else waits for that handler's own deadline.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._declarations import OverflowPolicy, QueueFullError

if TYPE_CHECKING:
    from plugyard.host import PluginStats

__all__ = ["EventLogger", "HandlerOutcome", "Mailbox", "first_full", "offer_all", "offer_each"]

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


class EventLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ``logger`` a handler is given: a :class:`logging.LoggerAdapter` whose records
    carry the plugin's name and the event's id. The ``extra`` mapping is built only when
    something is logged, so handing one to every event costs next to nothing."""

    def __init__(self, logger: logging.Logger, plugin: str, event_id: str) -> None:
        # LoggerAdapter's own attributes, minus the mapping
        self.logger = logger
        self._plugin = plugin
        self._event_id = event_id

    @property
    def extra(self) -> dict[str, str]:  # type: ignore[override]
        return {"plugin": self._plugin, "event_id": self._event_id}


class Mailbox:
    """An event plugin's bounded queue and the task that feeds its handler one event at a time.

    ``offer`` never waits (it applies the event type's overflow policy); ``wait_for_room``
    lets emitters that can wait honour ``block``. A handler that raises or overruns
    ``timeout`` is logged with the plugin's name and the event id and counted; the consumer
    goes on with the next event.
    """

    __slots__ = (
        "_closing",
        "_expired",
        "_items",
        "_room",
        "_started",
        "_task",
        "_wake",
        "_watchdog",
        "handler",
        "log",
        "maxsize",
        "on_drop",
        "on_failure",
        "plugin",
        "stats",
        "timeout",
        "wants_logger",
        "wants_origin",
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
        wants_origin: bool = False,
    ) -> None:
        self.plugin = plugin
        self.handler = handler
        self.maxsize = maxsize
        self.timeout = timeout
        self.stats = stats
        self.log = log
        self.wants_logger = wants_logger
        self.wants_origin = wants_origin
        self.on_drop = on_drop
        self.on_failure = on_failure
        self._items: collections.deque[_Item] = collections.deque()
        self._room: collections.deque[asyncio.Future[None]] = collections.deque()
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._started: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._expired = False

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
        self._disarm()
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
        self._disarm()
        left = len(self._items)
        while self._items:
            item = self._items.popleft()
            self.stats.drops += 1
            waiter = item[3]
            if waiter is not None and not waiter.done():
                waiter.set_result(HandlerOutcome(self.plugin, "dropped", "plugin stopped"))
        self._release_room()
        return left

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._started = None
        self._expired = False

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
        task = asyncio.current_task()
        assert task is not None
        items, room, stats, clock = self._items, self._room, self.stats, time.monotonic
        handler, timeout = self.handler, self.timeout
        while True:
            if not items:
                self._started = None
                if self._closing:
                    return
                self._wake = wake = loop.create_future()
                await wake
                continue
            item = items.popleft()
            if room:
                self._release_room()
            kwargs = self._with_logger(item) if self.wants_logger else item[2]
            if self.wants_origin and "origin" not in kwargs:
                kwargs = {**kwargs, "origin": ""}
            self._started = started = clock()
            if timeout and self._watchdog is None:
                self._watchdog = loop.call_later(timeout, self._check_overrun)
            try:
                await handler(**kwargs)
            except asyncio.CancelledError:
                if not self._expired:
                    raise
                self._expired = False
                if task.uncancel() > 0:
                    raise
                outcome = self._overran(item, clock() - started)
            except Exception as exc:
                if self._expired:  # it turned its timeout's cancellation into another error
                    self._expired = False
                    task.uncancel()
                outcome = self._raised(item, exc, clock() - started)
            else:
                spent = clock() - started
                stats.calls += 1
                stats.time_spent += spent
                if self._expired:  # the handler swallowed its timeout's cancellation
                    self._expired = False
                    task.uncancel()
                waiter = item[3]
                if waiter is not None and not waiter.done():
                    waiter.set_result(HandlerOutcome(self.plugin, "ok", None, spent))
                continue
            waiter = item[3]
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)

    def _check_overrun(self) -> None:
        """The watchdog: cancel the handler that has run past ``timeout``, or look again
        when the one running now would reach it (one timer per plugin, not one per event)."""
        self._watchdog = None
        started, timeout, task = self._started, self.timeout, self._task
        if started is None or not timeout or task is None or task.done():
            return
        left = started + timeout - time.monotonic()
        if left <= 0:
            self._expired = True
            task.cancel()
        else:
            self._watchdog = asyncio.get_running_loop().call_later(left, self._check_overrun)

    def _with_logger(self, item: _Item) -> dict[str, Any]:
        log = self.log.logger if isinstance(self.log, logging.LoggerAdapter) else self.log
        return {**item[2], "logger": EventLogger(log, self.plugin, item[0])}

    def _overran(self, item: _Item, spent: float) -> HandlerOutcome:
        self.stats.calls += 1
        self.stats.time_spent += spent
        return self._failed("timeout", f"no result within {self.timeout:g}s", item, spent)

    def _raised(self, item: _Item, exc: Exception, spent: float) -> HandlerOutcome:
        self.stats.calls += 1
        self.stats.time_spent += spent
        event_id, event_name = item[0], item[1]
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


def first_full(boxes: tuple[Mailbox, ...]) -> Mailbox | None:
    """The first of ``boxes`` whose queue is full, if any."""
    for box in boxes:
        if len(box._items) >= box.maxsize:
            return box
    return None


def offer_all(boxes: tuple[Mailbox, ...], items: Sequence[_Item], policy: OverflowPolicy) -> None:
    """:func:`offer_each` every one of ``items``, in order; a box with room for them all
    takes them in one step and is woken once."""
    for box in boxes:
        queue = box._items
        if len(queue) + len(items) <= box.maxsize:
            queue.extend(items)
            if box._wake is not None:
                box._wake_consumer()
        else:
            for item in items:
                if len(queue) < box.maxsize:
                    queue.append(item)
                    if box._wake is not None:
                        box._wake_consumer()
                else:
                    box.offer(item, policy)


def offer_each(boxes: tuple[Mailbox, ...], item: _Item, policy: OverflowPolicy) -> None:
    """:meth:`Mailbox.offer` ``item`` to every box, with the common case (room) inlined."""
    for box in boxes:
        items = box._items
        if len(items) < box.maxsize:
            items.append(item)
            if box._wake is not None:
                box._wake_consumer()
        else:
            box.offer(item, policy)
