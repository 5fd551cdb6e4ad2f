"""The task base every plugin task gets: cancellation it can see, progress, job status."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task  # type: ignore[import-untyped]
from celery.exceptions import Ignore  # type: ignore[import-untyped]
from celery.worker import state as _worker_state  # type: ignore[import-untyped]

from ._channel import JobChannel
from ._status import JobStatus

__all__ = ["CancelableTask"]

logger = logging.getLogger("plugyard.sdk.tasks")


def _revoked_here(task_id: str) -> bool:
    """Whether this worker holds a revoke for the task (memory only; no broadcast)."""
    return task_id in _worker_state.revoked


class CancelableTask(Task):  # type: ignore[misc]
    """A Celery task that can see that it was canceled, and report progress.

    It is the default base of ``plugyard.sdk.tasks.app`` tasks. A long task checks
    :attr:`canceled` in its loop and returns early::

        @app.task(bind=True)
        def crunch(self, items):
            for i, item in enumerate(items):
                if self.canceled:
                    return None
                work(item)
                self.update_progress(i + 1, len(items))

    A task canceled while it was still queued never runs.
    """

    def _channel(self) -> JobChannel | None:
        return getattr(self.app, "plugyard_jobs", None)

    @property
    def canceled(self) -> bool:
        """Whether a cancellation was asked for this run.

        Cheap: the worker's own revoked set first, then the job store's cancel flag, which the
        adapter caches for a few milliseconds; a cancellation survives a worker restart.
        """
        task_id = self.request.id
        if not task_id:
            return False
        if _revoked_here(task_id):
            return True
        channel = self._channel()
        return channel is not None and channel.cancel_requested(task_id)

    def update_progress(self, current: float, total: float, message: str | None = None) -> None:
        """Report progress (``current`` of ``total``), shown as ``task.<name>.progress`` events."""
        task_id = self.request.id
        if not task_id:
            return
        channel = self._channel()
        if channel is not None:
            channel.progress(task_id, self.name, current, total, message)
        else:
            self.update_state(
                state="PROGRESS", meta={"current": current, "total": total, "message": message}
            )

    @property
    def job_manager(self) -> Any:
        """This run's job manager, with girder_worker's API: ``updateProgress(total=,
        current=, message=)``, ``updateStatus(status)``, ``write(text)``. The adapter
        provides it; ``None`` where no adapter runs the task."""
        request = self.request
        manager = getattr(request, "plugyard_job_manager", None)
        if manager is None and request.id:
            make = getattr(self._channel(), "job_manager", None)
            if make is not None:
                manager = request.plugyard_job_manager = make(self)
        return manager

    @property
    def job_status(self) -> JobStatus:
        """This run's job status as last recorded (RUNNING while it runs, CANCELING once a
        cancellation was asked)."""
        task_id = self.request.id
        channel = self._channel()
        found = channel.status(task_id) if channel is not None and task_id else None
        return found or JobStatus.RUNNING

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Skip a run that was canceled while queued (including across a worker restart)."""
        channel = self._channel()
        if channel is not None and channel.cancel_requested(task_id):
            logger.info("task %s[%s] was canceled before it ran; skipped", self.name, task_id)
            channel.skipped(task_id, self.name)
            self.backend.mark_as_revoked(task_id, "canceled", request=self.request)
            raise Ignore()
