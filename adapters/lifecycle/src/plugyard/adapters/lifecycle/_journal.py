"""Group commit: operation states, instance states and events collected while operations run
and written in one transaction per flush; ``commit()`` returns once what was recorded before
it is durable."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import Executor
from typing import Any

from ._storage import OPERATION_COLUMNS, Batch, Storage

__all__ = ["FLUSH_DELAY", "Journal"]

_INSTANCE, _NAME, _STATE, _RETRY, _ERROR, _STARTED, _ENDED = (
    OPERATION_COLUMNS.index(c)
    for c in ("instance_id", "name", "state", "retry_number", "error", "started_at", "ended_at")
)

_dumps = json.JSONEncoder().encode

FLUSH_DELAY = 0.05
"""Seconds a success may wait to be stored with the next commit rather than alone."""


class Journal:
    """Collects writes of one execution and flushes them in the storage thread."""

    def __init__(
        self, storage: Storage, execution_id: str, deployment_id: str, executor: Executor
    ) -> None:
        self.storage = storage
        self.execution_id = execution_id
        self.deployment_id = deployment_id
        self.executor = executor
        self._batch = Batch()
        self._rows: dict[str, list[Any]] = {}
        self._dirty: set[str] = set()
        self._stored: set[str] = set()
        self._added = 0
        self._durable = 0
        self._flush: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None

    def known(self, keys: set[str]) -> None:
        """Operation keys already stored (a resumed execution's)."""
        self._stored |= keys

    def operation(
        self,
        key: str,
        instance_id: str,
        name: str,
        state: str,
        retry_number: int,
        at: float,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Record an operation's latest state: a ``started`` attempt sets its start time and
        clears the last attempt's error; any other state sets its end time (and error)."""
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [self.execution_id, key, instance_id, name]
            row.extend((state, retry_number, error, None, None))
        else:
            row[_INSTANCE] = instance_id
            row[_NAME] = name
            row[_STATE] = state
            row[_RETRY] = retry_number
        if state == "started":
            row[_STARTED] = at
            row[_ERROR] = None
        else:
            row[_ENDED] = at
            if error is not None:
                row[_ERROR] = error
        self._dirty.add(key)
        self._added += 1

    def state(self, instance_id: str, state: str) -> None:
        """Record a node instance's new state."""
        self._batch.states[instance_id] = state
        self._added += 1

    def event(self, topic: str, data: dict[str, Any], at: float | None = None) -> None:
        """Record an event or log line at ``at`` (default: now). Its data is serialised now:
        a string waiting for the next flush costs the garbage collector nothing, a dict would.
        """
        when = time.time() if at is None else at
        self._batch.events.append(
            (self.deployment_id, self.execution_id, when, topic, _dumps(data))
        )
        self._added += 1

    async def commit(self) -> None:
        """Wait until everything recorded so far is stored."""
        target = self._added
        while self._durable < target:
            if self._flush is None:
                self._flush = asyncio.ensure_future(self._run_flush())
            # A future of its own per waiter: cancelling one waiter leaves the flush and the
            # other waiters alone.
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        if self._timer is not None and self._durable >= self._added:
            self._timer.cancel()
            self._timer = None

    def flush_soon(self, delay: float = FLUSH_DELAY) -> None:
        """Store what was recorded within ``delay`` seconds, without waiting for it: a
        ``commit()`` in the meantime stores it with whatever else it stores."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._kick)

    def _kick(self) -> None:
        self._timer = None
        if self._flush is None and self._durable < self._added:
            self._flush = asyncio.ensure_future(self._run_flush())

    async def _run_flush(self) -> None:
        error: BaseException | None = None
        try:
            batch, upto = self._batch, self._added
            self._batch = Batch()
            rows = self._rows
            for key in self._dirty:
                live = rows[key]
                row = tuple(live)
                if key in self._stored:
                    batch.operations.append(row)
                else:
                    batch.new_operations.append(row)
                    self._stored.add(key)
                if live[_STATE] == "succeeded":
                    # Final: nothing merges into it any more, so only in-flight rows stay.
                    del rows[key]
            self._dirty.clear()
            if batch and self.storage.is_sqlite:
                # A local SQLite commit takes about a millisecond: doing it on the loop avoids
                # handing the GIL back and forth with a storage thread for every flush.
                await asyncio.sleep(0)
                self.storage.write_batch(batch)
            elif batch:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self.executor, self.storage.write_batch, batch)
            self._durable = upto
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._flush = None
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
