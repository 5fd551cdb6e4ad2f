"""The ``[lifecycle]`` configuration section."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeploymentSettings", "LifecycleSettings", "set_template_limit", "template_limit"]


class DeploymentSettings(BaseModel):
    """One ``[lifecycle.deployments.NAME]`` table: a deployment the host knows at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blueprint: Path
    """The blueprint file, relative to the configuration file's folder."""
    inputs: dict[str, Any] = {}
    """The blueprint's inputs."""


class LifecycleSettings(BaseModel):
    """``[lifecycle]``: where deployments are stored and how workflows retry.

    ``storage`` is a SQLAlchemy URL (``postgresql://...``) holding every deployment; without
    it each deployment gets its own SQLite file in ``storage_dir``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: str | None = None
    """A SQLAlchemy URL (``postgresql://...``) that holds every deployment; none gives each
    deployment its own SQLite file in ``storage_dir``."""
    storage_dir: Path = Path(".plugyard/lifecycle")
    """Folder of the per-deployment SQLite files, relative to the configuration file's
    folder."""
    task_retries: int = Field(3, ge=-1)
    """How often a failed operation is retried (-1: no limit); a blueprint's
    ``max_retries`` overrides it per operation."""
    task_retry_interval: float = Field(5.0, ge=0)
    """Seconds between retries, unless the error or the blueprint says otherwise."""
    thread_pool_size: int = Field(8, gt=0)
    """Worker threads that run plain (non-``async``) operations (with the ``process``
    executor: child processes running at once; with ``celery``: tasks being sent at once)."""
    executor: Literal["local", "process", "celery"] = "local"
    """Where operations run: ``local`` (a thread of the host; a timeout marks the operation
    timed out but cannot stop it), ``process`` (a child process per operation, killed at its
    timeout) or ``celery`` (a Celery task on the agent queue of the instance's host, served
    by ``plugyard worker -Q NAME``)."""
    max_blueprint_size: int = Field(4 * 1024 * 1024, ge=1024, le=1 << 30)
    """Bytes of one blueprint (or imported) YAML file; a bigger one is refused."""
    max_blueprint_values: int = Field(1_000_000, ge=100, le=100_000_000)
    """Values a blueprint file may expand to, each alias counted as the copy it stands for
    (an "alias bomb" of a few hundred bytes would otherwise take gigabytes)."""
    max_blueprint_depth: int = Field(100, ge=8, le=10_000)
    """Sequences and mappings nested in one another in a blueprint file."""
    max_instances: int = Field(10_000, ge=1, le=10_000_000)
    """Node instances one deployment may have (a node's ``instances.deploy`` times those
    of the nodes it is contained in, summed over every node); a bigger plan is refused."""
    max_template_size: int = Field(16 * 1024 * 1024, ge=1024, le=1 << 30)
    """Characters a resource rendered by ``get_resource_and_render`` may hold, and any
    value built while rendering it (``'A' * 4000000000`` is refused before it is built)."""
    deployments: dict[str, DeploymentSettings] = {}
    """Deployments the host opens at start, one ``[lifecycle.deployments.NAME]`` table
    each; each becomes the plugin ``lifecycle.NAME``."""

    def storage_for(self, deployment: str, base_dir: Path) -> str:
        """The storage URL or SQLite file of one deployment."""
        if self.storage:
            return self.storage
        folder = self.storage_dir if self.storage_dir.is_absolute() else base_dir / self.storage_dir
        return str(folder / f"{deployment}.db")


_template_limit = 16 * 1024 * 1024


def set_template_limit(size: int) -> None:
    """Characters a rendered resource template may hold (a host sets it from ``[lifecycle]``)."""
    global _template_limit
    _template_limit = size


def template_limit() -> int:
    """The limit :func:`set_template_limit` set: 16 MiB until a host sets another."""
    return _template_limit
