"""The ``[asyncio]`` and ``[http]`` configuration sections."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ._declarations import OverflowPolicy

if TYPE_CHECKING:
    from plugyard.host import HttpLimits

__all__ = ["AsyncioSettings", "DeliverySettings", "EventTypeSettings", "HttpSettings"]


class EventTypeSettings(BaseModel):
    """``[asyncio.events.NAME]``: an event type declared in configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern=r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")
    """The payload type, a dataclass or pydantic model, as ``pkg.module:Class``."""
    overflow: OverflowPolicy = OverflowPolicy.DROP_OLDEST
    """What a full plugin queue does with a new event: ``block``, ``drop_oldest`` or
    ``drop_new``."""
    publish: bool = True
    """Also publish each event as the host event ``events.<name>``, so every model sees it."""


class DeliverySettings(BaseModel):
    """``[asyncio.delivery.PLUGIN]``: one event plugin's queue size and handler timeout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_size: int | None = Field(None, gt=0)
    """This plugin's queue size; none means ``[asyncio] queue_size``."""
    handler_timeout: float | None = Field(None, ge=0)
    """This plugin's handler timeout in seconds (0 for none); none means
    ``[asyncio] handler_timeout``."""


class AsyncioSettings(BaseModel):
    """The ``[asyncio]`` section.

    ``queue_size`` and ``handler_timeout`` (seconds, 0 for none) apply to every event plugin
    unless ``[asyncio.delivery.PLUGIN]`` says otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    plugin_dirs: list[Path] = []
    """Deprecated: use ``[host] plugin_dirs``, the one plugin-folder setting for every model.
    Still read for one release, with a warning."""
    active_plugins: list[str] = []
    """Deprecated: use ``[host] active_plugins``. Still read for one release, with a
    warning."""
    queue_size: int = Field(1000, gt=0)
    """Events each event plugin's queue holds before the event type's overflow policy
    applies."""
    handler_timeout: float = Field(5.0, ge=0)
    """Seconds a ``handle_event`` call may take before it is cancelled and counted as a
    timeout (0 for none)."""
    initialize_timeout: float = Field(5.0, gt=0)
    """Seconds a plugin's ``initialize()`` may take; a plugin that overruns is failed."""
    close_timeout: float = Field(5.0, gt=0)
    """Seconds a plugin's ``close()`` may take at stop."""
    events: dict[str, EventTypeSettings] = {}
    """Event types declared in configuration, one ``[asyncio.events.NAME]`` table each."""
    delivery: dict[str, DeliverySettings] = {}
    """Per-plugin queue settings, one ``[asyncio.delivery.PLUGIN]`` table each."""
    luna_compat: bool | None = None
    """Supply LUNA PLATFORM's module names (``crutches_on_wheels``, ``classes``) to plugin
    files: ``true`` always, ``false`` never; unset, only when an active plugin file imports
    them."""


class HttpSettings(BaseModel):
    """The ``[http]`` section: where ``plugyard run`` serves the host's ASGI app.

    Only loopback addresses unless ``allow_remote = true``; ``port = 0`` picks a free port.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """Serve the host's ASGI app; ``false`` keeps the section without a server."""
    host: str = "127.0.0.1"
    """The IP address to bind (``localhost`` means ``127.0.0.1``); loopback only unless
    ``allow_remote`` is set."""
    port: int = Field(8080, ge=0, le=65535)
    """The TCP port; 0 picks a free one. The bound address is advertised as ``http_url`` in
    ``host.json``."""
    allow_remote: bool = False
    """Allow a non-loopback ``host``, which serves every plugin route beyond this machine.
    A client on another machine then gets only ``{"status": ...}`` from ``/health`` and a
    401 from ``/plugins`` unless it sends the HTTP token; the pod API stays closed to it
    unless ``[pod] allow_remote`` is set too."""
    token: SecretStr | None = Field(None, min_length=16)
    """The bearer token a client on another machine needs for ``/plugins`` and the full
    ``/health``; by default a new random one per host, written to ``http.token`` (mode
    0600) in the host's runtime folder."""
    log_level: str = Field("warning", pattern=r"(?i)^(debug|info|warning|error|critical)$")
    """uvicorn's log level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``."""
    request_monitoring: bool | None = None
    """Emit ``monitoring_event`` after every request, with one point (route, status, request
    id, start time, duration). Unset: on when plugyard serves HTTP (``enabled = true``), off
    when an application serves ``host.asgi_app`` itself; ``true`` or ``false`` decides."""
    request_id_header: str = Field("X-Request-Id", pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
    """The header that carries a request's id (``Luna-Request-Id`` for LUNA clients); a
    request without it gets a generated id, and every response carries it."""
    max_connections: int = Field(256, ge=1, le=100_000)
    """Connections open at once; one more is answered 503 and closed."""
    header_timeout: float = Field(10.0, gt=0, le=3600)
    """Seconds a connection may take to send a request's headers before it is closed."""
    max_header_size: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    """Bytes of request line and headers; more is answered 431."""
    body_timeout: float = Field(30.0, gt=0, le=3600)
    """Seconds a request body may stall before the request is answered 408."""
    max_body_size: int = Field(16 * 1024 * 1024, ge=1024, le=1 << 31)
    """Bytes of request body; more is answered 413 (the pod API has its own, smaller or
    equal, ``[pod] max_body_size``)."""
    keepalive_timeout: float = Field(5.0, ge=1, le=3600)
    """Seconds an idle kept-alive connection stays open."""

    def limits(self) -> HttpLimits:
        """These settings as the server's :class:`~plugyard.host.HttpLimits`."""
        from plugyard.host import HttpLimits

        return HttpLimits(
            max_connections=self.max_connections,
            header_timeout=self.header_timeout,
            max_header_size=self.max_header_size,
            body_timeout=self.body_timeout,
            max_body_size=self.max_body_size,
            keepalive_timeout=self.keepalive_timeout,
        )

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

    @property
    def monitors_requests(self) -> bool:
        """Whether request monitoring is on (``request_monitoring``, else ``enabled``)."""
        return self.enabled if self.request_monitoring is None else self.request_monitoring
