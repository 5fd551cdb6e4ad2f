"""The ``[lifecycle]`` configuration section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeploymentSettings", "LifecycleSettings"]


class DeploymentSettings(BaseModel):
    """One ``[lifecycle.deployments.NAME]`` table: a deployment the host knows at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blueprint: Path
    inputs: dict[str, Any] = {}


class LifecycleSettings(BaseModel):
    """``[lifecycle]``: where deployments are stored and how workflows retry.

    ``storage`` is a SQLAlchemy URL (``postgresql://...``) holding every deployment; without
    it each deployment gets its own SQLite file in ``storage_dir``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: str | None = None
    storage_dir: Path = Path(".plugyard/lifecycle")
    task_retries: int = Field(3, ge=-1)
    task_retry_interval: float = Field(5.0, ge=0)
    thread_pool_size: int = Field(8, gt=0)
    deployments: dict[str, DeploymentSettings] = {}

    def storage_for(self, deployment: str, base_dir: Path) -> str:
        """The storage URL or SQLite file of one deployment."""
        if self.storage:
            return self.storage
        folder = self.storage_dir if self.storage_dir.is_absolute() else base_dir / self.storage_dir
        return str(folder / f"{deployment}.db")
