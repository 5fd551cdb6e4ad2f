"""The task-plugin contract: a class constructed with the Celery app that names its task modules."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["TaskPlugin"]


class TaskPlugin(abc.ABC):
    """Base class of a task plugin.

    The host constructs the class with the Celery app as first argument; the constructor may
    keep it and change its configuration (``app.conf.update(task_time_limit=300)``).
    :meth:`task_imports` names the modules that hold the plugin's tasks; the host imports
    each of them once, so that the tasks register with the app.

    Example::

        class FibonacciPlugin(TaskPlugin):
            def __init__(self, app, *args, **kwargs):
                super().__init__(app, *args, **kwargs)
                app.conf.update({"TASK_TIME_LIMIT": 300})

            def task_imports(self):
                return ["fib.tasks"]

    Register it in the entry-point group ``plugyard.tasks`` (``fib = "fib:FibonacciPlugin"``)
    or with ``[plugins.fib] use = "fib:FibonacciPlugin"``; the table's other keys arrive as
    keyword arguments.
    """

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.app = app

    @abc.abstractmethod
    def task_imports(self) -> list[str]:
        """The importable modules (``"pkg.tasks"``) that define this plugin's tasks."""
