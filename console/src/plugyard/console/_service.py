"""The console's state on one host: its token, recent events, and what they tell of tasks
and pod items. Everything comes from the host's public API: the event stream,
the registry and the command plane."""

from __future__ import annotations

import asyncio
import collections
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import Service

from ._settings import ConsoleSettings

if TYPE_CHECKING:
    from plugyard.host import Host
    from plugyard.sdk import Event

__all__ = ["ConsoleService"]

TOKEN_FILE = "console.token"
TASK_LIMIT = 500
POLL = 0.05
"""Seconds between two looks of an idle event stream for new events."""


class ConsoleService(Service):
    """The dashboard's view of one host.

    Example::

        console = ConsoleService.of(host)
        events, gap = console.since(0)
    """

    name = "console"

    def __init__(self, host: Host, settings: ConsoleSettings) -> None:
        self.host = host
        self.settings = settings
        self.token = settings.token or secrets.token_urlsafe(32)
        self.events: collections.deque[Event] = collections.deque(maxlen=settings.buffer)
        self.tasks: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.items: dict[str, dict[str, int]] = {}
        self.closing = False
        self._token_written = False
        # one subscription per kind of event, so that most events cost one append: the bus
        # matches a topic against the patterns once, not on every event
        self._subscriptions = [
            host.subscribe("*", self.events.append, name="console"),
            host.subscribe("task.*", self._task_event, name="console"),
            host.subscribe("pod.item.*", self._item_event, name="console"),
            host.subscribe("host.stopping", self._stopping, name="console"),
        ]

    # -- the token ----------------------------------------------------------------------------

    @property
    def token_file(self) -> Path:
        """Where the token is written (inside the host's private runtime folder)."""
        return Path(self.host.runtime_dir) / TOKEN_FILE

    def write_token(self) -> None:
        """Write the token file (mode 0600) and advertise where it is."""
        path = self.token_file
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.token)
        self._token_written = True
        self.host.advertise("console_token_file", str(path))

    def check_token(self, offered: str | None) -> bool:
        """Whether ``offered`` is the token (compared in constant time)."""
        return bool(offered) and secrets.compare_digest(str(offered), self.token)

    def close(self) -> None:
        """Stop observing, end every stream, and remove the token file."""
        for unsubscribe in self._subscriptions:
            unsubscribe()
        self._end_streams()
        if self._token_written:
            self.token_file.unlink(missing_ok=True)

    # -- events -------------------------------------------------------------------------------

    def since(self, seq: int, limit: int | None = None) -> tuple[list[Event], bool]:
        """Kept events after ``seq``, oldest first, and whether some after it are gone (the
        buffer moved on, so a client that resumes from ``seq`` missed some). With ``limit``,
        only the newest ``limit`` of them (a flood costs a look at those, not at all)."""
        events = self.events
        if not events or events[-1].seq <= seq:
            return [], False
        found: list[Event] = []
        for event in reversed(events):
            if event.seq <= seq:
                break
            found.append(event)
            if limit is not None and len(found) >= limit:
                break
        found.reverse()
        gap = seq > 0 and found[0].seq > seq + 1 and found[0] is events[0]
        return found, gap

    def recent(self, count: int) -> list[Event]:
        """The last ``count`` events, oldest first."""
        if count <= 0:
            return []
        return list(self.events)[-count:]

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest event kept (0 before any)."""
        return self.events[-1].seq if self.events else 0

    async def wait_for_more(self, seq: int, timeout: float) -> bool:
        """Wait until an event after ``seq`` is kept (``True``), the host stops, or
        ``timeout`` passes (``False``). Streams look every ``POLL`` seconds rather than being
        woken: keeping an event is then one append, the whole of the console's cost on an
        event it does not show."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.last_seq > seq or self.closing):
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.sleep(min(POLL, left))
        return True

    def _end_streams(self) -> None:
        self.closing = True

    def _stopping(self, event: Event) -> None:
        self.closing = True

    # -- what the events tell -----------------------------------------------------------------

    def _task_event(self, event: Event) -> None:
        data = event.data
        task_id = data.get("id")
        if not isinstance(task_id, str):
            return
        known = self.tasks.get(task_id)
        if known is None:
            known = self.tasks[task_id] = {"id": task_id, "first_seen": event.time}
            while len(self.tasks) > TASK_LIMIT:
                self.tasks.popitem(last=False)
        known.update(data)
        known["last_seen"] = event.time

    def _item_event(self, event: Event) -> None:
        data = event.data
        run_id = data.get("run_id")
        kind = data.get("type")
        count = data.get("count")
        if run_id is None or not isinstance(kind, str) or not isinstance(count, int):
            return
        by_type = self.items.setdefault(str(run_id), {})
        by_type[kind] = by_type.get(kind, 0) + count


def settings_of(host: Host) -> ConsoleSettings:
    """The ``[console]`` section of a host's configuration."""
    return host.config.section("console", ConsoleSettings)
