"""The task base of girder_worker tasks run by plugyard: girder_worker's own ``Task`` (its
job headers, ``girder_io`` serializer, result hooks, ``job_manager`` and ``girder_client``)
with plugyard's cancellation and job status in front."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from celery.exceptions import Ignore  # type: ignore[import-untyped]

logger = logging.getLogger("plugyard.adapters.celery.compat")

__all__ = ["girder_task_base", "is_girder_task"]


@functools.cache
def girder_task_base() -> type:
    """``class GirderTask(CancelableTask, girder_worker.task.Task)``, made once."""
    from girder_worker.task import Task as GirderWorkerTask  # type: ignore[import-untyped]

    from plugyard.sdk.tasks import CancelableTask

    class GirderTask(CancelableTask, GirderWorkerTask):  # type: ignore[misc]
        """A girder_worker task on plugyard's worker. ``canceled`` is plugyard's: it sees a
        cancellation from ``plugyard tasks cancel`` or a Celery revoke, without asking every
        worker for its revoked list on each check as girder_worker's does."""

        canceled = CancelableTask.canceled

        @property
        def job_manager(self) -> Any:
            """plugyard's job manager for this run, mirrored to girder_worker's own (the one
            its signal handlers make from a Girder ``jobInfoSpec``) when there is one."""
            remote = getattr(self.request, "girder_job_manager", None)
            manager = super().job_manager
            if manager is None:
                return remote
            manager.remote = remote
            return manager

        @job_manager.setter
        def job_manager(self, value: Any) -> None:
            self.request.girder_job_manager = value

        def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
            """plugyard skips a run canceled while queued; its Girder job (if it has one)
            hears CANCELED, as girder_worker's revoke handler would tell it."""
            try:
                super().before_start(task_id, args, kwargs)
            except Ignore:
                _tell_girder_canceled(self.request)
                raise

    GirderTask.__module__ = __name__
    GirderTask.__qualname__ = "GirderTask"
    return GirderTask


def _tell_girder_canceled(request: Any) -> None:
    if not getattr(request, "jobInfoSpec", None):
        return
    from girder_worker.utils import JobStatus, _job_manager  # type: ignore[import-untyped]

    try:
        manager = _job_manager(request, getattr(request, "headers", None))
        manager.updateStatus(JobStatus.CANCELED)
        manager.cleanup()
    except Exception as exc:  # the job's URL is the deployment's: report, never crash
        logger.warning("task %s: cannot tell its Girder job it was canceled: %s", request.id, exc)


def is_girder_task(task: Any) -> bool:
    """Whether ``task`` has girder_worker's task base (it was declared with
    ``girder_worker.app.app``, or names that base itself)."""
    module = sys.modules.get("girder_worker.task")
    return module is not None and isinstance(task, module.Task)
