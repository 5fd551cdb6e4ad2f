"""Celery signal handlers that turn every task's life into job-status updates."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import signals  # type: ignore[import-untyped]
from plugyard.sdk.tasks import JobStatus

from ._job_manager import start_capture, stop_capture

__all__ = ["connect_signals"]

_UID = "plugyard-celery"


class _Current:
    """Reports to whichever job channel the app holds now (it is replaced on reconfigure)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def report(self, task_id: str, name: str, status: JobStatus, info: Any = None) -> None:
        jobs = getattr(self.app, "plugyard_jobs", None)
        if jobs is not None:
            jobs.report(task_id, name, status, info)

    def start_capture(self, task_id: str, name: str) -> None:
        jobs = getattr(self.app, "plugyard_jobs", None)
        if jobs is not None:
            start_capture(jobs, task_id, name)

    def ran_before(self, task_id: str, task: Any) -> bool:
        """A message delivered again, of a task that acknowledges early, whose run had
        started in a worker that died before the acknowledgement (see ``started_before``)."""
        if not getattr(task, "runs_at_most_once", False):
            return False  # a plain Celery task runs again, as Celery runs it
        request = task.request
        if not (getattr(request, "delivery_info", None) or {}).get("redelivered"):
            return False
        jobs = getattr(self.app, "plugyard_jobs", None)
        if jobs is None or not task_id:
            return False
        from ._jobs import acks_late, started_before

        if acks_late(self.app, task):
            return False
        try:
            return started_before(jobs.store, task_id)
        except Exception as exc:
            import logging

            logging.getLogger("plugyard.adapters.celery").warning(
                "job store: cannot tell whether task %s ran before: %s", task_id, exc
            )
            return False

    def flush(self) -> None:
        jobs = getattr(self.app, "plugyard_jobs", None)
        if jobs is not None:
            jobs.writer.flush(5.0)


def connect_signals(app: Any) -> None:
    """Report QUEUED on publish, and RUNNING, SUCCESS, ERROR, CANCELED from the worker;
    capture what a task prints and logs while it runs into its job log."""
    jobs = _Current(app)

    def ours(task: Any) -> bool:
        return getattr(task, "app", None) is app

    worker_info: dict[str, Any] = {}

    def worker() -> dict[str, Any]:
        """``worker`` (host name) and ``pid`` of this process, looked up once per process."""
        if worker_info.get("pid") != os.getpid():
            worker_info.update(worker=socket.gethostname(), pid=os.getpid())
        return worker_info

    sending = getattr(app, "is_sending", None)

    def on_publish(sender: Any = None, headers: Any = None, **_: Any) -> None:
        if sending is not None and not sending():
            return  # another Celery app of this process sends it
        if headers and headers.get("id") and not headers.get("retries"):
            jobs.report(headers["id"], str(headers.get("task") or sender), JobStatus.QUEUED)

    def on_prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
        if ours(task):
            if jobs.ran_before(task_id, task):
                task.request.plugyard_started_before = True  # the task base skips the run
                return
            jobs.report(task_id, task.name, JobStatus.RUNNING, worker())
            jobs.start_capture(task_id, task.name)

    def on_postrun(task: Any = None, **_: Any) -> None:
        if ours(task):
            stop_capture()

    def on_success(sender: Any = None, **_: Any) -> None:
        if ours(sender) and sender.request.id:
            stop_capture()  # the job log is complete before the job ends
            jobs.report(sender.request.id, sender.name, JobStatus.SUCCESS)

    def on_failure(
        sender: Any = None, task_id: str = "", exception: Any = None, einfo: Any = None, **_: Any
    ) -> None:
        if ours(sender):
            stop_capture()
            info = {
                "error": f"{type(exception).__name__}: {exception}",
                "traceback": str(getattr(einfo, "traceback", "") or ""),
            }
            jobs.report(task_id, sender.name, JobStatus.ERROR, info)

    def on_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
        if ours(sender) and request is not None:
            jobs.report(request.id, sender.name, JobStatus.RUNNING, {"retry": str(reason)})

    def on_revoked(
        sender: Any = None,
        request: Any = None,
        terminated: bool = False,
        expired: bool = False,
        **_: Any,
    ) -> None:
        if request is None:
            return
        name = getattr(sender, "name", None) or getattr(request, "task", "") or ""
        reason = "terminated" if terminated else ("expired" if expired else "revoked")
        jobs.report(request.id, str(name), JobStatus.CANCELED, {"reason": reason})

    def on_process_shutdown(**_: Any) -> None:
        jobs.flush()

    def on_worker_ready(sender: Any = None, **_: Any) -> None:
        current = getattr(app, "plugyard_jobs", None)
        if current is None:
            return
        from ._jobs import reap_lost

        try:
            reap_lost(current.store, app)
        except Exception as exc:
            import logging

            logging.getLogger("plugyard.adapters.celery").warning(
                "job store: cannot look for jobs of dead workers: %s", exc
            )

    for signal, handler in (
        (signals.before_task_publish, on_publish),
        (signals.task_prerun, on_prerun),
        (signals.task_postrun, on_postrun),
        (signals.task_success, on_success),
        (signals.task_failure, on_failure),
        (signals.task_retry, on_retry),
        (signals.task_revoked, on_revoked),
        (signals.worker_process_shutdown, on_process_shutdown),
        (signals.worker_shutdown, on_process_shutdown),
        (signals.worker_ready, on_worker_ready),
    ):
        signal.connect(handler, weak=False, dispatch_uid=f"{_UID}:{handler.__name__}")
