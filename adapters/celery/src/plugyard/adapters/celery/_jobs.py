"""The job channel tasks talk to, and the writer that batches status updates into the store.

Status writes leave the task's thread at once (a queue and one writer thread per process), so
reporting QUEUED, RUNNING and SUCCESS adds almost nothing to a task's round trip.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from plugyard.host import process_exists
from plugyard.sdk.tasks import ACTIVE, JobStatus

from ._store import Job, JobStore, LogLine, Update

__all__ = ["Jobs", "StatusWriter", "acks_late", "reap_lost", "started_before"]

logger = logging.getLogger("plugyard.adapters.celery")


def reap_lost(store: JobStore, app: Any) -> list[Job]:
    """End the jobs a dead worker left RUNNING, and return them.

    A job whose worker ran on this machine in a process that no longer exists (a worker
    killed with SIGKILL) is never going to report again. If its task acknowledges late
    (``acks_late``), the broker delivers it again and a live worker runs it; otherwise its
    message is gone, and the job is marked ERROR with a "worker lost" error.
    """
    here = socket.gethostname()
    lost = []
    for job in store.running_jobs():
        pid = job.info.get("pid")
        if job.info.get("worker") != here or not isinstance(pid, int) or process_exists(pid):
            continue
        if acks_late(app, app.tasks.get(job.name)):
            continue
        _mark_lost(store, job)
        lost.append(job)
    return lost


def acks_late(app: Any, task: Any) -> bool:
    """Whether ``task`` acknowledges its message after it ran (the task's own setting, else
    the app's ``task_acks_late``)."""
    late = getattr(task, "acks_late", None)
    if late is None:
        late = app.conf.task_acks_late
    return bool(late)


def _mark_lost(store: JobStore, job: Job) -> None:
    error = (
        f"WorkerLost: the worker process {job.info.get('pid')} on {job.info.get('worker')} "
        "died while the task ran; it is not run again (the task does not set acks_late)"
    )
    logger.warning("task %s[%s]: %s", job.name, job.id, error)
    store.apply([Update(job.id, job.name, JobStatus.ERROR, {"error": error, "lost": True})])


def started_before(store: JobStore, task_id: str) -> bool:
    """Whether a task delivered again had already started, in a worker that stopped before
    it acknowledged the message; if so its job is marked lost (unless it is already).

    A task that acknowledges early (no ``acks_late``) promises to run at most once, but the
    worker acknowledges its message only once the pool reports the task accepted: a worker
    killed in between leaves a message the broker delivers again. Such a delivery must not
    run the task a second time.
    """
    job = store.get(task_id)
    if job is None:
        return False
    if job.status is JobStatus.ERROR:
        return bool(job.info.get("lost"))
    if job.status not in ACTIVE and job.status is not JobStatus.CANCELING:
        return False
    pid = job.info.get("pid")
    if job.info.get("worker") == socket.gethostname() and isinstance(pid, int):
        if pid == os.getpid():
            return False
        if process_exists(pid):
            return True  # it still runs there: not a second copy, and not lost either
    _mark_lost(store, job)
    return True


class _Marker:
    """A queue entry the writer answers once everything queued before it is written."""

    __slots__ = ("done", "stop")

    def __init__(self, *, stop: bool = False) -> None:
        self.done = threading.Event()
        self.stop = stop


class StatusWriter:
    """One thread per process that writes queued updates to the store in batches, in the
    order they were queued.

    :meth:`put` only appends to a queue, so a task's thread never waits for the store. The
    thread starts on the first update of a process (and again in a forked child) and writes
    each batch in one store call (one SQLite transaction, one Redis script run): a process
    that runs or sends many tasks makes a few large writes a second, not several per task.
    :meth:`flush` and :meth:`stop` return once every update queued before them is written.
    """

    linger = 0.005
    """Seconds the writer waits after an update that finds it idle, so that a burst goes in
    one write (RUNNING and SUCCESS of a short task usually do)."""

    interval = 0.2
    """While updates keep coming, the writer writes at most once per this many seconds: the
    most a status waits in a busy process. :meth:`flush` does not wait."""

    max_batch = 1000
    """The most updates written in one store call."""

    def __init__(self, store: Callable[[], JobStore]) -> None:
        self._store_factory = store
        self._queue: queue.SimpleQueue[Update | LogLine | _Marker] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        _writers.add(self)

    def put(self, update: Update | LogLine) -> None:
        """Queue an update or a log line; never blocks on the store."""
        with self._lock:
            if self._thread is None:
                self._start()
            self._queue.put(update)

    def _start(self) -> None:
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, args=(self._queue,), name="plugyard-celery-status", daemon=True
        )
        self._thread.start()

    def _forked(self) -> None:
        """In a forked child: the parent's thread is not there; the next update starts one."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queue = queue.SimpleQueue()
        self._thread = None

    def _run(self, source: queue.SimpleQueue[Update | LogLine | _Marker]) -> None:
        store = self._store_factory()
        last_write = float("-inf")
        try:
            while True:
                item = source.get()
                if not isinstance(item, _Marker):
                    now = time.monotonic()
                    self._wake.wait(max(self.linger, last_write + self.interval - now))
                    self._wake.clear()
                last_write = time.monotonic()
                batch: list[Update | LogLine] = []
                while True:
                    if isinstance(item, _Marker):
                        if batch:
                            self._write(store, batch)
                            batch = []
                        item.done.set()
                        if item.stop:
                            return
                    else:
                        batch.append(item)
                        if len(batch) >= self.max_batch:
                            self._write(store, batch)
                            batch = []
                    try:
                        item = source.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._write(store, batch)
        finally:
            store.close()

    def _write(self, store: JobStore, items: list[Update | LogLine]) -> None:
        """Write a batch in order: each run of status updates in one store call, each run of
        log lines in another."""
        start = 0
        for end in range(1, len(items) + 1):
            if end == len(items) or type(items[end]) is not type(items[start]):
                self._write_run(store, items[start:end])
                start = end

    def _write_run(self, store: JobStore, items: list[Update | LogLine]) -> None:
        logs = isinstance(items[0], LogLine)
        for attempt in range(3):
            try:
                if logs:
                    store.append_logs([i for i in items if isinstance(i, LogLine)])
                else:
                    store.apply([i for i in items if isinstance(i, Update)])
                return
            except Exception as exc:
                logger.warning(
                    "job store: writing %d %s failed (attempt %d): %s",
                    len(items),
                    "log line(s)" if logs else "status update(s)",
                    attempt + 1,
                    exc,
                )
                time.sleep(0.2 * (attempt + 1))
        logger.error("job store: %d %s dropped", len(items), "log line(s)" if logs else "update(s)")

    def _mark(self, *, stop: bool) -> tuple[_Marker, threading.Thread] | None:
        with self._lock:
            thread = self._thread
            if thread is None:
                return None  # nothing was queued in this process
            marker = _Marker(stop=stop)
            self._queue.put(marker)
            self._wake.set()
            if stop:  # a later update starts a new thread with a queue of its own
                self._thread = None
            return marker, thread

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every update queued so far is written; ``False`` on timeout."""
        found = self._mark(stop=False)
        return found is None or found[0].done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Write every update queued so far, then end the thread; ``False`` on timeout.

        An update queued after this starts a new thread."""
        found = self._mark(stop=True)
        if found is None:
            return True
        marker, thread = found
        done = marker.done.wait(timeout)
        thread.join(1.0 if done else 0.0)
        return done


_writers: weakref.WeakSet[StatusWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._forked()


def _flush_at_exit(timeout: float = 5.0) -> None:
    """Write what a process queued before it ends (a client's QUEUED, a worker's last SUCCESS):
    the writer threads are daemons and would be cut off."""
    deadline = time.monotonic() + timeout
    for writer in list(_writers):
        if not writer.stop(max(0.1, deadline - time.monotonic())):
            logger.warning("job store: status updates still unwritten at exit")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_at_exit)


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
        self,
        task_id: str,
        name: str,
        current: float | None,
        total: float | None,
        message: str | None,
        *,
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        last = self._last_progress.get(task_id, 0.0)
        done = current is not None and total is not None and current >= total
        if now - last < self.progress_interval and not done and not force:
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

    def log(self, task_id: str, name: str, text: str) -> None:
        """Queue text for the task's job log (and a ``task.<name>.log`` event)."""
        if text:
            self.writer.put(LogLine(task_id, name, text))

    def job_manager(self, task: Any) -> Any:
        """A :class:`~._job_manager.JobManager` for the run of ``task`` on this thread."""
        from ._job_manager import JobManager

        return JobManager(self, task.request.id, task.name)

    def skipped(self, task_id: str, name: str) -> None:
        self.report(task_id, name, JobStatus.CANCELED, {"reason": "canceled before it ran"})
