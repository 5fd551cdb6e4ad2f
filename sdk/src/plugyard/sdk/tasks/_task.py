"""The task base every plugin task gets: cancellation it can see, progress, job status."""

from __future__ import annotations

import logging
from typing import Any, Final

from celery import Task  # type: ignore[import-untyped]
from celery.exceptions import Ignore  # type: ignore[import-untyped]
from celery.worker import state as _worker_state  # type: ignore[import-untyped]

from .. import _versions
from ._channel import JobChannel
from ._status import JobStatus

__all__ = ["SPEC_HEADER", "CancelableTask", "SpecVersionMismatch", "spec_refusal"]

logger = logging.getLogger("plugyard.sdk.tasks")


SPEC_HEADER: Final = "plugyard_spec"
"""The message header in which a plugyard host sends its hook spec version with each task."""


def spec_refusal(task_name: str, sent: Any) -> str | None:
    """Why this worker refuses a task whose message says the sending host speaks hook spec
    ``sent``, or ``None``. A message without the header (``sent`` is ``None``: a plain
    Celery client sent it) is accepted."""
    ours = _versions.SPEC_VERSION
    if sent is None or sent == ours:
        return None
    try:
        _versions.parse_spec_version(str(sent))
    except ValueError as exc:
        return f"task {task_name!r} refused: its {SPEC_HEADER} header is not valid: {exc}"
    problem = _versions.spec_version_problem(ours, str(sent))
    if problem is None:
        return None
    return (
        f"task {task_name!r} refused: this worker speaks hook spec {ours} and the host that "
        f"sent it speaks {sent} (the worker is {problem}); run workers and hosts of the same "
        "plugyard major version"
    )


class SpecVersionMismatch(RuntimeError):
    """A task sent by a host whose hook spec version this worker cannot serve."""


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

    A task canceled while it was still queued never runs. Nor does a task that acknowledges
    early (no ``acks_late``) run twice: when its worker dies after the task started but before
    the broker had the acknowledgement, the message delivered again is dropped and the job
    marked lost.
    """

    runs_at_most_once: bool = True
    """Whether the worker drops a second delivery of a started run (unless ``acks_late``)."""

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
        """Refuse a task sent by a host of another hook spec version; skip a run that was
        canceled while queued (including across a worker restart)."""
        refusal = spec_refusal(self.name, self.request.get(SPEC_HEADER))
        if refusal is not None:
            logger.error("task %s[%s]: %s", self.name, task_id, refusal)
            raise SpecVersionMismatch(refusal)
        if getattr(self.request, "plugyard_started_before", False):
            logger.warning(
                "task %s[%s] started before in a worker that died; not run again",
                self.name,
                task_id,
            )
            raise Ignore()
        channel = self._channel()
        if channel is not None and channel.cancel_requested(task_id):
            logger.info("task %s[%s] was canceled before it ran; skipped", self.name, task_id)
            channel.skipped(task_id, self.name)
            self.backend.mark_as_revoked(task_id, "canceled", request=self.request)
            raise Ignore()
