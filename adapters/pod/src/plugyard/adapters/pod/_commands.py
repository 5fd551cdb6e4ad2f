"""The pod's commands on the host's command plane (``pod.launch``, ``pod.abort`` ...)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from plugyard.sdk import Command, CommandError, Errno, Param
from plugyard.sdk.pod import PodError

if TYPE_CHECKING:
    from ._service import PodService

__all__ = ["commands"]


def commands(service: PodService) -> list[Command]:
    """The commands, bound to one host's pod service."""

    async def guarded(coro: Any) -> Any:
        try:
            return await coro
        except PodError as exc:
            raise CommandError(exc.message, Errno.BAD_MSG_DATA_ERROR) from None

    async def launch(
        plugin_module: str,
        plugin_name: str,
        config: dict[str, Any] | None = None,
        launcher: str | None = None,
        timeout: float | None = None,
        python: str | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"plugin_module": plugin_module, "plugin_name": plugin_name}
        fields["config"] = config or {}
        if timeout is not None:
            fields["timeout"] = timeout
        if python is not None:
            fields["python"] = python
        run = await guarded(service.launch(fields, launcher))
        return {"run": run}

    async def abort(run_id: str) -> dict[str, Any]:
        assert service.runs is not None
        return {"run": await guarded(service.runs.abort(run_id))}

    async def show(run_id: str) -> dict[str, Any]:
        from ._pod import OWNER

        pod = service.require_pod()
        return {"run": await guarded(asyncio.to_thread(pod.get_run, OWNER, run_id))}

    run_id = {"run_id": Param(str, required=True, help="the PluginRun's id")}
    return [
        Command(
            "pod.launch",
            launch,
            "Create a PluginRun and launch it.",
            {
                "plugin_module": Param(str, required=True),
                "plugin_name": Param(str, required=True),
                "config": Param(dict),
                "launcher": Param(str, help="inprocess, process, docker or kubernetes"),
                "timeout": Param(float),
                "python": Param(str, help="the interpreter of the plugin's own environment"),
            },
            source="pod",
            loads_code=True,
        ),
        Command(
            "pod.abort",
            abort,
            "Abort a PluginRun: tell the plugin, then stop it.",
            run_id,
            source="pod",
        ),
        Command("pod.run", show, "Show one PluginRun.", run_id, source="pod"),
    ]
