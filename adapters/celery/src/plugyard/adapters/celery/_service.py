"""The task API (send tasks, read their job status, cancel them), the per-host
:class:`CeleryService`, and the relay that turns the job store's log into host events."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from plugyard.host import Host, Service
from plugyard.sdk.tasks import ACTIVE, JobStatus

from ._jobs import Jobs, reap_lost
from ._settings import CelerySettings
from ._store import Job, Update
from ._worker import EmbeddedWorker

__all__ = ["SEND_RETRY_POLICY", "CeleryService", "Relay", "SendFailed", "TaskService"]

logger = logging.getLogger("plugyard.adapters.celery")

FLUSH_TIMEOUT = 5.0
"""Seconds a status read or a cancellation waits for this process's queued updates."""

REAP_INTERVAL = 5.0
"""Seconds between two looks for jobs a dead worker left RUNNING."""

RETRY_INTERVAL = 1.0
"""Seconds between two tries to reach a job store that does not answer."""

_BACKEND_STATES = {
    "PENDING": None,
    "RECEIVED": JobStatus.QUEUED,
    "STARTED": JobStatus.RUNNING,
    "RETRY": JobStatus.QUEUED,
    "SUCCESS": JobStatus.SUCCESS,
    "FAILURE": JobStatus.ERROR,
    "REVOKED": JobStatus.CANCELED,
}


SEND_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
"""How often a send tries again to reach a broker (or a Redis result backend) that does not
answer, and how long it waits between tries (seconds)."""


def _bound_result_consumer(backend: Any) -> None:
    """Give a Redis result backend's subscriber (used by the sending side only: a worker
    stores results with the backend's own policy) :data:`SEND_RETRY_POLICY`."""
    consumer = getattr(backend, "result_consumer", None)
    if consumer is None or getattr(consumer, "_plugyard_bounded", False):
        return
    consumer._plugyard_bounded = True
    if type(consumer).__module__ == "celery.backends.redis" and hasattr(consumer, "_ensure"):
        consumer._ensure = partial(backend.ensure, **SEND_RETRY_POLICY)


class SendFailed(Exception):
    """A task could not be sent: names the task, the broker and the cause."""

    @classmethod
    def of(cls, exc: Exception, name: str, service: TaskService) -> SendFailed:
        """The failure to send task ``name`` through ``service``, caused by ``exc``."""
        from ._core import redact

        broker = redact(str(service.settings.celery.get("broker_url", "the broker")))
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return cls(
            f"cannot send {name!r} to {broker}: {type(exc).__name__}"
            + (f": {cause}" if cause else "")
            + " (is the broker running?)"
        )


class TaskService:
    """Send tasks, read their job status and cancel them, from any thread: with a host (as
    :class:`CeleryService`) or without one (``client_service()``)."""

    def __init__(self, app: Any, settings: CelerySettings, jobs: Jobs) -> None:
        self.app = app
        self.settings = settings
        self.jobs = jobs

    def send(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Queue task ``name`` with these arguments; returns its ``AsyncResult``."""
        return self.app.send_task(name, args=args, kwargs=kwargs)

    def send_with(
        self,
        name: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> Any:
        """:meth:`send` with Celery options (``queue``, ``countdown``, ``task_id`` ...).

        A broker or Redis result backend that does not answer fails the send within a few
        seconds (``SEND_RETRY_POLICY``), not after Celery's twenty reconnection tries."""
        _bound_result_consumer(self.app.backend)
        options.setdefault("retry_policy", SEND_RETRY_POLICY)
        task_id = options.setdefault("task_id", str(uuid.uuid4()))
        try:
            return self.app.send_task(name, args=tuple(args), kwargs=kwargs or {}, **options)
        except Exception as exc:
            # The job was reported QUEUED as the message was handed to the broker: it ends
            # now, so that no job waits for a message that was never sent.
            error = str(SendFailed.of(exc, name, self))
            self.jobs.report(task_id, name, JobStatus.ERROR, {"error": error, "not_sent": True})
            raise

    def registered(self) -> list[str]:
        """Every task name the app knows, Celery's built-in ones left out."""
        return sorted(name for name in self.app.tasks if not name.startswith("celery."))

    def job(self, task_id: str) -> Job | None:
        """The stored job, after resolving an overdue cancellation. Updates this process
        queued are written first, so a task sent from here reads at least QUEUED."""
        self.jobs.writer.flush(FLUSH_TIMEOUT)
        job = self.jobs.store.get(task_id)
        if job is not None and job.status is JobStatus.CANCELING:
            deadline = job.cancel_deadline or 0.0
            if deadline < time.time():
                self.resolve(job)
                job = self.jobs.store.get(task_id)
        return job

    def status(self, task_id: str) -> dict[str, Any]:
        """The job status of one task: ``id``, ``name``, ``status`` and what was reported
        (progress, ``error`` and ``traceback``, ``worker``). A task nothing was reported for
        is looked up in the result backend, else it is ``inactive``."""
        job = self.job(task_id)
        if job is not None:
            return job.to_dict()
        state = self.app.AsyncResult(task_id).state
        found = _BACKEND_STATES.get(state)
        return {
            "id": task_id,
            "name": "",
            "status": str(found or JobStatus.INACTIVE),
            "backend_state": state,
            "cancel_requested": False,
        }

    def log(self, task_id: str, cursor: int = 0) -> tuple[int, str]:
        """The task's job log after ``cursor`` (what it printed, logged, or wrote with its
        job manager), and the cursor to read on from."""
        self.jobs.writer.flush(FLUSH_TIMEOUT)
        return self.jobs.store.read_log(task_id, cursor)

    def cancel(self, task_id: str, *, terminate: bool = False) -> dict[str, Any]:
        """Cancel a task: a queued one never runs (CANCELED now); a running one becomes
        CANCELING until it stops (a ``CancelableTask`` sees ``canceled``; ``terminate=True``
        kills a plain one in a prefork worker). A cancellation no worker acknowledges within
        ``cancel_timeout`` is resolved and reported. A finished task is left as it is."""
        self.jobs.writer.flush(FLUSH_TIMEOUT)
        store = self.jobs.store
        job = store.get(task_id)
        if job is not None and job.status.terminal:
            return {**job.to_dict(), "changed": False}
        name = job.name if job else ""
        store.request_cancel(task_id, name, time.time() + self.settings.cancel_timeout)
        self.jobs.refresh_flags()
        if job is not None and (job.status in ACTIVE or job.status is JobStatus.CANCELING):
            info: dict[str, Any] = {"terminate": terminate}
            store.apply([Update(task_id, name, JobStatus.CANCELING, info)])
        else:
            info = {"reason": "canceled while queued"}
            store.apply([Update(task_id, name, JobStatus.CANCELED, info)])
            try:
                self.app.backend.mark_as_revoked(task_id, "canceled")
            except Exception as exc:
                logger.warning("task %s: cannot mark it revoked in the backend: %s", task_id, exc)
        try:
            self.app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
        except Exception as exc:
            logger.warning("task %s: revoke broadcast failed: %s", task_id, exc)
        after = store.get(task_id)
        return {**(after.to_dict() if after else {"id": task_id}), "changed": True}

    def resolve(self, job: Job) -> None:
        """End a cancellation no worker acknowledged in time, using the backend's verdict."""
        try:
            state = self.app.AsyncResult(job.id).state
        except Exception:
            state = "UNKNOWN"
        status = JobStatus.ERROR if state == "FAILURE" else JobStatus.CANCELED
        timeout = self.settings.cancel_timeout
        info = {
            "reason": f"no worker acknowledged the cancellation within {timeout:g}s",
            "unacknowledged": True,
            "backend_state": state,
        }
        logger.warning("task %s[%s]: %s; marked %s", job.name, job.id, info["reason"], status)
        self.jobs.store.apply([Update(job.id, job.name, status, info)])

    def resolve_overdue(self) -> int:
        """Resolve every overdue cancellation; returns how many there were."""
        overdue = self.jobs.store.overdue_cancels(time.time())
        for job in overdue:
            self.resolve(job)
        return len(overdue)


def redact_text(text: str) -> str:
    """``text`` with the passwords of the URLs in it masked."""
    from ._core import redact_text as redact

    return redact(text)


class Relay:
    """A thread that publishes the job store's log as ``task.<name>.<status>`` host events
    and resolves overdue cancellations; it sees workers in every process."""

    def __init__(
        self,
        service: TaskService,
        publish: Callable[[str, dict[str, Any]], Any],
        *,
        wait: float = 0.2,
    ) -> None:
        self.service = service
        self.publish = publish
        self.wait = wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: str | None = None
        self._store = service.jobs._store_factory()

    def start(self) -> None:
        """Begin relaying events logged from now on. A job store that cannot be reached yet
        (Redis down) is retried in the relay's thread until it answers."""
        try:
            cursor: str | None = self._store.last_event()
        except Exception as exc:
            logger.warning(
                "the job store cannot be reached (%s: %s); retrying every %gs",
                type(exc).__name__,
                redact_text(str(exc)),
                RETRY_INTERVAL,
            )
            cursor = None
        self._thread = threading.Thread(
            target=self._run, args=(cursor,), name="plugyard-celery-relay", daemon=True
        )
        self._thread.start()

    @property
    def connected(self) -> bool:
        """Whether the job store answered the relay's last request."""
        return self._failing is None

    def _run(self, start: str | None) -> None:
        next_sweep = next_reap = 0.0
        cursor = start or ""
        reached = start is not None
        while not self._stop.is_set():
            try:
                if not reached:
                    cursor = self._store.last_event()
                    reached = True
                    logger.info("the job store answers again; relaying task events")
                cursor = self._relay(cursor, self.wait)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + 0.5
                    self.service.resolve_overdue()
                if time.monotonic() >= next_reap:
                    next_reap = time.monotonic() + REAP_INTERVAL
                    reap_lost(self._store, self.service.app)
                self._failing = None
            except Exception as exc:
                problem = f"{type(exc).__name__}: {redact_text(str(exc))}"
                if problem != self._failing:
                    logger.warning("task event relay: %s; retrying", problem)
                self._failing = problem
                self._stop.wait(RETRY_INTERVAL)
        if not reached:
            return
        try:  # what was logged before stop() (the last updates written at shutdown)
            while (after := self._relay(cursor, 0.0)) != cursor:
                cursor = after
        except Exception as exc:
            logger.warning("task event relay: last events not relayed: %s", exc)

    def _relay(self, cursor: str, wait: float) -> str:
        """Publish the events logged after ``cursor``; returns the new cursor."""
        cursor, events = self._store.events_after(cursor, wait)
        for data in events:
            name = data.get("name") or "unknown"
            self.publish(f"task.{name}.{data.get('status')}", data)
        return cursor

    def stop(self, timeout: float = 5.0) -> None:
        """Stop relaying, once what is logged by now is published."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._store.close()


class CeleryService(TaskService, Service):
    """The Celery side of one host: the task API, the relay of job events onto the host's
    event stream, and the embedded worker.

    Example::

        result = CeleryService.of(host).send("fibonacci", 26)
        CeleryService.of(host).status(result.id)["status"]
    """

    name = "celery"
    legacy_attributes = {"tasks": ""}

    def __init__(self, host: Host, app: Any, settings: CelerySettings, jobs: Jobs) -> None:
        super().__init__(app, settings, jobs)
        self.host = host
        self.relay: Relay | None = None
        self.worker: EmbeddedWorker | None = None

    def start(self) -> None:
        """Start relaying task events, then the embedded worker (if configured)."""
        from ._core import redact

        def publish(topic: str, data: dict[str, Any]) -> None:
            self.host.publish_event(topic, data, source="celery")

        self.relay = Relay(self, publish)
        self.relay.start()
        if self.settings.embedded_worker:
            self.worker = EmbeddedWorker(
                self.app,
                pool=self.settings.embedded_pool,
                concurrency=self.settings.embedded_concurrency,
            )
            self.worker.start()
        self.host.advertise(
            "celery",
            {
                "broker_url": redact(self.settings.broker_url),
                "result_backend": redact(self.settings.result_backend),
                "embedded_worker": self.settings.embedded_worker,
            },
        )

    def stop(self) -> None:
        """Stop the embedded worker, flush status updates, stop the relay: all within the
        host's ``shutdown_timeout`` (the budget of the ``plugyard_shutdown`` hook that runs
        this), the worker getting most of it."""
        budget = self.host.config.host.shutdown_timeout
        deadline = time.monotonic() + budget
        if self.worker is not None:
            self.worker.stop(budget * 0.6)
            self.worker = None
        self.jobs.writer.flush(min(5.0, max(0.1, (deadline - time.monotonic()) / 2)))
        if self.relay is not None:
            self.relay.stop(min(5.0, max(0.1, deadline - time.monotonic() - 0.1)))
            self.relay = None
