"""girder_worker's Celery signal handlers, for girder_worker tasks only.

``girder_worker.app`` connects its handlers to Celery's global signals, so in one process
they would run for every task of every app (plugyard's own tasks included), each one warning
that it has no Girder job. :func:`install` disconnects them and connects one guard per signal
that calls girder_worker's handler for tasks with girder_worker's task base only, and only
where Girder is involved: a message sent by girder_worker's ``Task.apply_async`` (not by
name, as ``plugyard tasks send`` sends), a run with a Girder job, API URL or result hooks.
The handlers' job-status calls then go to the Girder job alone (plugyard's store has its own
record of the run). Task success is plugyard's own :func:`_on_success`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from celery import signals  # type: ignore[import-untyped]

from .._job_manager import remote_only
from ._girder_task import is_girder_task

__all__ = ["install"]

logger = logging.getLogger("plugyard.adapters.celery.compat")

_UID = "plugyard-celery-girder"

# (signal, girder_worker.app's handler, keyword that holds the task)
_GUARDED = (
    ("before_task_publish", "girder_before_task_publish", None),
    ("task_prerun", "gw_task_prerun", "task"),
    ("task_failure", "gw_task_failure", "sender"),
    ("task_postrun", "gw_task_postrun", "task"),
    ("task_revoked", "gw_task_revoked", "sender"),
)


def _canceled_while_queued(task: Any) -> bool:
    """Whether a run about to start was canceled (read fresh from the job store: plugyard
    skips it right after this signal, and Girder must not hear RUNNING first)."""
    jobs = getattr(task.app, "plugyard_jobs", None)
    if jobs is None:
        return False
    jobs.refresh_flags()
    return bool(task.canceled)


def _guard(module: Any, handler: Callable[..., Any], key: str | None) -> Callable[..., Any]:
    handler_name = handler.__name__

    def published_task(sender: Any) -> Any:
        app = getattr(module, "app", None)
        tasks = getattr(app, "tasks", None)
        return tasks.get(sender) if tasks is not None and isinstance(sender, str) else None

    def guarded(*args: Any, **kwargs: Any) -> Any:
        task = published_task(kwargs.get("sender")) if key is None else kwargs.get(key)
        if not is_girder_task(task):
            return None
        if key is None and not _GIRDER_HEADERS.intersection(kwargs.get("headers") or ()):
            return None  # sent by name (plugyard tasks send), not by girder_worker's Task
        if key is not None and not _has_girder_job(task, kwargs):
            return None
        if handler_name == "gw_task_prerun" and _canceled_while_queued(task):
            return None  # it will not run: Girder hears CANCELED only (see GirderTask)
        with remote_only():
            return handler(*args, **kwargs)

    guarded.__name__ = f"guarded_{handler_name}"
    guarded.__qualname__ = guarded.__name__
    return guarded


def _has_girder_job(task: Any, kwargs: dict[str, Any]) -> bool:
    """Whether a run has something of Girder's to handle: a job to report to (``jobInfoSpec``),
    a Girder API to call, or result hooks. Without them girder_worker's handlers only warn
    that there is no job, and ask every worker for its revoked list (a second's wait)."""
    request = kwargs.get("request")
    if request is None:
        request = getattr(task, "request", None)
    found = [getattr(request, name, None) for name in _GIRDER_REQUEST]
    message = getattr(request, "message", None)
    headers = getattr(message, "headers", None) or {}
    return any(found) or "jobInfoSpec" in headers


_GIRDER_HEADERS = frozenset(
    {"girder_job_title", "jobInfoSpec", "girder_api_url", "girder_client_token"}
)
"""Headers of a message girder_worker's ``Task.apply_async`` (or Girder) sent."""

_GIRDER_REQUEST = ("jobInfoSpec", "girder_api_url", "girder_result_hooks", "girder_job_manager")


def _on_success(sender: Any = None, **_: Any) -> None:
    """girder_worker's ``gw_task_success``, with plugyard's ``canceled`` in place of asking
    every worker for its revoked list: SUCCESS, or CANCELED for a canceled run, reported to
    the Girder job."""
    manager: Any = getattr(sender, "job_manager", None) if is_girder_task(sender) else None
    if getattr(manager, "remote", None) is None:
        return
    utils = sys.modules["girder_worker.utils"]
    canceled = bool(sender.canceled)
    with remote_only():
        try:
            manager.updateStatus(utils.JobStatus.CANCELED if canceled else utils.JobStatus.SUCCESS)
        except utils.StateTransitionException:
            if not canceled and manager.refreshStatus() != utils.JobStatus.CANCELING:
                raise
            manager.updateStatus(utils.JobStatus.CANCELED)


def install(module: Any) -> None:
    """Replace ``module``'s (``girder_worker.app``'s) handlers with guarded ones; idempotent."""
    success = getattr(module, "gw_task_success", None)
    if success is not None:
        signals.task_success.disconnect(success)
    signals.task_success.connect(_on_success, weak=False, dispatch_uid=f"{_UID}:gw_task_success")
    for signal_name, handler_name, key in _GUARDED:
        signal = getattr(signals, signal_name)
        handler = getattr(module, handler_name, None)
        if handler is None:
            logger.warning("girder_worker.app has no %s: not guarded", handler_name)
            continue
        signal.disconnect(handler)
        signal.connect(
            _guard(module, handler, key), weak=False, dispatch_uid=f"{_UID}:{handler_name}"
        )
