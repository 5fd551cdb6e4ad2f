"""The pod-plugin adapter (the Pymemri model) for plugyard.

A pod stores typed items, edges and a schema (SQLite or PostgreSQL), serves them at
``/pod/v1`` to plugins holding a run's token, and launches PluginRuns in process, as
supervised subprocesses, in Docker or on Kubernetes. Plugin authors use
:mod:`plugyard.sdk.pod`; this package is what runs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from ._adapter import PodAdapter, adapter
    from ._celery import CeleryLauncher, PodRunTasks
    from ._containers import DockerLauncher, KubernetesLauncher, container_name, pod_manifest
    from ._direct import DirectTransport
    from ._launchers import (
        InProcessLauncher,
        Launcher,
        LaunchRequest,
        ProcessLauncher,
        RunHandle,
        runner_command,
    )
    from ._pod import OWNER, Pod, Scope
    from ._runs import RunManager
    from ._schema import Schema
    from ._service import PodRuntime, PodService
    from ._settings import CeleryLaunchSettings, DockerSettings, KubernetesSettings, PodSettings
    from ._store import ItemRow, Store

__all__ = [
    "CeleryLaunchSettings",
    "CeleryLauncher",
    "DirectTransport",
    "DockerLauncher",
    "DockerSettings",
    "InProcessLauncher",
    "ItemRow",
    "KubernetesLauncher",
    "KubernetesSettings",
    "LaunchRequest",
    "Launcher",
    "OWNER",
    "Pod",
    "PodAdapter",
    "PodRuntime",
    "PodRunTasks",
    "PodService",
    "PodSettings",
    "ProcessLauncher",
    "RunHandle",
    "RunManager",
    "Schema",
    "Scope",
    "Store",
    "adapter",
    "container_name",
    "pod_manifest",
    "runner_command",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PodAdapter": "._adapter",
        "adapter": "._adapter",
        "CeleryLauncher": "._celery",
        "PodRunTasks": "._celery",
        "CeleryLaunchSettings": "._settings",
        "DockerLauncher": "._containers",
        "KubernetesLauncher": "._containers",
        "container_name": "._containers",
        "pod_manifest": "._containers",
        "DirectTransport": "._direct",
        "InProcessLauncher": "._launchers",
        "LaunchRequest": "._launchers",
        "Launcher": "._launchers",
        "ProcessLauncher": "._launchers",
        "RunHandle": "._launchers",
        "runner_command": "._launchers",
        "OWNER": "._pod",
        "Pod": "._pod",
        "Scope": "._pod",
        "RunManager": "._runs",
        "PodRuntime": "._service",
        "Schema": "._schema",
        "DockerSettings": "._settings",
        "KubernetesSettings": "._settings",
        "PodSettings": "._settings",
        "ItemRow": "._store",
        "Store": "._store",
        "PodService": "._service",
    },
    public=__all__,
)
