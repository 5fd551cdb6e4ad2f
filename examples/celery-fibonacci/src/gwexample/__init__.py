"""The example task plugin: one plugin class that names the module holding its tasks."""

from __future__ import annotations

from typing import Any

from plugyard.sdk.tasks import TaskPlugin

__all__ = ["GWExamplePlugin"]


class GWExamplePlugin(TaskPlugin):
    """Registers ``gwexample.analyses.tasks``.

    The constructor shows that a plugin may change the app's configuration; it is not
    needed for the task to run.
    """

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(app, *args, **kwargs)
        self.app.conf.update({"TASK_TIME_LIMIT": 300})

    def task_imports(self) -> list[str]:
        return ["gwexample.analyses.tasks"]
