"""The command socket: a ROUTER serving the host's whole command plane with circus's shapes.

Request (one frame after the client's identity): ``{"id"?, "command", "properties"?,
"msg_type"?}``. Reply: ``{"id", "status": "ok", "time", ...}`` or ``{"id", "status":
"error", "reason", "errno", "tb", "time"}``. Casts (``"msg_type": "cast"``) get no reply.
Whatever arrives, the server answers with an error or stays silent for a cast: it never
raises, never stops reading, and never waits on a client.

Commands that load code (``Command.loads_code``, and circus's ``add``, ``set`` and
``reloadconfig``) are refused unless the connection's ZAP user id may load code.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from plugyard.host import CommandError, Errno

from ._circus import circus_reply, circus_request

if TYPE_CHECKING:
    import zmq
    from plugyard.host import Host

    from .compat import CircusCommands

__all__ = ["CommandServer", "Request", "parse_request"]

logger = logging.getLogger("plugyard.adapters.zmq.commands")

_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode
_loads = orjson.loads


def _encode_reply(reply: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(reply, default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what orjson refuses (an int past 64 bits): json decides
        return _ENCODE(reply).encode()


_MAX_REASON = 200
CIRCUS_CODE_COMMANDS = frozenset({"add", "set", "reloadconfig"})
"""Circus commands that start a command line of the caller's choosing or reread files."""
_BATCH = 100
"""Requests read in one turn of the loop before other tasks get to run."""
# libzmq's constants (the same numbers in every pyzmq), as plain ints
_NOBLOCK = 1
_SNDMORE_NOBLOCK = 2 | 1
_EVENTS = 15
_POLLIN = 1


class Request:
    """One parsed request: who sent it, how to address the reply, and what it asks."""

    __slots__ = ("cast", "command", "envelope", "id", "props", "user")

    def __init__(
        self,
        envelope: list[bytes],
        msg_id: Any,
        command: str,
        props: dict[str, Any],
        cast: bool,
        user: str | None = None,
    ) -> None:
        self.envelope = envelope
        self.id = msg_id
        self.command = command
        self.props = props
        self.cast = cast
        self.user = user


def parse_request(body: bytes) -> tuple[Any, str, dict[str, Any], bool]:
    """``(id, command, properties, cast)`` from a request body; raises :class:`CommandError`."""
    try:
        message = _loads(body)
    except ValueError:  # orjson is stricter (NaN, lone surrogates): json decides
        message = None
    try:
        if message is None:
            message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"request is not valid JSON: {exc}", Errno.INVALID_JSON) from None
    except RecursionError:
        raise CommandError("request is JSON nested too deeply", Errno.INVALID_JSON) from None
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
        socket: zmq.Socket[Any],
        *,
        max_inflight: int = 1000,
        circus_compat: bool = False,
        max_size: int = 1 << 20,
        circus: CircusCommands | None = None,
        may_load_code: Callable[[str | None], bool] | None = None,
    ) -> None:
        self.host = host
        self.may_load_code = may_load_code or (lambda user: True)
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd: int | None = None
        self._more: asyncio.Handle | None = None

    def start(self) -> None:
        """Start reading requests on the running loop: the socket's notification descriptor
        says when to read, and each turn reads what has arrived, without a future per request."""
        import zmq

        loop = self._loop = asyncio.get_running_loop()
        self._fd = fd = int(self._replies.getsockopt(zmq.FD))
        loop.add_reader(fd, self._read)
        self._more = loop.call_soon(self._read)

    async def close(self) -> None:
        """Stop reading, let running commands finish briefly, then close the socket."""
        if self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
        if self._more is not None:
            self._more.cancel()
            self._more = None
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        self.socket.close(linger=200)

    def _read(self) -> None:
        """Read the requests that have arrived, up to a batch per loop turn (a busy client
        never holds the loop), and come back on the next turn if more are waiting."""
        import zmq

        self._more = None
        if self._fd is None:
            return
        sock = self._replies
        recv, events = sock.recv_multipart, sock.getsockopt
        # plain ints: pyzmq's flag enums cost a microsecond per operation on this path
        for _ in range(_BATCH):
            try:
                if not int(events(_EVENTS)) & _POLLIN:
                    return
                # frames (not bytes): the last one carries the connection's ZAP user id
                received = recv(_NOBLOCK, copy=False)
            except zmq.Again:
                return
            except zmq.ZMQError:
                logger.exception("command socket: receive failed")
                return
            try:
                self._accept([frame.bytes for frame in received], _user_id(received[-1]))
            except Exception:
                logger.exception("command socket: request handling failed")
        self._read_soon()

    def _read_soon(self) -> None:
        if self._more is None and self._loop is not None and self._fd is not None:
            self._more = self._loop.call_soon(self._read)

    def _accept(self, frames: list[bytes], user: str | None = None) -> None:
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
        request = Request(envelope, msg_id, command, props, cast, user)
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
            if not self.may_load_code(request.user) and self._loads_code(command):
                raise CommandError(
                    f"{request.command}: refused: this command loads code into the host, and "
                    "only the host's own user (over its ipc socket) or a client holding the "
                    "host's local key may send it",
                    Errno.COMMAND_ERROR,
                )
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

    def _loads_code(self, command: str) -> bool:
        if self.circus is not None and command in CIRCUS_CODE_COMMANDS:
            return True
        try:
            return self.host.commands.get(command).loads_code
        except CommandError:
            return False

    def _reply_error(self, envelope: list[bytes], msg_id: Any, error: CommandError) -> None:
        self.errors += 1
        if error.tb:
            logger.debug("error reply to a client; the host's traceback:\n%s", error.tb)
        self._send(envelope, {**error.to_dict(), "tb": None, "id": msg_id})

    def _send(self, envelope: list[bytes], reply: dict[str, Any]) -> None:
        import zmq

        reply["time"] = time.time()
        try:
            body = _encode_reply(reply)
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
        replies = self._replies
        try:
            for frame in envelope:
                replies.send(frame, _SNDMORE_NOBLOCK)
            replies.send(body, _NOBLOCK)
        except zmq.Again:
            logger.warning("reply dropped: the client is not reading")
        except zmq.ZMQError as exc:
            logger.warning("reply dropped: %s", exc)
        # a send can take in the descriptor's signal for a request that arrived meanwhile
        if self._fd is not None and int(replies.getsockopt(_EVENTS)) & _POLLIN:
            self._read_soon()


def _user_id(frame: Any) -> str | None:
    """The ZAP user id a frame arrived with (none on a socket without ZAP)."""
    import zmq

    try:
        value = frame.get("User-Id")
    except zmq.ZMQError:
        return None
    return value if isinstance(value, str) and value else None
