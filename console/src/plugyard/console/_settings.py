"""The ``[console]`` section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ConsoleSettings"]


class ConsoleSettings(BaseModel):
    """The ``[console]`` section: where the dashboard is mounted and who may use it.

    The dashboard is served by the host's HTTP server (``[http]``), which listens on loopback
    unless ``[http] allow_remote`` is set. Actions (restart, cancel, abort) always need the
    token; a client that is not on this machine also needs ``allow_remote = true`` here, and
    then the token for every page too.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    """Mount the dashboard on the host's HTTP app."""
    path: str = "/console"
    """Where the dashboard is mounted."""
    token: str | None = Field(None, min_length=16)
    """The token actions need; by default a new random one per host, written to
    ``console.token`` in the host's runtime folder (mode 0600)."""
    allow_remote: bool = False
    """Answer clients that are not on this machine (they need the token for every page)."""
    buffer: int = Field(2000, ge=10, le=1_000_000)
    """How many recent events are kept, for pages and for browsers that reconnect."""
    stream_rate: int = Field(4000, ge=20, le=1_000_000)
    """Events per second a browser's live stream carries at most. Past it, each batch (one
    every 50 ms) skips to the newest events and says how many it skipped (an event named
    ``gap``), so that a flood of events costs the host little while a browser watches."""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value == "/" or value.endswith("/"):
            raise ValueError(f"expected a path such as /console, got {value!r}")
        return value
