"""The lifecycle service on a host (``LifecycleService.of(host)``): deployments and the
plugins their blueprints use as host plugins, workflows run on the host's loop with its
operation wrappers, their events on the host's event stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import PluginState, Service
from plugyard.sdk import HandleBase

from ._plugins import MODEL, LifecyclePluginHandle, plugin_spec
from ._settings import LifecycleSettings

if TYPE_CHECKING:
    from plugyard.host import Host, PluginSpec

    from ._environment import Environment, ExecutionResult

__all__ = ["DeploymentHandle", "LifecycleService"]

logger = logging.getLogger("plugyard.lifecycle")


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
            "plugins": sorted(self.env.blueprint.plugins),
            "instances": len(instances),
            "states": states,
            "last_execution": (
                {"id": last.id, "workflow": last.workflow_id, "status": last.status}
                if last
                else None
            ),
        }


class LifecycleService(Service):
    """Deployments of one host.

    Example::

        service = LifecycleService.of(host)
        await service.open("web", "blueprint.yaml", {"port": 8080})
        result = await service.run("web", "install")
    """

    name = "lifecycle"
    legacy_attributes = {"lifecycle": ""}

    def __init__(self, host: Host, settings: LifecycleSettings) -> None:
        self.host = host
        self.settings = settings
        self.envs: dict[str, Environment] = {}
        self._lock = asyncio.Lock()

    def check_blueprints(self) -> None:
        """Every configured deployment's blueprint is a readable file, before anything
        starts; a ``ConfigError`` names the key otherwise."""
        from plugyard.host import ConfigError

        config = self.host.config
        for name, deployment in self.settings.deployments.items():
            path = deployment.blueprint
            if not path.is_absolute():
                path = config.base_dir / path
            if not path.is_file():
                raise ConfigError(
                    f"{config.where}: lifecycle.deployments.{name}.blueprint: {path} is not a file"
                )

    def configured_plugin_specs(self) -> list[PluginSpec]:
        """Specs of the plugins that the configured deployments' blueprints declare, so that
        the host records, filters and checks them when it loads. A blueprint that cannot
        be read is left to ``plugyard_startup``, which reports it."""
        from ._blueprint import load_blueprint
        from ._errors import BlueprintError

        specs: dict[str, PluginSpec] = {}
        base = self.host.config.base_dir
        for deployment in self.settings.deployments.values():
            path = (
                deployment.blueprint
                if deployment.blueprint.is_absolute()
                else base / deployment.blueprint
            )
            try:
                blueprint = load_blueprint(path, deployment.inputs)
            except (BlueprintError, OSError, ValueError) as exc:
                logger.debug("blueprint %s not read at configure: %s", path, exc)
                continue
            for decl in blueprint.plugins.values():
                specs.setdefault(decl.name, plugin_spec(decl, str(blueprint.path)))
        return list(specs.values())

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
        *,
        storage: str | None = None,
    ) -> Environment:
        """The deployment's environment: loaded from storage, or created from ``blueprint``.

        ``storage`` overrides ``[lifecycle] storage`` / ``storage_dir`` for this deployment.
        """
        async with self._lock:
            env = self.envs.get(deployment)
            if env is None:
                env = await asyncio.to_thread(
                    self._open_sync, deployment, blueprint, inputs, storage
                )
                env.subscribe(self._publish)
                self.envs[deployment] = env
                self._register(env)
            return env

    def _open_sync(
        self,
        deployment: str,
        blueprint: str | Path | None,
        inputs: Mapping[str, Any] | None,
        url: str | None,
    ) -> Environment:
        from ._environment import init_env, load_env
        from ._storage import Storage

        storage = Storage(url or self.settings.storage_for(deployment, self.host.config.base_dir))
        if storage.get_deployment(deployment) is not None or blueprint is None:
            return load_env(deployment, storage, pm=self.host.pm)
        path = Path(blueprint)
        if not path.is_absolute():
            path = self.host.config.base_dir / path
        return init_env(path, deployment, inputs, storage, pm=self.host.pm)

    def _register(self, env: Environment) -> None:
        where = str(env.blueprint.path)
        for decl in env.blueprint.plugins.values():
            if decl.name in self.host.registry:
                continue
            self.host.add_plugin(
                decl.name,
                LifecyclePluginHandle(decl, where),
                source=where,
                version=decl.package_version,
                started=self.host.running,
            )
        name = self.record_name(env.name)
        if name in self.host.registry:
            return
        self.host.add_plugin(
            name, DeploymentHandle(env), source=where, started=self.host.running, filtered=False
        )

    def unavailable(self, env: Environment) -> str | None:
        """Why a workflow of ``env`` cannot run now: a plugin its blueprint uses is
        disabled, failed or stopped (named, with the reason), or ``None``."""
        for decl in env.blueprint.plugins.values():
            if decl.name not in self.host.registry:
                continue
            record = self.host.registry.get(decl.name)
            if record.model != MODEL:
                continue
            if record.state is PluginState.DISABLED:
                return f"lifecycle plugin {decl.name!r} is disabled ({record.error})"
            if record.state is PluginState.FAILED:
                return f"lifecycle plugin {decl.name!r} failed: {record.error}"
            if record.state is PluginState.STOPPED:
                return f"lifecycle plugin {decl.name!r} is stopped (start it first)"
        return None

    async def run(
        self,
        deployment: str,
        workflow: str,
        /,
        *,
        retries: Mapping[str, Any] | None = None,
        **parameters: Any,
    ) -> ExecutionResult:
        """Run a workflow of an open deployment with the configured retry settings.

        ``retries`` overrides them (``task_retries``, ``task_retry_interval``,
        ``task_thread_pool_size``). A workflow whose plugins are not all available is
        refused with a ``ValueError`` naming the plugin.
        """
        env = self.envs.get(deployment) or await self.open(deployment)
        problem = self.unavailable(env)
        if problem is not None:
            raise ValueError(f"deployment {deployment!r}: cannot run {workflow}: {problem}")
        settings = self.settings
        options: dict[str, Any] = {
            "task_retries": settings.task_retries,
            "task_retry_interval": settings.task_retry_interval,
            "task_thread_pool_size": settings.thread_pool_size,
            "executor": settings.executor,
            **(retries or {}),
        }
        return await env.aexecute(workflow, parameters or None, **options)

    async def resume(
        self, deployment: str, execution_id: str, *, reset_operations: bool = False
    ) -> ExecutionResult:
        """Resume an interrupted execution of an open deployment (``reset_operations``: run
        again the operations that were running, resumable or not)."""
        env = self.envs.get(deployment) or await self.open(deployment)
        problem = self.unavailable(env)
        if problem is not None:
            raise ValueError(f"deployment {deployment!r}: cannot resume: {problem}")
        return await env.aresume(execution_id, reset_operations)

    async def close(self) -> None:
        """Close every environment."""
        for env in self.envs.values():
            await asyncio.to_thread(env.close)
            env.storage.close()
        self.envs.clear()
