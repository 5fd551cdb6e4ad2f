"""The command socket: a ROUTER serving the host's whole command plane with circus's shapes.

Request (one frame after the client's identity): ``{"id"?, "command", "properties"?,
"msg_type"?}``. Reply: ``{"id", "status": "ok", "time", ...}`` or ``{"id", "status":
"error", "reason", "errno", "tb", "time"}``. Casts (``"msg_type": "cast"``) get no reply.
Whatever arrives, the server answers with an error or stays silent for a cast: it never
raises, never stops reading, and never waits on a client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from plugyard.host import CommandError, Errno

from ._circus import circus_reply, circus_request

if TYPE_CHECKING:
    import zmq
    import zmq.asyncio
    from plugyard.host import Host

    from .compat import CircusCommands

__all__ = ["CommandServer", "Request", "parse_request"]

logger = logging.getLogger("plugyard.adapters.zmq.commands")

_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode
_MAX_REASON = 200


class Request:
    """One parsed request: who sent it, how to address the reply, and what it asks."""

    __slots__ = ("cast", "command", "envelope", "id", "props")

    def __init__(
        self, envelope: list[bytes], msg_id: Any, command: str, props: dict[str, Any], cast: bool
    ) -> None:
        self.envelope = envelope
        self.id = msg_id
        self.command = command
        self.props = props
        self.cast = cast


def parse_request(body: bytes) -> tuple[Any, str, dict[str, Any], bool]:
    """``(id, command, properties, cast)`` from a request body; raises :class:`CommandError`."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"request is not valid JSON: {exc}", Errno.INVALID_JSON) from None
    if not isinstance(message, dict):
        raise CommandError(
            f"request must be a JSON object, got {type(message).__name__}", Errno.MESSAGE_ERROR
        )
    msg_id = message.get("id")
    cast = message.get("msg_type") == "cast"
    command = message.get("command")
    if not isinstance(command, str) or not command:
        raise _with_id(
            CommandError("request needs 'command', a non-empty string", Errno.MESSAGE_ERROR),
            msg_id,
            cast,
        )
    props = message.get("properties", {})
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise _with_id(
            CommandError(
                f"{command}: 'properties' must be an object, got {type(props).__name__}",
                Errno.MESSAGE_ERROR,
            ),
            msg_id,
            cast,
        )
    return msg_id, command, props, cast


def _with_id(error: CommandError, msg_id: Any, cast: bool) -> CommandError:
    error.request_id = msg_id  # type: ignore[attr-defined]
    error.cast = cast  # type: ignore[attr-defined]
    return error


class CommandServer:
    """Read requests from a ROUTER socket and answer each from its own task."""

    def __init__(
        self,
        host: Host,
        socket: zmq.asyncio.Socket,
        *,
        max_inflight: int = 1000,
        circus_compat: bool = False,
        max_size: int = 1 << 20,
        circus: CircusCommands | None = None,
    ) -> None:
        self.host = host
        self.max_size = max_size
        self.circus = circus
        self.socket = socket
        self.max_inflight = max_inflight
        self.circus_compat = circus_compat
        self.requests = 0
        self.errors = 0
        import zmq

        self._replies: zmq.Socket[Any] = zmq.Socket.shadow(socket.underlying)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading requests on the running loop."""
        self._reader = asyncio.get_running_loop().create_task(
            self._read(), name="plugyard-zmq-commands"
        )

    async def close(self) -> None:
        """Stop reading, let running commands finish briefly, then close the socket."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        self.socket.close(linger=200)

    async def _read(self) -> None:
        while True:
            try:
                frames = await self.socket.recv_multipart()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("command socket: receive failed")
                await asyncio.sleep(0.01)
                continue
            try:
                self._accept(frames)
            except Exception:
                logger.exception("command socket: request handling failed")

    def _accept(self, frames: list[bytes]) -> None:
        self.requests += 1
        identity, rest = frames[0], frames[1:]
        envelope = [identity]
        if len(rest) >= 2 and rest[0] == b"":
            envelope.append(b"")
            rest = rest[1:]
        if len(rest) != 1:
            self._reply_error(
                envelope,
                None,
                CommandError(
                    f"expected one request frame after the identity, got {len(rest)}",
                    Errno.MESSAGE_ERROR,
                ),
            )
            return
        try:
            msg_id, command, props, cast = parse_request(rest[0])
        except CommandError as exc:
            if not getattr(exc, "cast", False):
                self._reply_error(envelope, getattr(exc, "request_id", None), exc)
            return
        request = Request(envelope, msg_id, command, props, cast)
        if len(self._tasks) >= self.max_inflight:
            if not cast:
                busy = CommandError(
                    f"{command}: the host is busy ({len(self._tasks)} commands running)",
                    Errno.COMMAND_ERROR,
                )
                self._reply_error(envelope, msg_id, busy)
            return
        task = asyncio.get_running_loop().create_task(self._execute(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, request: Request) -> None:
        command = request.command.lower()
        try:
            if self.circus is not None:
                result = await self.circus.dispatch(command, request.props)
            else:
                result = circus_request(self.host, command, request.props)
            if result is None:
                result = await self.host.commands.call(command, request.props)
            result = circus_reply(self.host, command, request.props, result, self.circus_compat)
        except CommandError as exc:
            if request.cast:
                logger.warning("cast %s failed: %s", request.command, exc.reason)
            else:
                self._reply_error(request.envelope, request.id, exc)
            return
        except Exception as exc:
            logger.exception("command %s failed", request.command)
            if not request.cast:
                error = CommandError(f"{request.command} failed: {exc}", Errno.COMMAND_ERROR)
                self._reply_error(request.envelope, request.id, error)
            return
        if not request.cast:
            self._send(request.envelope, {"status": "ok", **result, "id": request.id})

    def _reply_error(self, envelope: list[bytes], msg_id: Any, error: CommandError) -> None:
        self.errors += 1
        self._send(envelope, {**error.to_dict(), "id": msg_id})

    def _send(self, envelope: list[bytes], reply: dict[str, Any]) -> None:
        import zmq

        reply["time"] = time.time()
        try:
            body = _ENCODE(reply).encode()
        except (TypeError, ValueError) as exc:
            body = _ENCODE(
                {
                    **CommandError(f"reply cannot be encoded: {exc}").to_dict(),
                    "id": reply.get("id") if isinstance(reply.get("id"), str | int) else None,
                    "time": reply["time"],
                }
            ).encode()
        if len(body) > self.max_size:
            error = CommandError(
                f"reply of {len(body)} bytes is over [zmq] max_message_size "
                f"({self.max_size}); ask for less (e.g. a limit or a filter)",
                Errno.COMMAND_ERROR,
            )
            msg_id = reply.get("id")
            body = _ENCODE(
                {
                    **error.to_dict(),
                    "id": msg_id if isinstance(msg_id, str | int) else None,
                    "time": reply["time"],
                }
            ).encode()
        try:
            self._replies.send_multipart([*envelope, body], zmq.NOBLOCK)
        except zmq.Again:
            logger.warning("reply dropped: the client is not reading")
        except zmq.ZMQError as exc:
            logger.warning("reply dropped: %s", exc)
