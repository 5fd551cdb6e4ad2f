"""Who may reach the host's sockets: CURVE keys on TCP, the host's own user on ipc.

Every socket asks the ZAP handler here about each new connection. An ``ipc://`` peer is
admitted when the kernel says it runs as the host's user (the uid libzmq reads with
``SO_PEERCRED``); a CURVE peer when it presents a listed public key or the host's local
client key (written, mode 0600, to the runtime folder for the CLI and the host's own
plugins). A TCP endpoint without ``[zmq] curve_secret_key`` gets a server key pair the host
makes once and keeps in its runtime folder. Only ``[zmq] insecure_tcp`` admits everyone, and
says so loudly. Each admitted connection carries a user id that :meth:`ZapHandler.may_load_code`
judges: only the host's user over ipc and the local client key may load code.
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

__all__ = [
    "CURVE_DOMAIN",
    "INSECURE_DOMAIN",
    "IPC_DOMAIN",
    "ZAP_ENDPOINT",
    "CurveKeys",
    "ZapHandler",
    "generate_keypair",
    "kept_server_secret",
    "peer_uid",
]

logger = logging.getLogger("plugyard.adapters.zmq.curve")

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
KEY_FILE = "zmq-client.key"
SERVER_KEY_FILE = "zmq-server.key"
CURVE_DOMAIN = b"plugyard"
IPC_DOMAIN = b"plugyard-ipc"
INSECURE_DOMAIN = b"plugyard-insecure-tcp"


def generate_keypair() -> tuple[str, str]:
    """A fresh ``(public, secret)`` CURVE key pair, Z85 text."""
    import zmq

    public, secret = zmq.curve_keypair()
    return public.decode(), secret.decode()


def kept_server_secret(folder: Path) -> str:
    """The host's own CURVE secret key, kept in ``folder`` (mode 0600) across restarts.

    Made on first use; a kept file that another user could have written or can read is
    refused (:class:`~plugyard.host.UnsafePathError`), never used.
    """
    import stat

    import zmq
    from plugyard.host import UnsafePathError, read_private_file

    path = folder / SERVER_KEY_FILE
    if os.path.lexists(path):
        text = read_private_file(path)
        if stat.S_IMODE(os.lstat(path).st_mode) & 0o077:
            raise UnsafePathError(f"{path} is readable by other users; refusing to use it")
        try:
            secret = str(json.loads(text)["secret_key"])
            zmq.curve_public(secret.encode())
        except (ValueError, KeyError, TypeError, zmq.ZMQError) as exc:
            raise UnsafePathError(f"{path}: not a CURVE key file ({exc}); remove it") from None
        return secret
    public, secret = generate_keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"public_key": public, "secret_key": secret}, handle)
    logger.info("made the host's CURVE key pair in %s (public key %s)", path, public)
    return secret


def peer_uid(address: bytes) -> int | None:
    """The uid in an ``ipc://`` peer address (``localhost:UID:GID:PID``), if there is one."""
    parts = address.decode(errors="replace").split(":")
    if len(parts) == 4 and parts[1].isdigit():
        return int(parts[1])
    return None


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
        sock.zap_domain = CURVE_DOMAIN

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
    """Answer ZAP requests on the host's context: who may connect, and as which user id.

    ``curve`` lists the CURVE keys let in (none: no CURVE socket). ``ipc://`` peers pass when
    they run as the host's user; peers of an insecure TCP socket always pass, as
    ``insecure``.
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        curve: CurveKeys | None = None,
        max_message_size: int = 1 << 20,
    ) -> None:
        import zmq

        self.curve = curve
        self.refused = 0
        self.uid = os.getuid()
        self._socket = ctx.socket(zmq.REP)
        self._socket.linger = 0
        self._socket.setsockopt(zmq.MAXMSGSIZE, max_message_size)
        self._socket.bind(ZAP_ENDPOINT)
        self._task: asyncio.Task[None] | None = None

    def may_load_code(self, user_id: str | None) -> bool:
        """Whether a connection admitted as ``user_id`` may send commands that load code:
        the host's user over ipc, or a client holding the host's local key."""
        if user_id is None:
            return False
        if user_id == f"uid:{self.uid}":
            return True
        return self.curve is not None and user_id == self.curve.local_public

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

        version, request_id, domain, address, _identity, mechanism = frames[:6]
        credentials = frames[6:]
        where = address.decode(errors="replace")
        if mechanism == b"CURVE" and credentials and self.curve is not None:
            key = z85.encode(credentials[0]).decode()
            if key in self.curve.allowed:
                return [version, request_id, b"200", b"OK", key.encode(), b""]
            reason = "unknown client key"
        elif mechanism == b"NULL" and domain == IPC_DOMAIN:
            uid = peer_uid(address)
            if uid == self.uid:
                return [version, request_id, b"200", b"OK", f"uid:{uid}".encode(), b""]
            reason = f"uid {uid} is not the host's user (uid {self.uid})"
        elif mechanism == b"NULL" and domain == INSECURE_DOMAIN:
            return [version, request_id, b"200", b"OK", b"insecure", b""]
        else:
            reason = f"mechanism {mechanism.decode(errors='replace')} not allowed"
        self.refused += 1
        logger.warning("refused a client from %s: %s", where, reason)
        return [version, request_id, b"400", reason.encode(), b"", b""]
