"""The ``[zmq]`` configuration section and the per-plugin ``process`` table."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from plugyard.sdk.subscriber import DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "IPC_PATH_MAX",
    "ProcessOptions",
    "ZmqSettings",
    "check_endpoint",
    "is_loopback",
]

IPC_PATH_MAX = 107
"""The longest ``ipc://`` socket path Linux accepts (``sun_path`` less its NUL)."""


class ProcessOptions(BaseModel):
    """How the supervisor looks after a subscriber plugin's process (``process = {...}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    restart: Literal["never", "on-failure", "always"] = "on-failure"
    """When the supervisor restarts the plugin's process after it exits on its own."""
    backoff_initial: float = Field(0.1, ge=0)
    """Seconds before the first restart."""
    backoff_max: float = Field(5.0, ge=0)
    """Longest wait between restarts, in seconds."""
    backoff_factor: float = Field(2.0, ge=1)
    """Each further restart waits this many times longer."""
    flap_attempts: int = Field(5, ge=1)
    """This many crashes within ``flap_window`` mark the plugin flapping: no more
    restarts."""
    flap_window: float = Field(10.0, ge=0)
    """The flapping window, in seconds."""
    stop_timeout: float = Field(5.0, ge=0)
    """Seconds between SIGTERM and SIGKILL at stop."""
    log_lines: int = Field(200, ge=0)
    """Output lines kept in memory for the plugin's logs."""


class ZmqSettings(BaseModel):
    """The ``[zmq]`` section: endpoints, buffers, CURVE keys and plugin defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str | None = None
    """The command socket (ROUTER), ``ipc://PATH`` or ``tcp://HOST:PORT``; none means
    ``ipc://RUNTIME/zmq-control.sock`` in the host's runtime folder."""
    pubsub_endpoint: str | None = None
    """The event socket (XPUB); none means ``ipc://RUNTIME/zmq-events.sock``."""
    max_message_size: int = Field(DEFAULT_MAX_MESSAGE_SIZE, ge=1024, le=1 << 30)
    """The largest frame, in bytes, that any of the host's ZMQ sockets accepts (libzmq's
    ``ZMQ_MAXMSGSIZE``): a peer that sends a bigger one is disconnected. The host's clients
    and plugins get the same limit, and the host publishes no event and sends no reply
    bigger than this (an oversized event is dropped and logged; an oversized reply becomes
    an error reply)."""
    sndhwm: int = Field(10_000, gt=0, le=2**31 - 1)
    """Events queued per subscriber before the host holds them back."""
    buffer: int = Field(100_000, ge=0, le=100_000_000)
    """Events the host holds for slow subscribers before it sends past them."""
    curve_secret_key: SecretStr | None = None
    """The host's CURVE secret key (40 Z85 characters); required for a non-loopback TCP
    bind. Without it, a TCP endpoint on loopback gets a key pair the host makes once and
    keeps in its runtime folder (``zmq-server.key``). Never shown in ``host.json``, events
    or logs."""
    curve_clients: list[str] = []
    """CURVE public keys (40 Z85 characters each) of the clients allowed in."""
    insecure_tcp: bool = False
    """UNSAFE. Serve a loopback ``tcp://`` endpoint without CURVE: every local account can
    then send commands (``quit``, ``stop``, ``publish``) and read every event. Logged as a
    warning at each start. Code-loading commands stay refused on such a connection."""
    circus_compat: bool = False
    """Also publish ``watcher.NAME.ACTION`` events and answer in circus's words."""
    circus_config: Path | None = None
    """A circus.ini run as circusd would: its ``[watcher:NAME]`` sections become supervised
    watchers, its ``[plugin:NAME]`` sections plugins, and its ``[circus]`` ``endpoint`` and
    ``pubsub_endpoint`` (``ipc://`` ones) the sockets, where this section names none."""
    circus_allow_tcp: bool = False
    """Bind the ``tcp://`` endpoints a circus.ini names. Off by default: circusd listens
    unauthenticated on TCP, where every local account (or host) can send it commands."""
    check_delay: float = Field(5.0, gt=0, le=86_400, allow_inf_nan=False)
    """Passed to each subscriber plugin's constructor, as circus does."""
    ready_timeout: float = Field(5.0, gt=0, le=86_400, allow_inf_nan=False)
    """Seconds the host waits for a starting plugin's subscription to be live."""
    max_inflight: int = Field(1000, gt=0, le=1_000_000)
    """Commands running at once before the host answers "busy"."""
    plugin_log_level: str | None = Field(None, pattern=r"(?i)^(debug|info|warning|error|critical)$")
    """Log level of the plugin processes; none means ``[host] log_level``."""
    process: ProcessOptions = Field(default_factory=lambda: ProcessOptions.model_validate({}))
    """Supervision defaults for every subscriber plugin; a ``[plugins.NAME.process]`` table
    overrides them for one plugin."""

    @field_validator("endpoint", "pubsub_endpoint")
    @classmethod
    def _endpoint_shape(cls, value: str | None) -> str | None:
        if value is not None:
            check_endpoint(value)
        return value

    @field_validator("curve_secret_key")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) != 40:
            raise ValueError("expected a Z85 CURVE secret key of 40 characters")
        return value

    @field_validator("curve_clients")
    @classmethod
    def _clients_shape(cls, value: list[str]) -> list[str]:
        for key in value:
            if len(key) != 40:
                raise ValueError(f"expected Z85 CURVE public keys of 40 characters, got {key!r}")
        return value


def check_endpoint(endpoint: str) -> None:
    """Accept ``ipc://PATH`` and ``tcp://HOST:PORT`` (port may be ``*``); raise otherwise."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("ipc", "tcp") or not rest:
        raise ValueError(f"expected ipc://PATH or tcp://HOST:PORT, got {endpoint!r}")
    if scheme == "ipc" and len(rest) > IPC_PATH_MAX:
        raise ValueError(
            f"ipc path is {len(rest)} characters, longer than the {IPC_PATH_MAX} the system "
            "allows; choose a shorter [host] runtime_dir or a tcp:// endpoint"
        )
    if scheme == "tcp":
        host, colon, port = rest.rpartition(":")
        if not colon or not host or not (port == "*" or port.isdigit()):
            raise ValueError(f"expected tcp://HOST:PORT, got {endpoint!r}")


def is_loopback(endpoint: str) -> bool:
    """Whether an endpoint stays on this machine: ``ipc://`` or TCP on a loopback address."""
    scheme, _, rest = endpoint.partition("://")
    if scheme == "ipc":
        return True
    host = rest.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_settings(settings: ZmqSettings) -> dict[str, Any]:
    """The settings as data for ``status``, without the secret key."""
    data = settings.model_dump(mode="json", exclude={"curve_secret_key"})
    data["curve"] = settings.curve_secret_key is not None
    return data
