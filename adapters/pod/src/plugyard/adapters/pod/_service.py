"""One host's pod (``PodService.of(host)``): the store, the run manager, the URL plugins
reach it at, the owner token, and the registry records of pod plugins and runs."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import PluginState, Service
from plugyard.sdk.pod import PodClient, PodError

from ._http import PREFIX, LocalOnly, pod_routes
from ._plugins import MODEL, PodPluginHandle, PodRunHandle
from ._settings import PodSettings

if TYPE_CHECKING:
    from plugyard.host import Host

    from ._pod import Pod
    from ._runs import RunManager

__all__ = ["OWNER_TOKEN_FILE", "PodRuntime", "PodService"]

logger = logging.getLogger("plugyard.adapters.pod")
OWNER_TOKEN_FILE = "pod-owner.token"


class _Unavailable(PodError):
    status = 503


class PodService(Service):
    """What the pod adapter keeps per host.

    Example::

        pod = PodService.of(host)
        run = await pod.launch({"plugin_module": "dogs", "plugin_name": "ExamplePlugin"})
        client = pod.client()          # the owner's direct client
    """

    name = "pod"
    legacy_attributes = {"pod": ""}
    KEEP_RUN_RECORDS = 100
    """Ended runs kept in the host's registry (older ones are dropped from it, not from the
    pod's store)."""

    def __init__(self, host: Host, settings: PodSettings) -> None:
        self.host = host
        self.settings = settings
        self.pod: Pod | None = None
        self.runs: RunManager | None = None
        self._url: str | None = None
        self._url_lock = asyncio.Lock()
        self._server: Any = None
        self._server_task: asyncio.Task[None] | None = None
        self._ended_runs: list[str] = []

    @property
    def token_file(self) -> Path:
        """Where the owner token is written (inside the host's 0700 runtime folder)."""
        return Path(self.host.runtime_dir) / OWNER_TOKEN_FILE

    def routes(self) -> list[Any]:
        """The HTTP API, for the host's ASGI app (and the Memri API unless turned off)."""
        settings = self.settings
        routes = pod_routes(
            self.require_pod,
            lambda: self.runs,
            max_body_size=settings.max_body_size,
            max_file_size=settings.max_file_size,
        )
        if settings.memri_api:
            from .compat import memri_routes

            routes += memri_routes(
                self.require_pod, lambda: self.runs, max_body=settings.max_file_size
            )
        from starlette.middleware import Middleware
        from starlette.routing import Mount

        return [
            Mount(
                mount.path,
                routes=mount.routes,
                middleware=[Middleware(LocalOnly, allow_remote=settings.allow_remote)],
            )
            for mount in routes
        ]

    async def memri_url(self) -> str:
        """Where Pymemri's ``PodClient`` finds this pod (its ``pod_full_address``)."""
        from .compat import MEMRI_PREFIX

        return (await self.url()).removesuffix(PREFIX) + MEMRI_PREFIX

    def require_pod(self) -> Pod:
        """The open pod; a 503 ``PodError`` before startup or after shutdown."""
        if self.pod is None:
            raise _Unavailable("the pod is not started")
        return self.pod

    async def open(self) -> None:
        """Open the store, build the launchers, write the owner token file."""
        from ._pod import Pod
        from ._runs import RunManager
        from ._store import Store

        settings = self.settings
        store = Store(settings.database_url(self.host.config.base_dir), schema=settings.db_schema)
        await asyncio.to_thread(store.create)
        host = self.host
        self.pod = pod = await asyncio.to_thread(
            Pod, store, publish=lambda topic, data: host.publish_event(topic, data, source="pod")
        )
        self.runs = RunManager(
            pod,
            self._launchers(),
            pod_url=self.url,
            default=settings.launcher,
            timeout=settings.run_timeout,
            abort_grace=settings.abort_grace,
            on_end=self._run_ended,
            memri_api=settings.memri_api,
        )
        await asyncio.to_thread(self.runs.fail_orphaned_runs)
        from plugyard.host import ensure_private_dir

        ensure_private_dir(Path(host.runtime_dir))
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pod.owner_token)
        host.advertise("pod_owner_token_file", str(self.token_file))

    def _launchers(self) -> dict[str, Any]:
        from ._containers import DockerLauncher, KubernetesLauncher
        from ._launchers import InProcessLauncher, ProcessLauncher

        assert self.pod is not None
        settings = self.settings
        launchers: list[Any] = [
            InProcessLauncher(self.pod),
            ProcessLauncher(
                self.host.processes,
                python=settings.python or sys.executable,
                pythons=settings.pythons,
                cwd=str(self.host.config.base_dir),
                stop_timeout=settings.abort_grace,
            ),
            DockerLauncher(
                settings.docker.image,
                network=settings.docker.network,
                pod_url=settings.docker.pod_url,
            ),
            KubernetesLauncher(
                settings.kubernetes.image,
                namespace=settings.kubernetes.namespace,
                pod_url=settings.kubernetes.pod_url,
                timeout=settings.run_timeout,
            ),
        ]
        if importlib.util.find_spec("celery") is not None:
            from ._celery import CeleryLauncher

            launchers.append(
                CeleryLauncher(
                    queue=settings.celery.queue,
                    pod_url=settings.celery.pod_url,
                    poll=settings.celery.poll,
                )
            )
        return {launcher.name: launcher for launcher in launchers}

    async def url(self) -> str:
        """The pod API's URL: on the host's HTTP server if one is advertised, else our own."""
        if self._url is not None:
            return self._url
        async with self._url_lock:
            if self._url is None:
                http_url = self.host.advertised.get("http_url")
                if http_url:
                    self._url = str(http_url).rstrip("/") + PREFIX
                else:
                    self._url = await self._serve()
                self.host.advertise("pod_url", self._url)
        return self._url

    async def _serve(self) -> str:
        """Serve the API with uvicorn on the host's loop (no ASGI app is advertised)."""
        import uvicorn
        from starlette.applications import Starlette

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # the host owns SIGINT and SIGTERM

        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every response waits 40 ms for a delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.http_host, self.settings.http_port))
        port = sock.getsockname()[1]
        from plugyard.host import HttpLimits, uvicorn_config

        config = uvicorn_config(
            Starlette(routes=self.routes()),
            HttpLimits(max_body_size=self.settings.max_body_size),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = _Server(config)
        self._server = server
        self._server_task = asyncio.create_task(server.serve(sockets=[sock]), name="pod-http")
        while not server.started:
            if self._server_task.done():
                self._server_task.result()
                raise RuntimeError("the pod's HTTP server stopped while starting")
            await asyncio.sleep(0.005)
        url = f"http://{self.settings.http_host}:{port}{PREFIX}"
        logger.info("pod API serving at %s", url)
        return url

    def client(self, run_id: str | None = None) -> PodClient:
        """A direct client: the owner's, or scoped to one run."""
        from ._direct import DirectTransport
        from ._pod import Scope

        return PodClient(transport=DirectTransport(self.require_pod(), Scope(run_id)))

    async def launch(
        self,
        fields: dict[str, Any],
        launcher: str | None = None,
    ) -> dict[str, Any]:
        """Create a run from ``fields`` (plugin_module, plugin_name, config ...) and launch it.

        The plugin is a registry record (found by its module and class, or added now); a
        plugin that is disabled, failed or stopped is refused with a ``BadRequest``.
        """
        pod, runs = self.require_pod(), self.runs
        assert runs is not None
        from ._pod import OWNER

        plugin = self._plugin_for(fields)
        run, _token = await asyncio.to_thread(pod.create_run, OWNER, fields)
        run_id = run["id"]
        chosen = launcher or runs.default
        self.host.add_plugin(
            f"pod.run.{run_id}",
            PodRunHandle(self, run_id, plugin, chosen),
            source=f"pod run of {plugin}",
            filtered=False,
            started=self.host.running,
        )
        handle = self.host.registry.handle(plugin)
        if isinstance(handle, PodPluginHandle):
            handle.launches += 1
        try:
            await runs.launch(run_id, launcher)
        except BaseException:
            self._record_end(run_id, "error")
            raise
        return pod.get_run(OWNER, run_id)

    def _plugin_for(self, fields: Mapping[str, Any]) -> str:
        from plugyard.sdk.pod import BadRequest

        module = str(fields.get("plugin_module") or "")
        cls = str(fields.get("plugin_name") or "")
        if not module or not cls:
            raise BadRequest("a run needs plugin_module and plugin_name")
        for record in self.host.registry:
            if record.target == f"{module}:{cls}" and record.model in (MODEL, "unknown"):
                name = record.name
                break
        else:
            name = cls if cls not in self.host.registry else f"{module}:{cls}"
            if name not in self.host.registry:
                self.host.add_plugin(
                    name,
                    PodPluginHandle(module, cls, "a run's metadata"),
                    source=f"run metadata {module}:{cls}",
                    started=self.host.running,
                    target=f"{module}:{cls}",
                )
        record = self.host.registry.get(name)
        if record.state in (PluginState.DISABLED, PluginState.FAILED, PluginState.STOPPED):
            reason = f" ({record.error})" if record.error else ""
            raise BadRequest(
                f"pod plugin {name!r} is {record.state}{reason}; it cannot be launched"
            )
        return name

    async def _run_ended(self, run_id: str) -> None:
        from ._pod import OWNER

        run = await asyncio.to_thread(self.require_pod().get_run, OWNER, run_id)
        self._record_end(run_id, str(run.get("status")))

    def _record_end(self, run_id: str, status: str) -> None:
        """Mark a run's record stopped (or failed), keeping the last ended runs listed."""
        name = f"pod.run.{run_id}"
        if name not in self.host.registry:
            return
        record = self.host.registry.get(name)
        if record.state is PluginState.STARTED or record.state is PluginState.LOADED:
            if status in ("error", "aborted"):
                self.host.set_plugin_state(name, PluginState.FAILED, f"run ended: {status}")
            else:
                self.host.set_plugin_state(name, PluginState.STOPPED, f"run ended: {status}")
        self._ended_runs.append(name)
        while len(self._ended_runs) > self.KEEP_RUN_RECORDS:
            self.host.registry.remove(self._ended_runs.pop(0))

    async def wait(self, run_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until a launched run is no longer watched; returns the run."""
        assert self.runs is not None
        from ._pod import OWNER

        await asyncio.wait_for(self.runs.wait(run_id), timeout)
        return self.require_pod().get_run(OWNER, run_id)

    async def close(self) -> None:
        """Abort runs still going, stop the server, close the store."""
        if self.runs is not None:
            await self.runs.stop_all()
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(self._server_task, 5)
            except (TimeoutError, Exception):
                logger.warning("the pod's HTTP server did not stop cleanly", exc_info=True)
        if self.pod is not None:
            self.pod.store.close()
        self.token_file.unlink(missing_ok=True)


PodRuntime = PodService
"""The former name of :class:`PodService` (deprecated; kept for one release)."""
