"""The ``[pod]`` configuration section."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["CeleryLaunchSettings", "DockerSettings", "KubernetesSettings", "PodSettings"]


class CeleryLaunchSettings(BaseModel):
    """``[pod.celery]``: the queue runs are sent to, and the pod URL workers reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: Annotated[str, Field(min_length=1, max_length=200)] = "pod"
    """The Celery queue runs are sent to; workers serve it with ``plugyard worker -Q``."""
    pod_url: Annotated[str | None, Field(pattern=r"^https?://")] = None
    """The pod API's URL as the workers reach it; none means the host's own URL, which only
    a worker on the same machine reaches (set ``http_host`` and ``allow_remote`` to serve
    others, behind TLS)."""
    poll: Annotated[float, Field(gt=0, le=60)] = 0.05
    """Seconds between reads of a run's task state in the result backend."""


class DockerSettings(BaseModel):
    """``[pod.docker]``: the image plugins run in, its network, and the pod URL it can reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = "plugyard-pod-plugin:latest"
    """The image each run's container starts from."""
    network: str | None = None
    """The Docker network the containers join; none means Docker's default."""
    pod_url: str | None = None
    """The pod API's URL as a container reaches it; none means the host's own URL, which a
    container usually cannot reach on loopback."""


class KubernetesSettings(BaseModel):
    """``[pod.kubernetes]``: image, namespace, and the pod URL reachable from the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = "plugyard-pod-plugin:latest"
    """The image each run's Pod starts from."""
    namespace: str = "default"
    """The Kubernetes namespace the Pods are created in."""
    pod_url: str | None = None
    """The pod API's URL as the cluster reaches it; none means the host's own URL."""


class PodSettings(BaseModel):
    """``[pod]``: where items are stored, how runs are launched and served.

    ``database`` is a SQLAlchemy URL (default: ``pod.sqlite3`` beside the configuration);
    ``db_schema`` keeps the tables in a PostgreSQL schema.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: str | None = None
    """A SQLAlchemy URL for items, edges, schema and runs (SQLite or
    ``postgresql+psycopg://...``); none means ``pod.sqlite3`` beside the configuration."""
    db_schema: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    """A PostgreSQL schema to keep the tables in, created if missing."""
    launcher: Literal["inprocess", "process", "docker", "kubernetes", "celery"] = "process"
    """The launcher runs use unless they name one."""
    run_timeout: float | None = Field(None, gt=0)
    """Seconds a run may take before it is stopped and put in ``error``; none for no
    limit."""
    abort_grace: float = Field(5.0, ge=0)
    """Seconds between SIGTERM and SIGKILL when a run is aborted or timed out."""
    http_host: str = "127.0.0.1"
    """The IP address the pod serves its API on when no other adapter serves the host's HTTP
    app; loopback only unless ``allow_remote`` is set."""
    allow_remote: bool = False
    """Allow a non-loopback ``http_host``: run tokens then cross the network in plain HTTP,
    so put TLS in front of it."""
    http_port: int = Field(0, ge=0, le=65535)
    """The port for that server; 0 picks a free one. The URL is advertised as ``pod_url``."""
    max_body_size: int = Field(16 * 1024 * 1024, ge=1024, le=1 << 31)
    """Bytes of request body the pod API accepts (an item, a bulk batch); more is answered
    413 before it is stored. Served on the host's HTTP app, ``[http] max_body_size`` applies
    too."""
    python: str | None = None
    """The interpreter the ``process`` launcher runs plugins with; none means the host's.
    Another interpreter needs no plugyard installed: a Pymemri plugin's environment works."""
    pythons: dict[str, str] = {}
    """Interpreters by plugin module or top-level package (``{"dogs" = ".venv-dogs/bin/python"}``),
    for plugins that each need an environment of their own; a run's own ``python`` wins."""
    memri_api: bool = True
    """Serve the Memri pod API (what Pymemri's ``PodClient`` speaks) at ``/memri``, beside
    ``/pod/v1`` and over the same items."""
    max_file_size: int = Field(64 * 1024 * 1024, ge=1024, le=1 << 31)
    """The largest file upload the pod takes, in bytes (on both APIs); more is answered
    413. Other request bodies are bounded by ``max_body_size``."""
    docker: DockerSettings = DockerSettings()
    """Settings of the ``docker`` launcher."""
    kubernetes: KubernetesSettings = KubernetesSettings()
    """Settings of the ``kubernetes`` launcher."""
    celery: CeleryLaunchSettings = CeleryLaunchSettings()
    """Settings of the ``celery`` launcher (runs as tasks on Celery workers)."""

    @model_validator(mode="after")
    def _loopback_only(self) -> PodSettings:
        host = "127.0.0.1" if self.http_host == "localhost" else self.http_host
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"http_host: expected an IP address such as 127.0.0.1, got {self.http_host!r}"
            ) from None
        if not address.is_loopback and not self.allow_remote:
            raise ValueError(
                f"http_host: {self.http_host} is reachable from other machines; set "
                "allow_remote = true to serve the pod API there, or bind 127.0.0.1"
            )
        return self

    @field_validator("database")
    @classmethod
    def _database_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = value.partition("://")[0].partition("+")[0]
        if "://" not in value or scheme not in ("sqlite", "postgresql"):
            raise ValueError(f"expected a sqlite:///FILE or postgresql://... URL, got {value!r}")
        return value

    def database_url(self, base_dir: Path) -> str:
        """The database URL, with the default SQLite file placed in ``base_dir``.

        ``postgresql://`` means the installed psycopg 3 driver (``postgresql+psycopg://``),
        not SQLAlchemy's default psycopg2.
        """
        if self.database is None:
            return f"sqlite:///{(base_dir / 'pod.sqlite3').resolve()}"
        if self.database.startswith("postgresql://"):
            return "postgresql+psycopg://" + self.database.removeprefix("postgresql://")
        return self.database
