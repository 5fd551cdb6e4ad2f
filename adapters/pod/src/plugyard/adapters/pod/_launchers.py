"""Launchers start a PluginRun somewhere and hand back a handle the host watches.

``inprocess`` runs the plugin on a worker thread of the host; ``process`` runs
``python -m plugyard.sdk.pod --from-env`` under the host's process supervisor. Container
launchers live in :mod:`._containers`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from plugyard.sdk import SPEC_VERSION
from plugyard.sdk.pod import (
    ENV_RUN_ID,
    ENV_SPEC_VERSION,
    ENV_TOKEN,
    ENV_URL,
    PodClient,
    run_plugin,
)

if TYPE_CHECKING:
    from plugyard.host import Supervisor

    from ._pod import Pod

__all__ = [
    "InProcessLauncher",
    "LaunchRequest",
    "Launcher",
    "ProcessLauncher",
    "RunHandle",
    "runner_command",
]

logger = logging.getLogger("plugyard.adapters.pod.launch")


def runner_command(python: str = "python") -> list[str]:
    """The command every out-of-process launcher runs: the SDK's runner, reading the env."""
    return [python, "-u", "-m", "plugyard.sdk.pod", "--from-env"]


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """What a launcher needs: the run, where the pod is, and the run's own token."""

    run_id: str
    plugin_module: str
    plugin_name: str
    pod_url: str
    token: str = field(repr=False)
    env: Mapping[str, str] = field(default_factory=dict)
    memri_url: str | None = None
    python: str | None = None

    def environment(self) -> dict[str, str]:
        """The variables the runner reads (``--from-env``), plus the configured extras.

        With the Memri API on, also the ``POD_*`` variables a Pymemri plugin reads.
        """
        memri: dict[str, str] = {}
        if self.memri_url is not None:
            from .compat import ENV_PLUGIN, memri_environment

            memri = memri_environment(self.run_id, self.memri_url, self.token)
            memri[ENV_PLUGIN] = f"{self.plugin_module}:{self.plugin_name}"
        return {
            **self.env,
            **memri,
            ENV_URL: self.pod_url,
            ENV_RUN_ID: self.run_id,
            ENV_TOKEN: self.token,
            ENV_SPEC_VERSION: SPEC_VERSION,
            "PYTHONUNBUFFERED": "1",
        }


class RunHandle(Protocol):
    """One launched run, as the host watches it."""

    async def wait(self) -> int | None:
        """Wait until the run's process or container ends; its exit code if known."""

    async def stop(self, timeout: float) -> None:
        """Ask it to stop (SIGTERM or the like), and force it after ``timeout`` seconds."""

    def logs(self) -> list[str]:
        """Its captured output lines."""


class Launcher(Protocol):
    """Starts runs; ``name`` is what ``--launcher`` and ``[pod] launcher`` choose by."""

    name: str

    async def start(self, request: LaunchRequest) -> RunHandle:
        """Start the run; an error here means it never started."""


class _ThreadHandle:
    def __init__(self, task: asyncio.Future[int]) -> None:
        self._task = task

    async def wait(self) -> int | None:
        return await asyncio.shield(self._task)

    async def stop(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            logger.warning(
                "an in-process run cannot be killed; it keeps its thread until it returns"
            )

    def logs(self) -> list[str]:
        return []


class InProcessLauncher:
    """Runs plugins on a worker thread of the host, through the direct transport.

    The quickest way to run a plugin, for tests and trusted plugins. An aborted run is told
    through its status and its revoked token, but a thread cannot be killed.
    """

    name = "inprocess"

    def __init__(self, pod: Pod) -> None:
        self.pod = pod

    async def start(self, request: LaunchRequest) -> RunHandle:
        from ._direct import DirectTransport
        from ._pod import Scope

        client = PodClient(transport=DirectTransport(self.pod, Scope(request.run_id)))

        def work() -> int:
            run = client.get_run(request.run_id)
            try:
                return run_plugin(client, run)
            except ValueError:
                return 2

        task = asyncio.ensure_future(asyncio.to_thread(work))
        return _ThreadHandle(task)


class _ProcessHandle:
    def __init__(self, supervisor: Supervisor, name: str) -> None:
        self._supervisor = supervisor
        self.name = name

    async def wait(self) -> int | None:
        info = await self._supervisor.wait(self.name)
        return info.exit_code

    async def stop(self, timeout: float) -> None:
        await self._supervisor.stop(self.name, timeout=timeout)

    def logs(self) -> list[str]:
        try:
            return self._supervisor.logs(self.name)
        except KeyError:
            return []


class ProcessLauncher:
    """Runs each plugin as a child process under the host's supervisor, never restarted.

    The child gets the pod's URL, its run id and its run's token in its environment, never a
    database URL or the owner token. Its output is logged as ``[pod-run-<id>] ...``; the
    supervisor forgets the child once it has ended (the run manager keeps its last output).

    A plugin may run with an interpreter of its own: the run's ``python``, else ``pythons``
    by plugin module (or its top-level package), else ``python``. A foreign interpreter
    needs no plugyard: Pymemri plugins start through Pymemri's own ``run_plugin``.
    """

    name = "process"

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        python: str = sys.executable,
        cwd: str | None = None,
        stop_timeout: float = 5.0,
        env: Mapping[str, str] | None = None,
        pythons: Mapping[str, str] | None = None,
    ) -> None:
        self.supervisor = supervisor
        self.python = python
        self.pythons = dict(pythons or {})
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self.env = dict(env or {})

    def spec(self, request: LaunchRequest) -> Any:
        """The supervisor's ProcessSpec for a run."""
        from plugyard.host import ProcessSpec, RestartPolicy

        python = self.python_for(request)
        if python == sys.executable:
            argv = runner_command(python)
        else:
            from .compat import bootstrap_command

            argv = bootstrap_command(python)
        return ProcessSpec(
            name=f"pod-run-{request.run_id}",
            argv=argv,
            env={**self.env, **request.environment()},
            cwd=self.cwd,
            restart=RestartPolicy.NEVER,
            stop_timeout=self.stop_timeout,
            forget_on_exit=True,
        )

    def python_for(self, request: LaunchRequest) -> str:
        """The interpreter a run's plugin runs with."""
        module = request.plugin_module
        return (
            request.python
            or self.pythons.get(module)
            or self.pythons.get(module.partition(".")[0])
            or self.python
        )

    async def start(self, request: LaunchRequest) -> RunHandle:
        spec = self.spec(request)
        await self.supervisor.start(spec)
        return _ProcessHandle(self.supervisor, spec.name)
