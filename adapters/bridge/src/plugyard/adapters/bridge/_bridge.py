"""The event bridge: a host's own events out to a Redis Stream, the other hosts' events in.

Each host appends its own events (those without an ``origin``) to one stream, and reads the
stream through a consumer group named after it, so Redis keeps its read position across
restarts; entries are confirmed (``XACK``) once relayed, so those a host was handed just as
it stopped come to it again when it starts. Entries a host wrote itself are skipped, and
relayed events are never written back: no echo. Events read are relayed into the host's own
stream with their origin host id and that host's ``seq``, so subscribers, plugins and the
ZMQ publisher see them as usual.

Nothing is lost silently: while Redis cannot be reached, the host's events wait in a
bounded buffer; what overflows it is counted, logged, and reported as ``bridge.lost`` when
Redis answers again. A jump in an origin's ``seq`` (entries trimmed by the stream's retention
before this host read them) is counted as ``missed`` and reported as ``bridge.missed``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from plugyard.host import Service
from plugyard.sdk import Event, EventFormatError

from ._settings import BridgeSettings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from plugyard.host import Host

__all__ = ["BridgeService", "redact_url"]

logger = logging.getLogger("plugyard.adapters.bridge")

_MEMBER = b"m"
_EVENT = b"e"
_NUMBER = b"n"
"""The writer's own count of the entries it wrote: it has no gaps (unlike ``seq``, which
also numbers the events a host relays), so a jump in it is an entry this host never read."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redact_url(url: str) -> str:
    """``url`` without its password, for logs, events and status replies."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class BridgeService(Service):
    """One host's link to the shared event stream.

    Example::

        bridge = BridgeService.of(host)
        bridge.describe()["lost"]   # own events Redis never got
    """

    name = "bridge"

    def __init__(self, host: Host, settings: BridgeSettings) -> None:
        if settings.bridge is None:
            raise ValueError("BridgeService needs [events] bridge (a redis:// URL)")
        self.host = host
        self.settings = settings
        self.url = settings.bridge
        self.member = settings.member or host.name
        self.published = 0
        """Own events Redis has accepted."""
        self.relayed = 0
        """Other hosts' events relayed into this host's stream."""
        self.lost = 0
        """Own events dropped because Redis could not take them in time (buffer full, or
        still buffered when the host stopped)."""
        self.missed = 0
        """Other hosts' events this host never read (a jump in their writers' entry count:
        trimmed by the stream's retention while this host was away)."""
        self.up = False
        self.last_error: str | None = None
        self._outage_lost = 0
        self._pending: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self._seen: dict[str, int] = {}
        self._redis: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Any = None
        self._joined = False
        self._reading = False

    # -- life ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (or keep trying in the background), join the stream, start writing."""
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._redis = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=2.0, health_check_interval=30
        )
        try:
            await self._join(self._redis, "$")
            self._joined = True
            self._up()
        except (RedisError, OSError) as exc:
            self._down(exc)
        self._unsubscribe = self.host.subscribe("*", self._on_event, name="bridge")
        self._tasks.append(asyncio.create_task(self._write_loop(), name="plugyard-bridge-writer"))

    def start_reading(self) -> None:
        """Start relaying the other hosts' events (once every plugin is ready for them)."""
        if self._redis is None or self._reading:
            return
        self._reading = True
        self._tasks.append(
            asyncio.create_task(self._read_loop(self._joined), name="plugyard-bridge-reader")
        )

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until Redis has every own event delivered to the bridge so far; ``False``
        if some are still held after ``timeout`` seconds (Redis down or slow)."""
        deadline = time.monotonic() + timeout
        if not await self.host.bus.drain(timeout):
            return False  # events not even handed to the bridge yet
        while self._pending:
            self._flushed.clear()
            self._wake.set()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._flushed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to ``timeout``), then stop; what is left is counted."""
        await self.host.bus.drain(timeout / 2)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.up:
            await self.flush(timeout / 2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pending:
            left = len(self._pending)
            self._pending.clear()
            self.lost += left
            logger.warning(
                "event bridge %s: %d own events were never written to %s (%s) before the "
                "host stopped (%d lost in all)",
                self.member,
                left,
                redact_url(self.url),
                self.last_error or "Redis was slow",
                self.lost,
            )
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def describe(self) -> dict[str, Any]:
        """The link's state and counters: the reply of the ``bridge`` command."""
        return {
            "url": redact_url(self.url),
            "stream": self.settings.stream,
            "member": self.member,
            "up": self.up,
            "published": self.published,
            "relayed": self.relayed,
            "buffered": len(self._pending),
            "lost": self.lost,
            "missed": self.missed,
            "last_error": self.last_error,
        }

    # -- the link's state --------------------------------------------------------------------

    def _down(self, exc: BaseException) -> None:
        first = self.up or self.last_error is None
        self.up = False
        self.last_error = f"{type(exc).__name__}: {exc}"
        if first:
            logger.warning(
                "event bridge %s: Redis at %s does not answer (%s); holding up to %d own "
                "events meanwhile",
                self.member,
                redact_url(self.url),
                self.last_error,
                self.settings.buffer,
            )
            self._report("bridge.down", error=self.last_error, buffered=len(self._pending))

    def _up(self) -> None:
        if self.up:
            return
        self.up = True
        lost, self._outage_lost = self._outage_lost, 0
        if self.last_error is not None:
            logger.warning(
                "event bridge %s: Redis at %s answers again; %d own events were lost while it "
                "did not (%d in all)",
                self.member,
                redact_url(self.url),
                lost,
                self.lost,
            )
            self._report("bridge.up", lost=lost, total_lost=self.lost)
            if lost:
                self._report("bridge.lost", lost=lost, total_lost=self.lost)
        self.last_error = None

    def _report(self, topic: str, **data: Any) -> None:
        self.host.publish_event(
            topic, {"member": self.member, "stream": self.settings.stream, **data}, source="bridge"
        )

    # -- out: this host's events -----------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.origin:
            return
        if len(self._pending) >= self.settings.buffer:
            self._pending.popleft()
            self.lost += 1
            self._outage_lost += 1
            if self.lost == 1 or self.lost % 1000 == 0:
                logger.warning(
                    "event bridge %s: %d own events held for Redis, the oldest are being "
                    "dropped (%d lost so far)",
                    self.member,
                    self.settings.buffer,
                    self.lost,
                )
        self._pending.append(event)
        self._wake.set()

    def _entry(self, event: Event, number: int) -> dict[Any, Any]:
        stamped = dataclasses.replace(event, origin=self.host.id, origin_seq=event.seq)
        return {
            _MEMBER: self.member.encode(),
            _NUMBER: str(number).encode(),
            _EVENT: stamped.to_json().encode(),
        }

    async def _write_loop(self) -> None:
        from redis.exceptions import RedisError

        redis = self._redis
        assert redis is not None
        settings = self.settings
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._pending[i] for i in range(min(settings.batch, len(self._pending)))]
            pipe = redis.pipeline(transaction=False)
            for number, event in enumerate(batch, self.published + 1):
                entry = self._entry(event, number)
                pipe.xadd(settings.stream, entry, maxlen=settings.max_len)
            if settings.max_age is not None:
                oldest = int((time.time() - settings.max_age) * 1000)
                pipe.xtrim(settings.stream, minid=f"{oldest}-0", approximate=True)
            try:
                await pipe.execute()
            except (RedisError, OSError) as exc:
                self._down(exc)
                await asyncio.sleep(settings.retry)
                continue
            # events dropped from the front while the batch was in flight are not resent
            for sent in batch:
                if self._pending and self._pending[0] is sent:
                    self._pending.popleft()
            self.published += len(batch)
            self._up()
            if not self._pending:
                self._flushed.set()

    # -- in: the other hosts' events ---------------------------------------------------------------

    @property
    def _seen_key(self) -> str:
        return f"{self.settings.stream}:seen:{self.member}"

    async def _join(self, redis: aioredis.Redis, start: str) -> None:
        from redis.exceptions import ResponseError

        try:
            await redis.xgroup_create(self.settings.stream, self.member, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        seen = await redis.hgetall(self._seen_key)
        for origin, seq in seen.items():
            self._seen.setdefault(_text(origin), int(seq))

    async def _read_loop(self, joined: bool) -> None:
        from redis.exceptions import RedisError, ResponseError

        redis = self._redis
        assert redis is not None
        settings = self.settings
        block = max(1, int(settings.block * 1000))
        # first the entries Redis handed over before but this host never confirmed (it
        # stopped or died while relaying them), then new ones
        position = "0"
        while True:
            try:
                if not joined:
                    await self._join(redis, "$")
                    joined = True
                    self._up()
                reply = await redis.xreadgroup(
                    self.member,
                    self.member,
                    {settings.stream: position},
                    count=settings.batch,
                    block=None if position == "0" else block,
                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    # the stream was deleted or Redis restarted empty: read it from its start
                    await self._rejoin(redis)
                    continue
                self._down(exc)
                await asyncio.sleep(settings.retry)
                continue
            except (RedisError, OSError) as exc:
                self._down(exc)
                await asyncio.sleep(settings.retry)
                continue
            self._up()
            entries: list[Any] = list(reply[0][1]) if reply else []  # type: ignore[index]
            if entries:
                await self._relay(redis, entries)
            elif position == "0":
                position = ">"

    async def _rejoin(self, redis: aioredis.Redis) -> None:
        from redis.exceptions import RedisError

        try:
            await self._join(redis, "0")
        except (RedisError, OSError) as exc:
            self._down(exc)
            await asyncio.sleep(self.settings.retry)

    async def _relay(self, redis: aioredis.Redis, entries: list[Any]) -> None:
        from redis.exceptions import RedisError

        own = self.member.encode()
        latest: dict[Any, Any] = {}
        for entry_id, fields in entries:
            if fields.get(_MEMBER) == own:
                continue
            try:
                event = Event.from_dict(json.loads(fields[_EVENT]))
            except (KeyError, ValueError, EventFormatError) as exc:
                logger.error(
                    "event bridge %s: entry %s of %s is not an event (%s); skipped",
                    self.member,
                    _text(entry_id),
                    self.settings.stream,
                    exc,
                )
                continue
            if not event.origin:
                continue
            number = int(fields.get(_NUMBER, b"0"))
            if not self._in_order(event, number):
                continue
            self.host.bus.relay(event)
            self.relayed += 1
            latest[event.origin] = number
        pipe = redis.pipeline(transaction=False)
        if latest:
            pipe.hset(self._seen_key, mapping=latest)
        pipe.xack(self.settings.stream, self.member, *(entry_id for entry_id, _ in entries))
        with contextlib.suppress(RedisError, OSError):
            await pipe.execute()  # unconfirmed entries come again, and are recognised
        if self.host.bus.pending > 4 * self.settings.batch:
            await self.host.bus.drain(self.host.config.host.hook_timeout)

    def _in_order(self, event: Event, number: int) -> bool:
        """Count the entries of ``event``'s origin this host never read; ``False`` for an
        entry read before (written twice when Redis failed halfway through a batch)."""
        if number <= 0:
            return True  # an entry without a count: nothing to compare it with
        last = self._seen.get(event.origin)
        if last is not None and number <= last:
            return False
        self._seen[event.origin] = number
        if last is None or number == last + 1:
            return True
        gap = number - last - 1
        self.missed += gap
        logger.warning(
            "event bridge %s: %d events of host %s (before its seq %d) were gone from %s "
            "before this host read them (the stream's retention); %d missed in all",
            self.member,
            gap,
            event.origin,
            event.origin_seq,
            self.settings.stream,
            self.missed,
        )
        self._report("bridge.missed", origin=event.origin, missed=gap, total_missed=self.missed)
        return True
