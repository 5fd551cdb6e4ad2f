"""The Celery app plugin tasks decorate with: usable at import time, configured by the host."""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery  # type: ignore[import-untyped]
from celery.result import AsyncResult  # type: ignore[import-untyped]
from kombu.utils.objects import cached_property

__all__ = ["PlugyardCelery", "PollingAsyncResult", "get_app"]

APP_NAME = "plugyard"


class PollingAsyncResult(AsyncResult):  # type: ignore[misc]
    """An ``AsyncResult`` whose ``get()`` polls a polling result backend (SQL, cache) at the
    app's ``result_poll_interval`` rather than Celery's 0.5 s, so round trips stay short.

    A backend that pushes results (Redis, RPC) is left to Celery: it wakes ``get()`` when the
    result arrives, and a short interval would only make the wait spin."""

    def get(self, timeout: float | None = None, propagate: bool = True, **kwargs: Any) -> Any:
        """Wait for the task and return its result (see Celery's ``AsyncResult.get``)."""
        if not self.backend.is_async:
            kwargs.setdefault("interval", getattr(self.app, "result_poll_interval", 0.5))
        return super().get(timeout=timeout, propagate=propagate, **kwargs)


class PlugyardCelery(Celery):  # type: ignore[misc]
    """The Celery app every task plugin shares.

    Tasks decorate with ``@app.task`` at import time; the host (or ``plugyard worker``, or a
    client's ``connect()``) fills in the broker and backend later. ``app.config`` is an alias
    of ``app.conf``, so code written for girder_worker's documentation keeps working.
    """

    result_poll_interval = 0.005
    plugyard_jobs: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sending = threading.local()

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Celery's ``send_task``, with this host's hook spec version in the message header
        ``plugyard_spec`` (a worker of another major version refuses the task); while it
        runs, :meth:`is_sending` is true on this thread."""
        from .._versions import SPEC_VERSION
        from ._task import SPEC_HEADER

        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault(SPEC_HEADER, SPEC_VERSION)
        kwargs["headers"] = headers
        sending = self._sending
        outer = getattr(sending, "active", False)
        sending.active = True
        try:
            return super().send_task(name, *args, **kwargs)
        finally:
            sending.active = outer

    def is_sending(self) -> bool:
        """Whether this app is sending a task on the current thread. Celery's
        ``before_task_publish`` signal names no app; a receiver tells this app's tasks from
        another app's in the same process with this."""
        return bool(getattr(self._sending, "active", False))

    @property
    def config(self) -> Any:
        """Alias of ``conf``."""
        return self.conf

    @cached_property
    def AsyncResult(self) -> type[PollingAsyncResult]:
        """The result class tasks return, bound to this app."""
        return self.subclass_with_self(PollingAsyncResult)  # type: ignore[no-any-return]


_lock = threading.Lock()
_app: PlugyardCelery | None = None


def get_app() -> PlugyardCelery:
    """The one shared app, created on first use."""
    global _app
    with _lock:
        if _app is None:
            _app = PlugyardCelery(
                APP_NAME,
                task_cls="plugyard.sdk.tasks._task:CancelableTask",
                set_as_current=True,
            )
        return _app
