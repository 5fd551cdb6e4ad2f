"""The ``[asyncio]`` and ``[http]`` configuration sections."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._declarations import OverflowPolicy

__all__ = ["AsyncioSettings", "DeliverySettings", "EventTypeSettings", "HttpSettings"]


class EventTypeSettings(BaseModel):
    """``[asyncio.events.NAME]``: an event type declared in configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern=r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")
    overflow: OverflowPolicy = OverflowPolicy.DROP_OLDEST
    publish: bool = True


class DeliverySettings(BaseModel):
    """``[asyncio.delivery.PLUGIN]``: one event plugin's queue size and handler timeout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_size: int | None = Field(None, gt=0)
    handler_timeout: float | None = Field(None, ge=0)


class AsyncioSettings(BaseModel):
    """The ``[asyncio]`` section.

    ``plugin_dirs`` and ``active_plugins`` enable plugins by file name (without ``.py``);
    ``queue_size`` and ``handler_timeout`` (seconds, 0 for none) apply to every event plugin
    unless ``[asyncio.delivery.PLUGIN]`` says otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    plugin_dirs: list[Path] = []
    active_plugins: list[str] = []
    queue_size: int = Field(1000, gt=0)
    handler_timeout: float = Field(5.0, ge=0)
    initialize_timeout: float = Field(5.0, gt=0)
    close_timeout: float = Field(5.0, gt=0)
    events: dict[str, EventTypeSettings] = {}
    delivery: dict[str, DeliverySettings] = {}


class HttpSettings(BaseModel):
    """The ``[http]`` section: where ``plugyard run`` serves the host's ASGI app.

    Only loopback addresses unless ``allow_remote = true``; ``port = 0`` picks a free port.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    allow_remote: bool = False
    log_level: str = Field("warning", pattern=r"(?i)^(debug|info|warning|error|critical)$")

    @field_validator("host")
    @classmethod
    def _address(cls, value: str) -> str:
        if value == "localhost":
            return "127.0.0.1"
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"expected an IP address such as 127.0.0.1, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _loopback_only(self) -> HttpSettings:
        if not self.allow_remote and not ipaddress.ip_address(self.host).is_loopback:
            raise ValueError(
                f"host {self.host!r} is not a loopback address; set allow_remote = true to "
                "serve plugin routes beyond this machine"
            )
        return self
