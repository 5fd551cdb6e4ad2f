"""The lifecycle service on a host (``host.lifecycle``): deployments as host plugins, their
workflows run on the host's loop, their events on the host's event stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.sdk import HandleBase

from ._settings import LifecycleSettings

if TYPE_CHECKING:
    from plugyard.host import Host

    from ._environment import Environment, ExecutionResult

__all__ = ["DeploymentHandle", "LifecycleService"]

logger = logging.getLogger("plugyard.lifecycle")
MODEL = "lifecycle"


class DeploymentHandle(HandleBase):
    """A deployment as the host sees it: a plugin record whose details are its instances."""

    model = MODEL

    def __init__(self, env: Environment) -> None:
        self.env = env

    def start(self) -> None:
        """Deployments hold no running resources of their own; workflows do the work."""

    def stop(self) -> None:
        """See :meth:`start`."""

    def describe(self) -> dict[str, Any]:
        """Instance states and the last execution."""
        instances = self.env.storage.get_node_instances(self.env.name)
        states: dict[str, int] = {}
        for instance in instances:
            states[instance.state] = states.get(instance.state, 0) + 1
        executions = self.env.storage.list_executions(self.env.name)
        last = executions[-1] if executions else None
        return {
            "deployment": self.env.name,
            "blueprint": str(self.env.blueprint.path),
            "instances": len(instances),
            "states": states,
            "last_execution": (
                {"id": last.id, "workflow": last.workflow_id, "status": last.status}
                if last
                else None
            ),
        }


class LifecycleService:
    """Deployments of one host, reachable as ``host.lifecycle``."""

    def __init__(self, host: Host, settings: LifecycleSettings) -> None:
        self.host = host
        self.settings = settings
        self.envs: dict[str, Environment] = {}
        self._lock = asyncio.Lock()

    def record_name(self, deployment: str) -> str:
        """The host plugin name of a deployment."""
        return f"lifecycle.{deployment}"

    def _publish(self, topic: str, data: dict[str, Any]) -> None:
        self.host.publish_event(topic, data, source=MODEL)

    async def open(
        self,
        deployment: str,
        blueprint: str | Path | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> Environment:
        """The deployment's environment: loaded from storage, or created from ``blueprint``."""
        async with self._lock:
            env = self.envs.get(deployment)
            if env is None:
                env = await asyncio.to_thread(self._open_sync, deployment, blueprint, inputs)
                env.subscribe(self._publish)
                self.envs[deployment] = env
                self._register(env)
            return env

    def _open_sync(
        self, deployment: str, blueprint: str | Path | None, inputs: Mapping[str, Any] | None
    ) -> Environment:
        from ._environment import init_env, load_env
        from ._storage import Storage

        storage = Storage(self.settings.storage_for(deployment, self.host.config.base_dir))
        if storage.get_deployment(deployment) is not None or blueprint is None:
            return load_env(deployment, storage, pm=self.host.pm)
        path = Path(blueprint)
        if not path.is_absolute():
            path = self.host.config.base_dir / path
        return init_env(path, deployment, inputs, storage, pm=self.host.pm)

    def _register(self, env: Environment) -> None:
        name = self.record_name(env.name)
        if name in self.host.registry:
            return
        self.host.add_plugin(
            name,
            DeploymentHandle(env),
            source=str(env.blueprint.path),
            started=self.host.running,
        )

    async def run(self, deployment: str, workflow: str, **parameters: Any) -> ExecutionResult:
        """Run a workflow of an open deployment with the configured retry settings."""
        env = self.envs.get(deployment) or await self.open(deployment)
        settings = self.settings
        return await env.aexecute(
            workflow,
            parameters or None,
            task_retries=settings.task_retries,
            task_retry_interval=settings.task_retry_interval,
            task_thread_pool_size=settings.thread_pool_size,
        )

    async def close(self) -> None:
        """Close every environment."""
        for env in self.envs.values():
            await asyncio.to_thread(env.close)
            env.storage.close()
        self.envs.clear()
