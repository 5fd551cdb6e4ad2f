"""Task plugins the adapter's tests load: one that works and some that fail on purpose."""

from __future__ import annotations

from typing import Any

from plugyard.sdk.tasks import TaskPlugin


class SamplePlugin(TaskPlugin):
    """Sets a time limit the way girder_worker's documentation does (upper-case key)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(app, *args, **kwargs)
        self.options = kwargs
        app.conf.update({"TASK_TIME_LIMIT": kwargs.get("time_limit", 300)})

    def task_imports(self) -> list[str]:
        return ["celery_sample.tasks"]


class BrokenInit(TaskPlugin):
    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no licence server")

    def task_imports(self) -> list[str]:
        return []


class BrokenImports(TaskPlugin):
    def task_imports(self) -> list[str]:
        raise KeyError("tasks")


class MissingModule(TaskPlugin):
    def task_imports(self) -> list[str]:
        return ["celery_sample.not_there"]


class NotAPlugin:
    pass
