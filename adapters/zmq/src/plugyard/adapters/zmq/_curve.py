"""CURVE encryption for both sockets, and a ZAP handler that admits only listed client keys.

With ``[zmq] curve_secret_key`` set, the host's sockets are CURVE servers. A client must know
the host's public key and present a public key from ``curve_clients`` (the host adds a key
pair of its own for the plugins it starts and for local command-line clients, written to a
0600 file in the runtime folder). Any other client is refused during the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zmq
    import zmq.asyncio

__all__ = ["ZAP_ENDPOINT", "CurveKeys", "ZapHandler", "generate_keypair"]

logger = logging.getLogger("plugyard.adapters.zmq.curve")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
KEY_FILE = "zmq-client.key"


def generate_keypair() -> tuple[str, str]:
    """A fresh ``(public, secret)`` CURVE key pair, Z85 text."""
    import zmq

    public, secret = zmq.curve_keypair()
    return public.decode(), secret.decode()


class CurveKeys:
    """The host's server key pair, the allowed client keys, and the local client's key pair."""

    def __init__(self, server_secret: str, clients: list[str]) -> None:
        import zmq

        if not zmq.has("curve"):
            raise RuntimeError("this libzmq has no CURVE support; cannot secure the sockets")
        self.server_secret = server_secret
        self.server_public = zmq.curve_public(server_secret.encode()).decode()
        self.local_public, self.local_secret = generate_keypair()
        self.allowed = {*clients, self.local_public}

    def apply_server(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` a CURVE server with the host's key."""
        sock.curve_server = True
        sock.curve_secretkey = self.server_secret.encode()
        sock.zap_domain = b"plugyard"

    def write_client_file(self, folder: Path) -> Path:
        """Write the local client's keys (mode 0600) for plugins and the CLI; return the path."""
        path = folder / KEY_FILE
        data = {
            "server_key": self.server_public,
            "public_key": self.local_public,
            "secret_key": self.local_secret,
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        return path


class ZapHandler:
    """Answer ZAP requests on the host's context: CURVE clients with a listed key pass."""

    def __init__(
        self, ctx: zmq.asyncio.Context, allowed: set[str], max_message_size: int = 1 << 20
    ) -> None:
        import zmq

        self.allowed = allowed
        self.refused = 0
        self._socket = ctx.socket(zmq.REP)
        self._socket.linger = 0
        self._socket.setsockopt(zmq.MAXMSGSIZE, max_message_size)
        self._socket.bind(ZAP_ENDPOINT)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start answering on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="plugyard-zap")

    async def close(self) -> None:
        """Stop answering and close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._socket.close()

    async def _serve(self) -> None:
        while True:
            frames = await self._socket.recv_multipart()
            try:
                reply = self._decide(frames)
            except Exception:
                logger.exception("ZAP request could not be read")
                reply = [b"1.0", frames[1] if len(frames) > 1 else b"", b"500", b"error", b"", b""]
            await self._socket.send_multipart(reply)

    def _decide(self, frames: list[bytes]) -> list[bytes]:
        from zmq.utils import z85

        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        credentials = frames[6:]
        if mechanism == b"CURVE" and credentials:
            key = z85.encode(credentials[0]).decode()
            if key in self.allowed:
                return [version, request_id, b"200", b"OK", key.encode(), b""]
            reason = "unknown client key"
        else:
            reason = f"mechanism {mechanism.decode(errors='replace')} not allowed"
        self.refused += 1
        logger.warning("refused a client from %s: %s", address.decode(errors="replace"), reason)
        return [version, request_id, b"400", reason.encode(), b"", b""]
