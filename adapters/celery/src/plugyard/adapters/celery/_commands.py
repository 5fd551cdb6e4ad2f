"""The task model's commands: ``tasks.send``, ``tasks.status``, ``tasks.cancel``, ``tasks.list``,
``tasks.log``."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from plugyard.sdk import Command, CommandError, Param

from ._service import SendFailed, TaskService, redact_text

__all__ = ["commands"]


def commands(service: TaskService) -> list[Command]:
    """The commands of one host's task service. Those that reach the broker or the job
    store run in a thread: a broker that does not answer never stalls the host's loop."""

    async def status(id: str) -> dict[str, Any]:
        return await asyncio.to_thread(service.status, id)

    async def cancel(id: str, terminate: bool = False) -> dict[str, Any]:
        return await asyncio.to_thread(partial(service.cancel, id, terminate=terminate))

    async def send(name: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        if name not in service.app.tasks:
            raise CommandError(f"tasks.send: no task called {name!r} is registered")
        try:
            result = await asyncio.to_thread(service.send_with, name, args or [], kwargs or {})
        except Exception as exc:
            raise CommandError(
                f"tasks.send: {redact_text(str(SendFailed.of(exc, name, service)))}"
            ) from None
        return {"id": result.id}

    def tasks() -> dict[str, Any]:
        return {"tasks": service.registered()}

    async def log(id: str, cursor: int = 0) -> dict[str, Any]:
        after, text = await asyncio.to_thread(service.log, id, cursor)
        return {"id": id, "cursor": after, "text": text}

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
        Command(
            "tasks.log",
            log,
            "A task's job log after cursor (0: from the start), and the next cursor.",
            {"id": Param(str, True), "cursor": Param(int, default=0)},
        ),
    ]
