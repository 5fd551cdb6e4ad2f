"""The task model's commands: ``tasks.send``, ``tasks.status``, ``tasks.cancel``, ``tasks.list``."""

from __future__ import annotations

from typing import Any

from plugyard.sdk import Command, CommandError, Param

from ._service import TaskService

__all__ = ["commands"]


def commands(service: TaskService) -> list[Command]:
    """The commands of one host's task service."""

    def status(id: str) -> dict[str, Any]:
        return service.status(id)

    def cancel(id: str, terminate: bool = False) -> dict[str, Any]:
        return service.cancel(id, terminate=terminate)

    def send(name: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        if name not in service.app.tasks:
            raise CommandError(f"tasks.send: no task called {name!r} is registered")
        return {"id": service.send_with(name, args or [], kwargs or {}).id}

    def tasks() -> dict[str, Any]:
        return {"tasks": service.registered()}

    return [
        Command(
            "tasks.status",
            status,
            "Job status of a task.",
            {"id": Param(str, True)},
            aliases=("task_status",),
        ),
        Command(
            "tasks.cancel",
            cancel,
            "Cancel a task (terminate=true kills a running plain task).",
            {"id": Param(str, True), "terminate": Param(bool, default=False)},
            aliases=("task_cancel",),
        ),
        Command(
            "tasks.send",
            send,
            "Queue a task by name.",
            {"name": Param(str, True), "args": Param(list), "kwargs": Param(dict)},
            aliases=("task_send",),
        ),
        Command("tasks.list", tasks, "Registered task names.", aliases=("task_list",)),
    ]
