"""Group commit: operation states, instance states and events collected while operations run
and written in one transaction per flush; ``commit()`` returns once what was recorded before
it is durable."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from typing import Any

from ._storage import Batch, Storage

__all__ = ["Journal"]


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
        self._added = 0
        self._durable = 0
        self._flush: asyncio.Future[None] | None = None

    def operation(self, key: str, **row: Any) -> None:
        """Record an operation's latest state (merged with what is pending for it)."""
        pending = self._batch.operations.get(key)
        self._batch.operations[key] = {**pending, **row} if pending else row
        self._added += 1

    def state(self, instance_id: str, state: str) -> None:
        """Record a node instance's new state."""
        self._batch.states[instance_id] = state
        self._added += 1

    def event(self, topic: str, data: dict[str, Any]) -> None:
        """Record an event or log line."""
        self._batch.events.append(
            {
                "deployment_id": self.deployment_id,
                "execution_id": self.execution_id,
                "time": time.time(),
                "topic": topic,
                "data": data,
            }
        )
        self._added += 1

    async def commit(self) -> None:
        """Wait until everything recorded so far is stored."""
        target = self._added
        while self._durable < target:
            if self._flush is None:
                self._flush = asyncio.ensure_future(self._run_flush())
            await asyncio.shield(self._flush)

    async def _run_flush(self) -> None:
        try:
            batch, upto = self._batch, self._added
            self._batch = Batch()
            if batch:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(
                    self.executor, self.storage.write_batch, self.execution_id, batch
                )
            self._durable = upto
        finally:
            self._flush = None
