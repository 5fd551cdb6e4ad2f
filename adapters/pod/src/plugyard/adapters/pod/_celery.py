"""The ``celery`` launcher: a PluginRun as a Celery task, on whichever worker takes it.

The host sends the task through the Celery app every plugyard task plugin shares
(:data:`plugyard.sdk.tasks.app`, configured by the ``[celery]`` table); a worker runs it when
it has :class:`PodRunTasks` loaded (``[plugins.pod_runs] use =
"plugyard.adapters.pod:PodRunTasks"`` in the worker's configuration) and consumes the
launcher's queue (``plugyard worker -Q pod``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from plugyard.sdk.tasks import TaskPlugin

from ._launchers import LaunchRequest, RunHandle

__all__ = ["CeleryLauncher", "PodRunTasks"]

logger = logging.getLogger("plugyard.adapters.pod.launch")

EXIT_REVOKED = -15
"""The exit code of a run whose task was revoked (as a process stopped by SIGTERM)."""


class PodRunTasks(TaskPlugin):
    """The task plugin that lets a Celery worker run pod plugin runs (task
    ``plugyard.pod.run``). Load it on every worker that should take runs."""

    def task_imports(self) -> list[str]:
        """The module that defines ``plugyard.pod.run``."""
        return ["plugyard.adapters.pod._worker_tasks"]


class _TaskHandle:
    def __init__(self, result: Any, poll: float) -> None:
        self._result = result
        self._poll = poll
        self.failure: str | None = None
        """Why the task failed (``plugyard.pod.run`` itself, or the worker refusing it)."""

    async def _state(self) -> str:
        return str(await asyncio.to_thread(lambda: self._result.state))

    async def wait(self) -> int | None:
        while True:
            state = await self._state()
            if state == "SUCCESS":
                value = await asyncio.to_thread(lambda: self._result.result)
                return int(value) if isinstance(value, int) else None
            if state == "REVOKED":
                return EXIT_REVOKED
            if state == "FAILURE":
                error = await asyncio.to_thread(lambda: self._result.result)
                text = f"the pod run task failed: {type(error).__name__}: {error}"
                logger.error("pod run task %s: %s", self._result.id, text)
                self.failure = text
                return 1
            await asyncio.sleep(self._poll)

    async def stop(self, timeout: float) -> None:
        await asyncio.to_thread(self._result.revoke, terminate=True, signal="SIGTERM")
        try:
            await asyncio.wait_for(self.wait(), timeout)
        except TimeoutError:
            await asyncio.to_thread(self._result.revoke, terminate=True, signal="SIGKILL")

    def logs(self) -> list[str]:
        """The task's error, once it failed (a worker's output stays on the worker)."""
        return [self.failure] if self.failure else []


class CeleryLauncher:
    """Sends each run as the Celery task ``plugyard.pod.run`` to ``queue``.

    The worker that takes it reaches the pod at ``pod_url`` (by default the host's own pod
    URL, which only a worker on the same machine reaches) with the run's token. The run's
    end is read from the task's result, every ``poll`` seconds.
    """

    name = "celery"

    def __init__(self, *, queue: str = "pod", pod_url: str | None = None, poll: float = 0.05):
        self.queue = queue
        self.pod_url = pod_url
        self.poll = poll

    async def start(self, request: LaunchRequest) -> RunHandle:
        from plugyard.sdk.tasks import app

        from ._worker_tasks import TASK_NAME

        if not app.conf.broker_url:
            raise RuntimeError(
                "the celery launcher needs a broker: load the celery adapter and set "
                "[celery] broker_url (and result_backend) to what the workers use"
            )
        kwargs = {
            "run_id": request.run_id,
            "pod_url": self.pod_url or request.pod_url,
            "token": request.token,
        }
        result = await asyncio.to_thread(app.send_task, TASK_NAME, kwargs=kwargs, queue=self.queue)
        return _TaskHandle(result, self.poll)
