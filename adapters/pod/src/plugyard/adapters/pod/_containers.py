"""Container launchers: Docker (through the Docker SDK) and Kubernetes (a Pod manifest).

Both start the image's ``python -m plugyard.sdk.pod --from-env`` with the run's environment,
and, unlike the original pod, keep a handle: the host waits for the exit code and can stop
the container. The clients are optional dependencies, imported when a run is launched.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from plugyard.sdk.pod import BadRequest

from ._launchers import LaunchRequest, RunHandle, runner_command

__all__ = ["DockerLauncher", "KubernetesLauncher", "container_name", "pod_manifest"]

logger = logging.getLogger("plugyard.adapters.pod.containers")
LABELS = {"app.kubernetes.io/managed-by": "plugyard", "plugyard.model": "pod"}


def container_name(prefix: str, run_id: str, image: str) -> str:
    """A name Docker and Kubernetes both accept (lower case, ``[a-z0-9-]``, at most 63)."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"{prefix}-{image.split('/')[-1]}-{run_id}".lower())
    return base.strip("-")[:63].rstrip("-")


def _labels(request: LaunchRequest) -> dict[str, str]:
    return {**LABELS, "plugyard.run-id": request.run_id, "plugyard.plugin": request.plugin_name}


class _DockerHandle:
    def __init__(self, container: Any) -> None:
        self.container = container
        self._final_logs: list[str] | None = None

    async def wait(self) -> int | None:
        result = await asyncio.to_thread(self.container.wait)
        self._final_logs = self.logs()
        try:
            await asyncio.to_thread(self.container.remove)
        except Exception as exc:
            logger.warning("could not remove container %s: %s", self.container.name, exc)
        return int(result.get("StatusCode", -1)) if isinstance(result, Mapping) else None

    async def stop(self, timeout: float) -> None:
        await asyncio.to_thread(self.container.stop, timeout=int(max(timeout, 1)))

    def logs(self) -> list[str]:
        if self._final_logs is not None:
            return self._final_logs
        try:
            raw = self.container.logs(tail=200)
        except Exception as exc:
            return [f"(logs unavailable: {exc})"]
        return raw.decode(errors="replace").splitlines() if isinstance(raw, bytes) else []


class DockerLauncher:
    """Runs each plugin in a container of ``image`` on ``network``, named and labelled per run.

    ``client_factory`` builds the Docker client (default ``docker.from_env``); tests give a
    fake. The container is not removed automatically, so its exit code can be read; the
    host removes it once it has.
    """

    name = "docker"

    def __init__(
        self,
        image: str,
        *,
        network: str | None = None,
        pod_url: str | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.image = image
        self.network = network
        self.pod_url = pod_url
        self._factory = client_factory
        self._client: Any = None

    def _docker(self) -> Any:
        if self._client is not None:
            return self._client
        factory = self._factory
        if factory is None:
            try:
                docker = importlib.import_module("docker")
            except ImportError:
                raise BadRequest(
                    "the docker launcher needs the Docker SDK: pip install 'plugyard-pod[docker]'"
                ) from None
            factory = docker.from_env
        try:
            self._client = factory()
        except Exception as exc:
            raise BadRequest(
                f"cannot reach a Docker engine ({type(exc).__name__}: {exc}); start Docker, "
                "set DOCKER_HOST, or use --launcher process"
            ) from None
        return self._client

    def run_arguments(self, request: LaunchRequest) -> dict[str, Any]:
        """The keyword arguments of ``client.containers.run`` for a run."""
        env = request.environment()
        if self.pod_url:
            env["PLUGYARD_POD_URL"] = self.pod_url
        return {
            "image": self.image,
            "command": runner_command(),
            "environment": env,
            "network": self.network,
            "name": container_name("plugyard", request.run_id, self.image),
            "labels": _labels(request),
            "detach": True,
        }

    async def start(self, request: LaunchRequest) -> RunHandle:
        client = self._docker()
        arguments = self.run_arguments(request)
        try:
            container = await asyncio.to_thread(client.containers.run, **arguments)
        except Exception as exc:
            raise BadRequest(
                f"docker could not start {self.image!r}: {type(exc).__name__}: {exc}"
            ) from None
        return _DockerHandle(container)


def pod_manifest(
    request: LaunchRequest,
    *,
    image: str,
    namespace: str = "default",
    pod_url: str | None = None,
    timeout: float | None = None,
    image_pull_policy: str = "IfNotPresent",
) -> dict[str, Any]:
    """The Kubernetes Pod that runs one PluginRun (never restarted, labelled with the run)."""
    env = request.environment()
    if pod_url:
        env["PLUGYARD_POD_URL"] = pod_url
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "plugin",
                "image": image,
                "imagePullPolicy": image_pull_policy,
                "command": runner_command(),
                "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
            }
        ],
    }
    if timeout is not None:
        spec["activeDeadlineSeconds"] = int(timeout)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": container_name("plugyard", request.run_id, image),
            "namespace": namespace,
            "labels": {
                k.replace("plugyard.", "plugyard.dev/"): v for k, v in _labels(request).items()
            },
        },
        "spec": spec,
    }


class _KubernetesHandle:
    def __init__(self, api: Any, name: str, namespace: str, poll: float) -> None:
        self.api, self.name, self.namespace, self.poll = api, name, namespace, poll

    async def wait(self) -> int | None:
        while True:
            pod = await asyncio.to_thread(
                self.api.read_namespaced_pod_status, self.name, self.namespace
            )
            status = pod.status
            if status.phase in ("Succeeded", "Failed"):
                for container in status.container_statuses or ():
                    terminated = container.state.terminated
                    if terminated is not None:
                        return int(terminated.exit_code)
                return 0 if status.phase == "Succeeded" else 1
            await asyncio.sleep(self.poll)

    async def stop(self, timeout: float) -> None:
        await asyncio.to_thread(
            self.api.delete_namespaced_pod,
            self.name,
            self.namespace,
            grace_period_seconds=int(max(timeout, 1)),
        )

    def logs(self) -> list[str]:
        try:
            text = self.api.read_namespaced_pod_log(self.name, self.namespace, tail_lines=200)
        except Exception as exc:
            return [f"(logs unavailable: {exc})"]
        return str(text).splitlines()


class KubernetesLauncher:
    """Runs each plugin as a Kubernetes Pod built by :func:`pod_manifest`.

    ``api_factory`` returns a ``CoreV1Api`` (default: load the kube config, in-cluster or
    ``~/.kube/config``); tests give a fake.
    """

    name = "kubernetes"

    def __init__(
        self,
        image: str,
        *,
        namespace: str = "default",
        pod_url: str | None = None,
        timeout: float | None = None,
        poll_interval: float = 2.0,
        api_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.image = image
        self.namespace = namespace
        self.pod_url = pod_url
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._factory = api_factory

    def _api(self) -> Any:
        if self._factory is not None:
            return self._factory()
        try:
            client = importlib.import_module("kubernetes.client")
            config = importlib.import_module("kubernetes.config")
        except ImportError:
            raise BadRequest(
                "the kubernetes launcher needs the Kubernetes client: "
                "pip install 'plugyard-pod[kubernetes]'"
            ) from None
        try:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
        except Exception as exc:
            raise BadRequest(f"no usable Kubernetes configuration: {exc}") from None
        return client.CoreV1Api()

    async def start(self, request: LaunchRequest) -> RunHandle:
        api = self._api()
        manifest = pod_manifest(
            request,
            image=self.image,
            namespace=self.namespace,
            pod_url=self.pod_url,
            timeout=self.timeout,
        )
        try:
            await asyncio.to_thread(api.create_namespaced_pod, self.namespace, manifest)
        except Exception as exc:
            raise BadRequest(f"kubernetes refused the pod: {type(exc).__name__}: {exc}") from None
        return _KubernetesHandle(
            api, manifest["metadata"]["name"], self.namespace, self.poll_interval
        )
