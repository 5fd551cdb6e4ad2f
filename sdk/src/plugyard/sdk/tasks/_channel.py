"""The seam between a running task and whoever keeps job status (the plugyard-celery adapter)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._status import JobStatus

__all__ = ["JobChannel"]


@runtime_checkable
class JobChannel(Protocol):
    """What a task asks about its job. The adapter attaches one to the app as
    ``app.plugyard_jobs``; without one, tasks still run as plain Celery tasks."""

    def cancel_requested(self, task_id: str) -> bool:
        """Whether someone asked to cancel the task; cheap enough to call in a tight loop."""

    def progress(
        self, task_id: str, name: str, current: float, total: float, message: str | None
    ) -> None:
        """Record progress (rate-limited by the channel; never blocks the task for long)."""

    def status(self, task_id: str) -> JobStatus | None:
        """The job's last recorded status, or ``None`` if nothing is known of it."""

    def skipped(self, task_id: str, name: str) -> None:
        """The task was canceled before it ran: record it as CANCELED."""
