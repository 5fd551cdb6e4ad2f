"""The job channel tasks talk to, and the writer that batches status updates into the store.

Status writes leave the task's thread at once (a queue and one writer thread per process), so
reporting QUEUED, RUNNING and SUCCESS adds almost nothing to a task's round trip.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from plugyard.sdk.tasks import JobStatus

from ._store import JobStore, Update

__all__ = ["Jobs", "StatusWriter"]

logger = logging.getLogger("plugyard.adapters.celery")

_STOP = object()


class StatusWriter:
    """One thread per process that writes queued updates to the store in batches."""

    linger = 0.005
    """Seconds the writer waits after the first update so that a burst goes in one batch
    (RUNNING and SUCCESS of a short task usually share one write)."""

    def __init__(self, store: Callable[[], JobStore]) -> None:
        self._store_factory = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def put(self, update: Update) -> None:
        """Queue an update; never blocks."""
        if self._pid != os.getpid():
            self._restart()
        with self._lock:
            self._pending += 1
        self._queue.put(update)

    def _restart(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._pending = 0
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="plugyard-celery-status", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        store = self._store_factory()
        source = self._queue
        while True:
            item = source.get()
            if item is not _STOP:
                time.sleep(self.linger)
            batch = [item]
            while len(batch) < 500:
                try:
                    batch.append(source.get_nowait())
                except queue.Empty:
                    break
            stop = any(entry is _STOP for entry in batch)
            updates = [entry for entry in batch if entry is not _STOP]
            if updates:
                self._write(store, updates)
            with self._lock:
                self._pending -= len(updates)
                self._idle.notify_all()
            if stop:
                return

    def _write(self, store: JobStore, updates: list[Update]) -> None:
        for attempt in range(3):
            try:
                store.apply(updates)
                return
            except Exception as exc:
                logger.warning(
                    "job store: writing %d status update(s) failed (attempt %d): %s",
                    len(updates),
                    attempt + 1,
                    exc,
                )
                time.sleep(0.2 * (attempt + 1))
        logger.error("job store: %d status update(s) dropped", len(updates))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued update is written; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending > 0 and self._pid == os.getpid():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is not None and self._pid == os.getpid():
            self.flush(timeout)
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
            self._pid = 0


class Jobs:
    """The :class:`plugyard.sdk.tasks.JobChannel` of one app: cancel flags cached for
    ``cancel_check_interval`` seconds, progress rate-limited to ``progress_interval``."""

    def __init__(
        self,
        store_factory: Callable[[], JobStore],
        *,
        cancel_check_interval: float = 0.05,
        progress_interval: float = 0.1,
    ) -> None:
        self._store_factory = store_factory
        self._store: JobStore | None = None
        self._store_pid = 0
        self.writer = StatusWriter(store_factory)
        self.cancel_check_interval = cancel_check_interval
        self.progress_interval = progress_interval
        self._flags: set[str] = set()
        self._flags_at = 0.0
        self._flags_lock = threading.Lock()
        self._last_progress: dict[str, float] = {}

    @property
    def store(self) -> JobStore:
        """This process's store connection."""
        if self._store is None or self._store_pid != os.getpid():
            self._store, self._store_pid = self._store_factory(), os.getpid()
        return self._store

    def report(
        self, task_id: str, name: str, status: JobStatus, info: dict[str, Any] | None = None
    ) -> None:
        """Queue a status change for the store."""
        self.writer.put(Update(task_id, name, status, info or {}))

    def cancel_requested(self, task_id: str) -> bool:
        now = time.monotonic()
        if now - self._flags_at > self.cancel_check_interval:
            with self._flags_lock:
                if now - self._flags_at > self.cancel_check_interval:
                    try:
                        self._flags = self.store.cancel_flags()
                    except Exception as exc:
                        logger.warning("job store: cannot read cancel flags: %s", exc)
                    self._flags_at = time.monotonic()
        return task_id in self._flags

    def refresh_flags(self) -> None:
        """Forget the cached cancel flags (the next check reads the store)."""
        self._flags_at = 0.0

    def progress(
        self, task_id: str, name: str, current: float, total: float, message: str | None
    ) -> None:
        now = time.monotonic()
        last = self._last_progress.get(task_id, 0.0)
        if now - last < self.progress_interval and current < total:
            return
        self._last_progress[task_id] = now
        if len(self._last_progress) > 10_000:
            self._last_progress.clear()
        info = {"current": current, "total": total, "message": message}
        self.writer.put(Update(task_id, name, JobStatus.RUNNING, info, progress=True))

    def status(self, task_id: str) -> JobStatus | None:
        try:
            job = self.store.get(task_id)
        except Exception as exc:
            logger.warning("job store: cannot read task %s: %s", task_id, exc)
            return None
        return job.status if job else None

    def skipped(self, task_id: str, name: str) -> None:
        self.report(task_id, name, JobStatus.CANCELED, {"reason": "canceled before it ran"})
