"""Background tasks: every task a plugin creates is tracked, cancelled on stop, and recorded
if it dies.

A plugin creates tasks with plain ``asyncio.create_task``. The adapter installs a task factory
on the host's loop; a context variable names the plugin whose code is running, so a task
created from a plugin's ``initialize``, ``start``, handler or from one of its tasks belongs to
that plugin.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["TaskTracker", "install_task_factory", "owner"]

logger = logging.getLogger("plugyard.adapters.asyncio")

owner: contextvars.ContextVar[TaskTracker | None] = contextvars.ContextVar(
    "plugyard_asyncio_owner", default=None
)
"""The tracker of the plugin whose code is running (``None`` outside plugin code)."""


class TaskTracker:
    """The live tasks of one plugin, and a record of those that died."""

    __slots__ = ("died", "on_death", "plugin", "tasks")

    def __init__(self, plugin: str, on_death: Callable[[str, str], None]) -> None:
        self.plugin = plugin
        self.tasks: set[asyncio.Task[Any]] = set()
        self.died: list[dict[str, Any]] = []
        self.on_death = on_death

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """Track ``task`` until it ends."""
        self.tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        reason = f"{type(error).__name__}: {error}"
        self.died.append({"task": task.get_name(), "error": reason, "time": time.time()})
        logger.error(
            "plugin %r: background task %r died: %s",
            self.plugin,
            task.get_name(),
            reason,
            exc_info=error,
            extra={"plugin": self.plugin},
        )
        self.on_death(task.get_name(), reason)

    async def cancel_all(self, timeout: float = 5.0) -> list[str]:
        """Cancel every live task and wait for them; returns the names still running."""
        current = asyncio.current_task()
        tasks = [task for task in self.tasks if task is not current]
        for task in tasks:
            task.cancel()
        if not tasks:
            return []
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return sorted(task.get_name() for task in pending)

    def running(self) -> list[str]:
        """Names of the live tasks."""
        return sorted(task.get_name() for task in self.tasks)


_TaskFactory = Callable[..., "asyncio.Future[Any]"]


def install_task_factory(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Make ``loop`` hand tasks created by plugin code to their plugin's tracker.

    Chains to a factory already installed. Returns a function that restores the previous one.
    """
    previous: _TaskFactory | None = loop.get_task_factory()

    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        context: contextvars.Context | None = kwargs.get("context")
        if previous is not None:
            task = previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        tracker = context.get(owner) if context is not None else owner.get()
        if tracker is not None and isinstance(task, asyncio.Task):
            tracker.adopt(task)
        return task

    loop.set_task_factory(factory)

    def restore() -> None:
        if loop.get_task_factory() is factory:
            loop.set_task_factory(previous)

    return restore
