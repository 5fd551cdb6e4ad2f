"""What a task-plugin author imports (the girder_worker model, run by plugyard-celery).

``app`` and ``CancelableTask`` import Celery on first use; ``TaskPlugin`` and ``JobStatus``
do not, so ``import plugyard.sdk.tasks`` stays light.

Example::

    from plugyard.sdk.tasks import TaskPlugin, app

    @app.task
    def fibonacci(n):
        return 1 if n <= 2 else fibonacci(n - 1) + fibonacci(n - 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exports import lazy_exports
from ._channel import JobChannel
from ._plugin import TaskPlugin
from ._status import ACTIVE, TERMINAL, TRANSITIONS, JobStatus, can_transition, next_status

if TYPE_CHECKING:
    from ._app import PlugyardCelery, PollingAsyncResult
    from ._task import SPEC_HEADER, CancelableTask, SpecVersionMismatch

    app: PlugyardCelery

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "TRANSITIONS",
    "CancelableTask",
    "JobChannel",
    "JobStatus",
    "PlugyardCelery",
    "PollingAsyncResult",
    "SPEC_HEADER",
    "SpecVersionMismatch",
    "TaskPlugin",
    "app",
    "can_transition",
    "next_status",
]


def _app() -> Any:
    from ._app import get_app

    return get_app()


__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PlugyardCelery": "._app",
        "PollingAsyncResult": "._app",
        "CancelableTask": "._task",
        "SPEC_HEADER": "._task",
        "SpecVersionMismatch": "._task",
    },
    public=__all__,
    computed={"app": _app},
)
