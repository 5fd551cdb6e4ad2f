"""The ``[events]`` table: where the bridge's stream lives and how much of it Redis keeps."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BridgeSettings"]


class BridgeSettings(BaseModel):
    """The ``[events]`` section; without ``bridge`` the host's events stay on the host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bridge: str | None = Field(None, pattern=r"^(redis|rediss|unix)://")
    """The Redis URL of the shared stream (``redis://127.0.0.1:6379/0``); unset, no bridge."""
    stream: str = Field("plugyard:events", min_length=1, max_length=200)
    """The Redis Stream every bridged host writes to and reads from."""
    member: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    """This host's name on the stream, by default ``[host] name``. It names the consumer
    group that keeps the host's read position in Redis across restarts, and it is how a
    host recognises its own entries and skips them. Every host on a stream needs its own."""
    max_len: int = Field(100_000, gt=0, le=1_000_000_000)
    """Entries the stream keeps (trimmed approximately, as Redis does cheaply): how far back
    a host that was down can catch up."""
    max_age: float | None = Field(None, gt=0, le=365 * 86_400, allow_inf_nan=False)
    """Seconds an entry is kept, as well as ``max_len`` (older entries are trimmed)."""
    buffer: int = Field(10_000, gt=0, le=10_000_000)
    """The host's own events held while Redis cannot be reached; past this the oldest are
    dropped, counted and reported (``bridge.lost``)."""
    batch: int = Field(500, gt=0, le=100_000)
    """Entries written or read in one round trip at most."""
    block: float = Field(1.0, gt=0, le=60, allow_inf_nan=False)
    """Seconds one read waits for new entries before asking again."""
    retry: float = Field(0.5, gt=0, le=60, allow_inf_nan=False)
    """Seconds between attempts to reach Redis again once it stopped answering."""
