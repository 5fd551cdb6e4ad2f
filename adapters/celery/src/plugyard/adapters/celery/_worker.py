"""The in-process worker ``plugyard run`` uses: a Celery worker on a thread of the host."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

__all__ = ["EmbeddedWorker"]

logger = logging.getLogger("plugyard.adapters.celery")


class EmbeddedWorker:
    """A Celery ``WorkController`` (pool ``threads`` or ``solo``) on a daemon thread.

    Celery keeps the worker's stop flag per process, so one host runs one embedded worker.
    """

    def __init__(self, app: Any, *, pool: str = "threads", concurrency: int = 2) -> None:
        self.app = app
        self.pool = pool
        self.concurrency = concurrency
        self.hostname = f"plugyard-embedded-{os.getpid()}@{socket.gethostname()}"
        self._worker: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 8.0) -> None:
        """Start consuming; returns once the worker is ready (or raises after ``timeout``)."""
        from celery.worker import WorkController  # type: ignore[import-untyped]

        ready = threading.Event()
        self.app.finalize()
        # Worker threads resolve the "current app" through Celery's thread-local state, which
        # falls back to the process default: make that the shared app.
        self.app.set_current()
        self.app.set_default()
        self._worker = WorkController(
            app=self.app,
            concurrency=self.concurrency,
            hostname=self.hostname,
            pool=self.pool,
            loglevel=logging.WARNING,
            ready_callback=lambda *_: ready.set(),
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._thread = threading.Thread(
            target=self._run, name="plugyard-celery-worker", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            logger.warning("embedded worker not ready after %gs; it keeps trying", timeout)
        # The worker marks the process as one where result.get() would deadlock; the host's
        # own threads wait for results legitimately (as Celery's test worker allows).
        from celery.result import _set_task_join_will_block  # type: ignore[import-untyped]

        _set_task_join_will_block(False)

    def _run(self) -> None:
        try:
            self._worker.start()
        except BaseException as exc:  # SystemExit from the worker's own shutdown path too
            if not isinstance(exc, SystemExit):
                logger.exception("embedded worker stopped with an error")

    @property
    def alive(self) -> bool:
        """Whether the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming, let running tasks finish (up to ``timeout``), end the thread."""
        from celery.worker import state

        if self._thread is None:
            return
        state.should_terminate = 0
        try:
            self._worker.stop(in_sighandler=False)
        except Exception:
            logger.debug("embedded worker: stop raised", exc_info=True)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("embedded worker did not stop within %gs", timeout)
        state.should_terminate = None
        self._thread = None
