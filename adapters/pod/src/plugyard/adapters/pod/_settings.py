"""The ``[pod]`` configuration section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DockerSettings", "KubernetesSettings", "PodSettings"]


class DockerSettings(BaseModel):
    """``[pod.docker]``: the image plugins run in, its network, and the pod URL it can reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = "plugyard-pod-plugin:latest"
    network: str | None = None
    pod_url: str | None = None


class KubernetesSettings(BaseModel):
    """``[pod.kubernetes]``: image, namespace, and the pod URL reachable from the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = "plugyard-pod-plugin:latest"
    namespace: str = "default"
    pod_url: str | None = None


class PodSettings(BaseModel):
    """``[pod]``: where items are stored, how runs are launched and served.

    ``database`` is a SQLAlchemy URL (default: ``pod.sqlite3`` beside the configuration);
    ``db_schema`` keeps the tables in a PostgreSQL schema.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: str | None = None
    db_schema: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    launcher: Literal["inprocess", "process", "docker", "kubernetes"] = "process"
    run_timeout: float | None = Field(None, gt=0)
    abort_grace: float = Field(5.0, ge=0)
    http_host: str = "127.0.0.1"
    http_port: int = Field(0, ge=0, le=65535)
    python: str | None = None
    docker: DockerSettings = DockerSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()

    def database_url(self, base_dir: Path) -> str:
        """The database URL, with the default SQLite file placed in ``base_dir``."""
        return self.database or f"sqlite:///{(base_dir / 'pod.sqlite3').resolve()}"
