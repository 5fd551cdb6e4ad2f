"""The ``celery`` executor on the engine's side: each operation a Celery task on the agent
queue of its instance's host, its result awaited off the loop, retries scheduled here."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from plugyard.sdk.lifecycle import NonRecoverableError

from ._remote import describe_call, error_from_outcome, relog
from ._runner import OperationCall, is_resumable

if TYPE_CHECKING:
    from ._engine import Task, WorkflowRun
    from ._plan import NodeInstance

__all__ = ["AGENT_TASK", "CeleryExecutor", "agent_queue"]

logger = logging.getLogger("plugyard.lifecycle")

AGENT_TASK = "plugyard.lifecycle.run_operation"
"""The Celery task name a lifecycle operation is sent as."""

POLL_INTERVAL = 0.005
"""Seconds between looks at the results of the operations in flight (all in one call)."""


def agent_queue(run: WorkflowRun, instance: NodeInstance) -> str:
    """The queue of ``instance``'s operations: its node's ``agent_queue`` property, else the
    id of its host (the root of its ``contained_in`` chain), as Cloudify named agents."""
    properties = run.env.blueprint.nodes[instance.node_id].properties
    explicit = properties.get("agent_queue")
    if explicit:
        return str(explicit)
    root = instance
    seen = {root.id}
    while root.host_id and root.host_id in run.instances and root.host_id not in seen:
        root = run.instances[root.host_id]
        seen.add(root.id)
    return root.id


def _storage_url(run: WorkflowRun) -> str:
    storage = run.env.storage
    if storage.url in ("sqlite://", "sqlite:///:memory:"):
        raise NonRecoverableError(
            f"deployment {run.env.name!r}: the celery executor needs storage that workers "
            "reach too ([lifecycle] storage = 'postgresql://...'); this deployment's is in "
            "memory"
        )
    return storage.url


def _outcome_of_meta(meta: dict[str, Any]) -> dict[str, Any] | None:
    status = meta.get("status")
    if status == "SUCCESS":
        return dict(meta["result"])
    if status in ("FAILURE", "REVOKED"):
        error = meta.get("result")
        return {
            "status": "error",
            "kind": "other",
            "type": type(error).__name__ if error is not None else "TaskFailed",
            "message": f"the agent task failed: {error}",
        }
    return None


class _ResultPoller:
    """One thread of the process looks at every awaited result at once (a single ``MGET``
    on a key-value result backend such as Redis) and wakes the waiting workflows."""

    _instances: dict[int, _ResultPoller] = {}
    _lock = threading.Lock()

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pending: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self.cond = threading.Condition()
        self.thread = threading.Thread(
            target=self._run, name="plugyard-lifecycle-results", daemon=True
        )
        self.thread.start()

    @classmethod
    def of(cls, app: Any) -> _ResultPoller:
        """The poller of ``app`` (started on first use)."""
        with cls._lock:
            poller = cls._instances.get(id(app))
            if poller is None:
                poller = cls._instances[id(app)] = cls(app)
            return poller

    def watch(self, task_id: str) -> asyncio.Future[Any]:
        """A future of the running loop that gets the task's outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self.cond:
            self.pending[task_id] = (loop, future)
            self.cond.notify()
        return future

    def forget(self, task_id: str) -> None:
        """Stop looking at a task's result."""
        with self.cond:
            self.pending.pop(task_id, None)

    def _fetch(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        backend = self.app.backend
        if hasattr(backend, "mget") and hasattr(backend, "get_key_for_task"):
            values = backend.mget([backend.get_key_for_task(i) for i in ids])
            return {
                task_id: backend.decode_result(value)
                for task_id, value in zip(ids, values, strict=True)
                if value
            }
        return {task_id: backend.get_task_meta(task_id) for task_id in ids}

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
                ids = list(self.pending)
            try:
                metas = self._fetch(ids)
            except Exception as exc:
                logger.warning("reading lifecycle operation results failed: %s", exc)
                metas = {}
            for task_id, meta in metas.items():
                outcome = _outcome_of_meta(meta)
                if outcome is None:
                    continue
                with self.cond:
                    waiter = self.pending.pop(task_id, None)
                if waiter is not None:
                    loop, future = waiter
                    loop.call_soon_threadsafe(_settle, future, outcome)
            time.sleep(POLL_INTERVAL)


def _settle(future: asyncio.Future[Any], outcome: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(outcome)


class CeleryExecutor:
    """Operations as Celery tasks (``acks_late``) on agent queues.

    The worker runs the operation with runtime properties read and saved, versioned, in
    the deployment's storage (which workers must reach: PostgreSQL). Its ``ctx.logger``
    lines come back with the result and become this execution's events. A retry is a new
    task sent after the delay this engine waits; a worker never sleeps for one. At a
    timeout the task is revoked (a prefork worker kills it; a solo worker cannot)."""

    async def invoke(self, run: WorkflowRun, task: Task, call: OperationCall) -> None:
        from plugyard.sdk.tasks import app

        loop = asyncio.get_running_loop()
        instance = task.instance
        if task.relationship is not None and task.side == "target":
            instance = run.instances[task.relationship["target_instance_id"]]
        request = describe_call(call)
        request["resumable"] = is_resumable(call.function)
        store = {
            "url": _storage_url(run),
            "folder": str(run.env.blueprint.folder),
            "workdirs": str(run.env.workdirs),
        }
        queue = agent_queue(run, instance)
        timeout = task.spec.timeout
        options: dict[str, Any] = {"queue": queue}
        if timeout:
            options["time_limit"] = max(1, int(timeout + 1))

        def send() -> Any:
            return app.send_task(AGENT_TASK, args=[request, store], **options)

        result = await loop.run_in_executor(run._pool, send)
        poller = _ResultPoller.of(app)
        waiting = poller.watch(result.id)
        try:
            outcome = await asyncio.wait_for(waiting, timeout) if timeout else await waiting
        except TimeoutError:
            await loop.run_in_executor(None, self._revoke, app, result.id)
            from ._executors import timed_out

            raise timed_out(task) from None
        finally:
            poller.forget(result.id)
        for record in outcome.pop("logs", None) or []:
            relog(record)
        outcome["worker"] = queue
        run.note_outcome(task, outcome)
        error = error_from_outcome(outcome)
        if error is not None:
            raise error

    @staticmethod
    def _revoke(app: Any, task_id: str) -> None:
        app.control.revoke(task_id, terminate=True, signal="SIGKILL")
