"""The lifecycle adapter's host commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugyard.sdk import Command, CommandError, Errno, Param
from plugyard.sdk.lifecycle import WorkflowFailed

from ._errors import BlueprintError, StorageError

if TYPE_CHECKING:
    from ._service import LifecycleService

__all__ = ["commands"]

DEPLOYMENT = {"deployment": Param(str, required=True, help="deployment name")}


def _failed(exc: WorkflowFailed) -> CommandError:
    causes = "; ".join(f"{c['type']}: {c['message']}" for c in exc.causes[1:])
    return CommandError(
        f"{exc.message}" + (f" (causes: {causes})" if causes else ""), Errno.COMMAND_ERROR
    )


def commands(service: LifecycleService) -> list[Command]:
    """Commands bound to one host's lifecycle service."""

    async def install(
        blueprint: str, deployment: str, inputs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            await service.open(deployment, blueprint, inputs)
            return dict(await service.run(deployment, "install"))
        except (BlueprintError, StorageError, ValueError) as exc:
            raise CommandError(str(exc), Errno.BAD_MSG_DATA_ERROR) from None
        except WorkflowFailed as exc:
            raise _failed(exc) from None

    async def run(deployment: str, workflow: str, **params: Any) -> dict[str, Any]:
        if deployment not in service.envs:
            try:
                await service.open(deployment)
            except StorageError as exc:
                raise CommandError(str(exc), Errno.MESSAGE_ERROR) from None
        try:
            return dict(await service.run(deployment, workflow, **params))
        except ValueError as exc:
            raise CommandError(str(exc), Errno.BAD_MSG_DATA_ERROR) from None
        except WorkflowFailed as exc:
            raise _failed(exc) from None

    async def uninstall(deployment: str) -> dict[str, Any]:
        return await run(deployment, "uninstall")

    async def execute(
        deployment: str,
        operation: str,
        node_ids: list[str] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"operation": operation}
        if node_ids:
            params["node_ids"] = node_ids
        if kwargs:
            params["operation_kwargs"] = kwargs
        return await run(deployment, "execute_operation", **params)

    async def _env(deployment: str) -> Any:
        try:
            return service.envs.get(deployment) or await service.open(deployment)
        except StorageError as exc:
            raise CommandError(str(exc), Errno.MESSAGE_ERROR) from None

    async def status(deployment: str | None = None) -> dict[str, Any]:
        if deployment is None:
            return {
                "deployments": {name: _describe(service, name) for name in sorted(service.envs)}
            }
        await _env(deployment)
        return _describe(service, deployment)

    async def outputs(deployment: str) -> dict[str, Any]:
        env = await _env(deployment)
        return {"outputs": env.outputs()}

    async def instances(deployment: str) -> dict[str, Any]:
        env = await _env(deployment)
        return {"instances": [i.to_dict() for i in env.storage.get_node_instances(deployment)]}

    async def executions(deployment: str, limit: int = 5) -> dict[str, Any]:
        env = await _env(deployment)
        found = _executions(env.storage, deployment, max(1, limit))
        return {"executions": found}

    return [
        Command(
            "lifecycle.install",
            install,
            "Create a deployment from a blueprint and run install",
            {
                "blueprint": Param(str, required=True, help="blueprint path"),
                **DEPLOYMENT,
                "inputs": Param(dict, default=None, help="blueprint inputs"),
            },
            aliases=("lifecycle_install",),
            loads_code=True,
        ),
        Command(
            "lifecycle.uninstall",
            uninstall,
            "Run uninstall on a deployment",
            DEPLOYMENT,
            aliases=("lifecycle_uninstall",),
        ),
        Command(
            "lifecycle.execute",
            execute,
            "Run one operation on a deployment's instances",
            {
                **DEPLOYMENT,
                "operation": Param(str, required=True),
                "node_ids": Param(list, default=None),
                "kwargs": Param(dict, default=None),
            },
            aliases=("lifecycle_execute",),
        ),
        Command(
            "lifecycle.status",
            status,
            "Instance states and last execution of one deployment, or of all",
            {"deployment": Param(str, help="deployment name (all if omitted)")},
            aliases=("lifecycle_status",),
        ),
        Command(
            "lifecycle.outputs",
            outputs,
            "A deployment's outputs",
            DEPLOYMENT,
            aliases=("lifecycle_outputs",),
        ),
        Command(
            "lifecycle.instances",
            instances,
            "A deployment's node instances",
            DEPLOYMENT,
            aliases=("lifecycle_instances",),
        ),
        Command(
            "lifecycle.executions",
            executions,
            "A deployment's latest executions, newest first, with their progress (operations "
            "done of total, the current operation) and log lines, read from its storage",
            {**DEPLOYMENT, "limit": Param(int, default=5, help="how many executions")},
        ),
    ]


FINAL_OPERATION = ("succeeded", "failed")
LOG_LINES = 200


def _executions(storage: Any, deployment: str, limit: int) -> list[dict[str, Any]]:
    """The latest executions of ``deployment`` with the progress their stored events tell
    (another process's workflow on the same storage included)."""
    found = []
    for execution in reversed(storage.list_executions(deployment)[-limit:]):
        total: int | None = None
        done = 0
        running: dict[str, str] = {}
        logs: list[dict[str, Any]] = []
        for event in storage.get_events(execution_id=execution.id):
            topic, data = event["topic"], event["data"]
            state = topic.rsplit(".", 1)[-1]
            if topic.startswith("workflow.") and state == "planned":
                total = data.get("operations")
            elif topic.startswith("operation."):
                where = f"{data.get('node_instance_id')} {data.get('operation')}"
                key = topic.rsplit(".", 1)[0]
                if state == "log":
                    logs.append({"time": event["time"], **data})
                elif state == "started":
                    running[key] = where
                elif state in FINAL_OPERATION:
                    done += 1
                    running.pop(key, None)
        if execution.status == "succeeded" and total is not None:
            done = total
        found.append(
            {
                "id": execution.id,
                "workflow": execution.workflow_id,
                "status": execution.status,
                "created_at": execution.created_at,
                "ended_at": execution.ended_at,
                "error": execution.error,
                "total": total,
                "done": done,
                "current": next(reversed(running.values()), None),
                "logs": logs[-LOG_LINES:],
            }
        )
    return found


def _describe(service: LifecycleService, name: str) -> dict[str, Any]:
    from ._service import DeploymentHandle

    return DeploymentHandle(service.envs[name]).describe()
