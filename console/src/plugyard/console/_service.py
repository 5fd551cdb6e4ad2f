"""The console's state on one host: its token, recent events, and what they tell of tasks,
executions and pod items. Everything comes from the host's public API: the event stream,
the registry and the command plane."""

from __future__ import annotations

import asyncio
import collections
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import Service

from ._settings import ConsoleSettings

if TYPE_CHECKING:
    from plugyard.host import Host
    from plugyard.sdk import Event

__all__ = ["ConsoleService", "Execution"]

TOKEN_FILE = "console.token"
TASK_LIMIT = 500
LOG_LIMIT = 200
FINAL_OPERATION = frozenset({"succeeded", "failed"})


@dataclass(slots=True)
class Execution:
    """A workflow run as its events describe it (operations done of total, log lines)."""

    id: str
    deployment: str
    workflow: str
    status: str = "started"
    started: float = field(default_factory=time.time)
    ended: float | None = None
    total: int | None = None
    done: int = 0
    current: str | None = None
    logs: collections.deque[dict[str, Any]] = field(
        default_factory=lambda: collections.deque(maxlen=LOG_LIMIT)
    )
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id,
            "deployment": self.deployment,
            "workflow": self.workflow,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "total": self.total,
            "done": self.done,
            "current": self.current,
            "error": self.error,
            "logs": list(self.logs),
        }


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
        self.executions: collections.OrderedDict[str, Execution] = collections.OrderedDict()
        self.items: dict[str, dict[str, int]] = {}
        self.closing = False
        self._token_written = False
        self._changed: asyncio.Event | None = None
        self._unsubscribe = host.subscribe("*", self._observe, name="console")

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
        self._unsubscribe()
        self._end_streams()
        if self._token_written:
            self.token_file.unlink(missing_ok=True)

    # -- events -------------------------------------------------------------------------------

    def since(self, seq: int) -> tuple[list[Event], bool]:
        """Kept events after ``seq``, oldest first, and whether some after it are gone (the
        buffer moved on, so a client that resumes from ``seq`` missed some)."""
        events = self.events
        if not events or events[-1].seq <= seq:
            return [], False
        found: list[Event] = []
        for event in reversed(events):
            if event.seq <= seq:
                break
            found.append(event)
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
        ``timeout`` passes (``False``)."""
        if self.last_seq > seq or self.closing:
            return True
        if self._changed is None:
            self._changed = asyncio.Event()
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _end_streams(self) -> None:
        self.closing = True
        self._wake()

    def _wake(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = None
            changed.set()

    def _observe(self, event: Event) -> None:
        self.events.append(event)
        topic = event.topic
        if topic.startswith("task."):
            self._task_event(event)
        elif topic.startswith(("workflow.", "operation.")):
            self._lifecycle_event(event)
        elif topic.startswith("pod.item."):
            self._item_event(event)
        elif topic == "host.stopping":
            self.closing = True
        self._wake()

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

    def _lifecycle_event(self, event: Event) -> None:
        data = event.data
        parts = event.topic.split(".")
        execution_id = data.get("execution_id")
        if execution_id is None and parts[0] == "workflow":
            execution_id = data.get("id")  # a workflow's result names its execution ``id``
        if not isinstance(execution_id, str):
            return
        execution = self.executions.get(execution_id)
        if parts[0] == "workflow" and len(parts) >= 4:
            state = parts[-1]
            if execution is None:
                execution = Execution(execution_id, parts[1], ".".join(parts[2:-1]))
                self.executions[execution_id] = execution
                while len(self.executions) > TASK_LIMIT:
                    self.executions.popitem(last=False)
            if state == "planned":
                total = data.get("operations")
                execution.total = total if isinstance(total, int) else None
            elif state in ("succeeded", "failed"):
                execution.status = state
                execution.ended = event.time
                execution.current = None
                error = data.get("error")
                if isinstance(error, dict):
                    execution.error = f"{error.get('type')}: {error.get('message')}"
            return
        if execution is None or len(parts) < 5:
            return
        state = parts[-1]
        where = f"{data.get('node_instance_id', parts[2])} {data.get('operation', parts[-2])}"
        if state == "log":
            execution.logs.append(
                {
                    "time": event.time,
                    "instance": data.get("node_instance_id"),
                    "operation": data.get("operation"),
                    "level": data.get("level"),
                    "message": data.get("message"),
                }
            )
        elif state == "started":
            execution.current = where
        elif state in FINAL_OPERATION:
            execution.done += 1

    def _item_event(self, event: Event) -> None:
        data = event.data
        run_id = data.get("run_id")
        kind = data.get("type")
        count = data.get("count")
        if run_id is None or not isinstance(kind, str) or not isinstance(count, int):
            return
        by_type = self.items.setdefault(str(run_id), {})
        by_type[kind] = by_type.get(kind, 0) + count

    def executions_of(self, deployment: str) -> Iterator[Execution]:
        """The executions seen of ``deployment``, newest first."""
        for execution in reversed(self.executions.values()):
            if execution.deployment == deployment:
                yield execution


def settings_of(host: Host) -> ConsoleSettings:
    """The ``[console]`` section of a host's configuration."""
    return host.config.section("console", ConsoleSettings)
