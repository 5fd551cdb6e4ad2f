"""Container launchers: the exact request each would send, driven against fake clients."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from plugyard.adapters.pod._containers import (
    DockerLauncher,
    KubernetesLauncher,
    container_name,
    pod_manifest,
)
from plugyard.adapters.pod._launchers import LaunchRequest
from plugyard.sdk.pod import BadRequest

REQUEST = LaunchRequest(
    run_id="Run_42",
    plugin_module="dogs.plugin",
    plugin_name="ExamplePlugin",
    pod_url="http://127.0.0.1:8080",
    token="secret-token",
    env={"EXTRA": "1"},
)


class FakeContainer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []

    def wait(self) -> dict[str, int]:
        self.calls.append("wait")
        return {"StatusCode": 3}

    def remove(self) -> None:
        self.calls.append("remove")

    def stop(self, timeout: int) -> None:
        self.calls.append(f"stop:{timeout}")

    def logs(self, tail: int) -> bytes:
        return b"line one\nline two\n"


class FakeDocker:
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.containers = self

    def run(self, **kwargs: Any) -> FakeContainer:
        self.runs.append(kwargs)
        return FakeContainer(kwargs["name"])


async def test_docker_sends_image_env_network_name_and_labels() -> None:
    fake = FakeDocker()
    launcher = DockerLauncher(
        "example/dogs:1.0",
        network="plugyard-net",
        pod_url="http://pod:8080",
        client_factory=lambda: fake,
    )
    handle = await launcher.start(REQUEST)
    [sent] = fake.runs
    assert sent["image"] == "example/dogs:1.0"
    assert sent["network"] == "plugyard-net"
    assert sent["detach"] is True
    assert sent["name"] == "plugyard-dogs-1-0-run-42"
    assert sent["command"][-3:] == ["-m", "plugyard.sdk.pod", "--from-env"]
    assert sent["environment"]["PLUGYARD_POD_URL"] == "http://pod:8080"
    assert sent["environment"]["PLUGYARD_POD_RUN_ID"] == "Run_42"
    assert sent["environment"]["PLUGYARD_POD_TOKEN"] == "secret-token"
    assert sent["environment"]["EXTRA"] == "1"
    assert sent["labels"] == {
        "app.kubernetes.io/managed-by": "plugyard",
        "plugyard.model": "pod",
        "plugyard.run-id": "Run_42",
        "plugyard.plugin": "ExamplePlugin",
    }
    assert await handle.wait() == 3
    assert handle.logs() == ["line one", "line two"]
    await handle.stop(0.2)
    container = handle.container  # type: ignore[attr-defined]
    assert container.calls == ["wait", "remove", "stop:1"]


async def test_docker_without_an_engine_says_what_to_do() -> None:
    def no_engine() -> Any:
        raise ConnectionError("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")

    launcher = DockerLauncher("img", client_factory=no_engine)
    with pytest.raises(BadRequest, match=r"cannot reach a Docker engine .*--launcher process"):
        await launcher.start(REQUEST)


def test_the_token_is_not_in_the_request_repr() -> None:
    assert "secret-token" not in repr(REQUEST)


def test_container_names_are_valid_for_docker_and_kubernetes() -> None:
    name = container_name("plugyard", "X" * 80, "registry.example.com/Team/Dogs:Latest")
    assert len(name) <= 63
    assert name == name.lower()
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_the_kubernetes_manifest() -> None:
    manifest = pod_manifest(REQUEST, image="example/dogs:1.0", namespace="plugins", timeout=600)
    assert manifest["apiVersion"] == "v1"
    assert manifest["kind"] == "Pod"
    assert manifest["metadata"]["namespace"] == "plugins"
    assert manifest["metadata"]["labels"]["plugyard.dev/run-id"] == "Run_42"
    spec = manifest["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 600
    [container] = spec["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["PLUGYARD_POD_RUN_ID"] == "Run_42"
    assert env["PLUGYARD_POD_URL"] == "http://127.0.0.1:8080"
    assert container["image"] == "example/dogs:1.0"


class FakeCoreV1:
    def __init__(self) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[tuple[str, str, int]] = []
        self.phases = iter(["Pending", "Running", "Failed"])

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any]) -> None:
        self.created.append((namespace, body))

    def read_namespaced_pod_status(self, name: str, namespace: str) -> Any:
        phase = next(self.phases)
        terminated = SimpleNamespace(exit_code=7) if phase == "Failed" else None
        container = SimpleNamespace(state=SimpleNamespace(terminated=terminated))
        return SimpleNamespace(status=SimpleNamespace(phase=phase, container_statuses=[container]))

    def delete_namespaced_pod(self, name: str, namespace: str, grace_period_seconds: int) -> None:
        self.deleted.append((name, namespace, grace_period_seconds))

    def read_namespaced_pod_log(self, name: str, namespace: str, tail_lines: int) -> str:
        return "started\ndone"


async def test_kubernetes_applies_the_manifest_and_follows_the_pod() -> None:
    api = FakeCoreV1()
    launcher = KubernetesLauncher(
        "example/dogs:1.0", namespace="plugins", poll_interval=0.01, api_factory=lambda: api
    )
    handle = await launcher.start(REQUEST)
    [(namespace, body)] = api.created
    assert namespace == "plugins"
    assert body == pod_manifest(REQUEST, image="example/dogs:1.0", namespace="plugins")
    assert await handle.wait() == 7
    assert handle.logs() == ["started", "done"]
    await handle.stop(5)
    assert api.deleted == [(body["metadata"]["name"], "plugins", 5)]
