"""The threads a workflow runs plain (blocking) operations on.

A :class:`concurrent.futures.ThreadPoolExecutor` costs a concurrent future, a chained asyncio
future and a wake-up of the event loop per call. :meth:`OperationThreads.run` hands a call to
the same kind of bounded pool but settles asyncio futures directly: a worker that finishes
adds the outcome to a list, and the loop settles every finished call in one callback, so a
burst of short operations wakes the loop once rather than once per operation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["OperationThreads"]

T = TypeVar("T")

_STOP = object()


class OperationThreads(concurrent.futures.Executor):
    """Up to ``max_workers`` threads, started as work arrives and named ``<prefix>_<n>``.

    :meth:`run` is the fast path for the workflow's loop; :meth:`submit` makes it a plain
    executor too (``loop.run_in_executor``), for work that wants a concurrent future.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self.max_workers = max(1, max_workers)
        self.prefix = thread_name_prefix
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._finished: deque[tuple[asyncio.Future[Any], bool, Any]] = deque()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def run(self, function: Callable[[], T]) -> asyncio.Future[T]:
        """Call ``function`` on a worker; an asyncio future of its result (cancelling the
        future before a worker takes the call means it is never made)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put((future, function))
        return future

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Call ``fn(*args, **kwargs)`` on a worker; a concurrent future of its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put((future, lambda: fn(*args, **kwargs)))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers once the calls already taken return (and drop queued calls, with
        ``cancel_futures``)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not _STOP:
                    _cancel(job[0])
        for _ in threads:
            self._jobs.put(_STOP)
        if wait:
            for thread in threads:
                thread.join()

    def _put(self, job: tuple[Any, Callable[[], Any]]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot run an operation after the workflow's threads stopped")
            start = self._idle == 0 and len(self._threads) < self.max_workers
            if start:
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self.prefix}_{next(self._numbers)}",
                )
                self._threads.append(thread)
            else:
                self._idle = max(0, self._idle - 1)
        self._jobs.put(job)
        if start:
            thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is _STOP:
                return
            future, function = job
            if isinstance(future, concurrent.futures.Future):
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(function())
                    except BaseException as error:
                        future.set_exception(error)
            elif not future.cancelled():
                try:
                    outcome: tuple[Any, bool, Any] = (future, True, function())
                except BaseException as error:
                    outcome = (future, False, error)
                self._finish(outcome)
            del job, future, function
            with self._lock:
                self._idle += 1

    def _finish(self, outcome: tuple[asyncio.Future[Any], bool, Any]) -> None:
        self._finished.append(outcome)
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._settle)
        except RuntimeError:
            pass  # the loop is closed: nobody waits for these calls any more

    def _settle(self) -> None:
        with self._lock:
            self._wake_pending = False
        finished = self._finished
        while finished:
            future, ok, value = finished.popleft()
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


def _cancel(future: Any) -> None:
    if isinstance(future, concurrent.futures.Future):
        future.cancel()
    elif not future.done():
        future.get_loop().call_soon_threadsafe(_cancel_now, future)


def _cancel_now(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.cancel()
