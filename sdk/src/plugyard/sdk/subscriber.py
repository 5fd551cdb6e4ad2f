"""Subscriber plugins: a process that receives every host event over ZMQ and can send commands
back to the host (the Circus plugin model).

Example::

    from plugyard.sdk.subscriber import SubscriberPlugin

    class Logger(SubscriberPlugin):
        name = "logger"

        def handle_init(self) -> None:
            self.file = open(self.config["filename"], "a", buffering=1)

        def handle_recv(self, data: tuple[bytes, bytes]) -> None:
            name, action, msg = self.split_data(data)
            self.file.write(f"{action} {name}::{self.load_message(msg)!r}\\n")

        def handle_stop(self) -> None:
            self.file.close()

The host starts each plugin in its own process; ``plugyard-plugin`` runs one by hand. pyzmq
(the ``subscriber`` extra) is imported when a plugin connects, not when this module loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ._versions import SPEC_VERSION, SPEC_VERSION_ATTR

if TYPE_CHECKING:
    import zmq

__all__ = [
    "CURVE_KEYS_ENV",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_MESSAGE_SIZE_ENV",
    "CallError",
    "SubscriberPlugin",
    "event_seq",
    "load_curve_keys",
    "max_message_size",
    "parse_config",
    "split_topic",
]

CURVE_KEYS_ENV = "PLUGYARD_ZMQ_CURVE_KEYS"
"""Environment variable naming a JSON file with ``server_key``, ``public_key``, ``secret_key``."""

MAX_MESSAGE_SIZE_ENV = "PLUGYARD_ZMQ_MAX_MESSAGE_SIZE"
"""Environment variable with the largest frame, in bytes, a plugin's sockets accept (the
host sets it to its ``[zmq] max_message_size`` for the plugins it starts)."""

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
"""The largest ZMQ frame accepted when nothing else is configured: 1 MiB."""

_PARENT_ENV = "PLUGYARD_PARENT_PID"
_SEQ_PREFIX = b'{"seq":'
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode
_HANDSHAKE_LIMIT = 10.0
_DROP_REPORT_DELAY = 0.1
_MALFORMED = "ignored %d frame(s) that are not an event of two frames (topic, body)"
PROGRESS_INTERVAL = 0.5
"""Seconds between two ``zmq.progress`` reports while events are handled."""
FLUSH_TIMEOUT = 1.0
"""Seconds a stopping plugin waits for the events published before its stop to reach it."""


def parse_config(serialized: str | None) -> dict[str, str]:
    """Read circus's ``key:value:::key2:value2`` form: split on ``:::``, then on the first ``:``.

    Values stay strings, as in circus; items without a ``:`` are ignored.
    """
    config: dict[str, str] = {}
    if not serialized:
        return config
    for item in serialized.split(":::"):
        key, sep, value = item.partition(":")
        if sep and key.strip():
            config[key.strip()] = value.strip()
    return config


def split_topic(topic: str) -> tuple[str, str]:
    """``kind.name.action`` as ``(name, action)``; a dotted name stays whole.

    ``plugin.web.started`` gives ``("web", "started")``,
    ``operation.dep.node_1.install.succeeded`` gives ``("dep.node_1.install", "succeeded")``,
    ``host.started`` gives ``("", "started")``.
    """
    parts = topic.split(".")
    if len(parts) < 2:
        return "", ""
    return ".".join(parts[1:-1]), parts[-1]


def event_seq(body: bytes) -> int | None:
    """The ``seq`` of an event body without decoding it all (the host writes it first)."""
    if body[:7] != _SEQ_PREFIX:
        return None
    end = body.find(b",", 7)
    try:
        return int(body[7:end])
    except ValueError:
        return None


def max_message_size() -> int:
    """The frame limit from ``$PLUGYARD_ZMQ_MAX_MESSAGE_SIZE``, else the default (1 MiB)."""
    value = os.environ.get(MAX_MESSAGE_SIZE_ENV, "")
    try:
        size = int(value)
    except ValueError:
        return DEFAULT_MAX_MESSAGE_SIZE
    return size if size > 0 else DEFAULT_MAX_MESSAGE_SIZE


def load_curve_keys(path: str | os.PathLike[str] | None = None) -> dict[str, str] | None:
    """CURVE client keys from ``path`` or ``$PLUGYARD_ZMQ_CURVE_KEYS``; ``None`` when unset."""
    where = path if path is not None else os.environ.get(CURVE_KEYS_ENV)
    if not where:
        return None
    with open(where, encoding="utf-8") as handle:
        keys = json.load(handle)
    missing = [k for k in ("server_key", "public_key", "secret_key") if not keys.get(k)]
    if missing:
        raise ValueError(f"{where}: CURVE key file lacks {', '.join(missing)}")
    return {k: str(keys[k]) for k in ("server_key", "public_key", "secret_key")}


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)


class CallError(RuntimeError):
    """The host answered a command with an error reply.

    ``reason`` and ``errno`` come from the reply (errno meanings as in circus: 1 invalid JSON,
    2 unknown command, 3 bad message or property, 4 OS error, 5 command error); ``reply`` is
    the whole reply.
    """

    def __init__(self, command: str, reply: Mapping[str, Any]) -> None:
        self.command = command
        self.reply = dict(reply)
        self.reason = str(reply.get("reason", "unknown error"))
        self.errno = int(reply.get("errno", 0) or 0)
        super().__init__(f"{command}: {self.reason} (errno {self.errno})")


class SubscriberPlugin:
    """A plugin that receives every host event in its own process and loop.

    The host (or ``plugyard-plugin``) builds it as ``Class(endpoint, pubsub_endpoint,
    check_delay, **config)`` and calls :meth:`start`, which blocks until :meth:`stop` or
    SIGTERM/SIGINT. ``config`` holds the plugin's options with their TOML types (strings when
    given as ``--config key:value``). ``loop`` is the plugin's own asyncio loop: schedule
    periodic and I/O work on it (``self.loop.call_later``, ``self.loop.create_task``).

    Subclasses implement :meth:`handle_recv` and may implement :meth:`handle_init` and
    :meth:`handle_stop`; each may be plain or ``async``.
    """

    name: str = ""
    """The plugin's name (the host sets it to the ``[plugins.NAME]`` key)."""

    topics: Sequence[str] = ("",)
    """Topic prefixes to receive; ``""`` is every event (gap detection needs every event)."""

    call_timeout: float = 5.0
    """Seconds :meth:`call` waits for the host's reply before raising ``TimeoutError``."""

    rcvhwm: int = 10_000
    """Events the subscription socket holds before the host has to keep them."""

    batch: int = 256
    """Events handled in a row before the loop gets a turn for timers and replies."""

    announce: bool = True
    """Tell the host when the subscription is live (the host waits for it at start)."""

    def __init__(
        self, endpoint: str, pubsub_endpoint: str, check_delay: float = 5.0, **config: Any
    ) -> None:
        self.endpoint = endpoint
        self.pubsub_endpoint = pubsub_endpoint
        self.check_delay = float(check_delay)
        self.config: dict[str, Any] = config
        self.name = self.name or type(self).__name__.lower()
        self.active = _to_bool(config.get("active", True))
        self.loop = asyncio.new_event_loop()
        self.identity = uuid.uuid4().hex
        self.curve_keys: dict[str, str] | None = load_curve_keys()
        self.received = 0
        self.missed = 0
        self.last_seq: int | None = None
        self.log = logging.getLogger(f"plugyard.subscriber.{self.name}")
        self._ctx: zmq.Context[Any] | None = None
        self._sub: zmq.Socket[Any] | None = None
        self._dealer: zmq.Socket[Any] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._loop_thread: int | None = None
        self._done: asyncio.Event | None = None
        self._readable: asyncio.Event | None = None
        self._confirmed: asyncio.Event | None = None
        self._hello_topic = b""
        self._flushed_topic = b""
        self._flush_token = ""
        self._unreported = 0
        self.refused: str | None = None
        """Why the host refused this plugin at the handshake, if it did."""
        self._report_handle: asyncio.TimerHandle | None = None
        self._stopped = False

    # -- what plugins implement ---------------------------------------------------------

    def handle_init(self) -> Any:
        """Prepare, in the plugin's loop thread, once the sockets are connected."""

    def handle_recv(self, data: tuple[bytes, bytes]) -> Any:
        """Handle one event: ``data`` is ``(topic, body)``, both bytes. Must be implemented."""
        raise NotImplementedError(f"{type(self).__name__} must implement handle_recv(data)")

    def handle_stop(self) -> Any:
        """Clean up; runs on a normal stop and on SIGTERM/SIGINT, before sockets close."""

    def handle_gap(self, missed: int, first: int, last: int) -> Any:
        """Events ``first``..``last`` (``missed`` of them) never arrived; logs a warning."""
        self.log.warning("missed %d event(s): seq %d to %d", missed, first, last)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def split_data(data: Sequence[bytes]) -> tuple[str, str, bytes]:
        """``(name, action, body)`` from an event: ``plugin.web.started`` gives ``web``,
        ``started``; a dotted name stays whole (see :func:`split_topic`)."""
        topic, body = data[0], data[-1]
        name, action = split_topic(topic.decode("utf-8", errors="replace"))
        return name, action, body

    @staticmethod
    def load_message(msg: bytes) -> dict[str, Any]:
        """Decode an event body: ``{"seq", "id", "time", "source", "data"}``."""
        loaded: dict[str, Any] = json.loads(msg)
        return loaded

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect, run :meth:`handle_init`, then receive events until stopped (blocks)."""
        if not self.active:
            raise ValueError(f"plugin {self.name!r} is not active (active = false)")
        asyncio.set_event_loop(self.loop)
        self._loop_thread = threading.get_ident()
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self._loop_thread = None
            self.loop.close()

    def stop(self) -> None:
        """Ask the plugin to stop (from any thread, or a signal handler)."""
        if self._loop_thread is None or self.loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            self._request_stop()
        else:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._request_stop)

    def _request_stop(self) -> None:
        if self._done is not None:
            self._done.set()

    async def _main(self) -> None:
        self._done = asyncio.Event()
        self._readable = asyncio.Event()
        self._confirmed = asyncio.Event()
        self._install_signals()
        self._connect_sockets()
        tasks: list[asyncio.Task[Any]] = []
        try:
            await _maybe_await(self.handle_init())
            tasks.append(self.loop.create_task(self._consume()))
            if self.announce:
                tasks.append(self.loop.create_task(self._handshake()))
                tasks.append(self.loop.create_task(self._report_progress()))
            if os.environ.get(_PARENT_ENV, "") == str(os.getppid()):
                tasks.append(self.loop.create_task(self._watch_parent(os.getppid())))
            self.log.info("started")
            await self._done.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._finish()

    async def _finish(self) -> None:
        if not self._stopped:
            self._stopped = True
            await self._drain_queued()
            try:
                await _maybe_await(self.handle_stop())
            except Exception:
                self.log.exception("handle_stop failed")
            self._report_drops()
        self._close_sockets()

    async def _drain_queued(self) -> None:
        """Handle the events published before the stop came.

        A plugin that announces itself asks the host to publish a marker on a topic of its
        own (``zmq.flush``), and handles events until the marker arrives: the stream is
        ordered, so every event published before it (``host.stopping`` included) has then
        been handled. It waits :data:`FLUSH_TIMEOUT` seconds at most. Otherwise it handles
        what is queued already (at most one queue's worth)."""
        import zmq

        sub = self._sub
        if sub is None:
            return
        if self.announce and self._dealer is not None and self.refused is None:
            self._flush_token = uuid.uuid4().hex
            with contextlib.suppress(Exception):
                self.cast("zmq.flush", name=self.name, token=self._flush_token)
                try:
                    await asyncio.wait_for(self._consume(), FLUSH_TIMEOUT)
                except TimeoutError:
                    self.log.debug("stopping: the host's flush marker did not come in time")
                return
        handle = self.handle_recv
        for _ in range(self.rcvhwm):
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 2 or frames[0] == self._hello_topic:
                continue
            try:
                await _maybe_await(handle((frames[0], frames[1])))
            except Exception:
                self.log.exception("handle_recv failed on %r", frames[0])

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self.loop.add_signal_handler(sig, self._request_stop)

    def _connect_sockets(self) -> None:
        import zmq

        ctx: zmq.Context[Any] = zmq.Context()
        self._ctx = ctx
        sub = ctx.socket(zmq.SUB)
        dealer = ctx.socket(zmq.DEALER)
        limit = max_message_size()
        for sock in (sub, dealer):
            self._apply_curve(sock)
            sock.setsockopt(zmq.MAXMSGSIZE, limit)
        sub.linger = 0
        sub.rcvhwm = self.rcvhwm
        prefixes = {t.encode() for t in self.topics}
        self._hello_topic = f"subscriber.{self.name}.hello".encode()
        self._flushed_topic = f"subscriber.{self.name}.flushed".encode()
        if self.announce:
            for own in (self._hello_topic, self._flushed_topic):
                if not any(own.startswith(p) for p in prefixes):
                    prefixes.add(own)
        for prefix in sorted(prefixes):
            sub.setsockopt(zmq.SUBSCRIBE, prefix)
        sub.connect(self.pubsub_endpoint)
        dealer.setsockopt(zmq.IDENTITY, self.identity.encode())
        dealer.linger = 500
        dealer.connect(self.endpoint)
        self._sub, self._dealer = sub, dealer
        self.loop.add_reader(sub.FD, self._on_sub_ready)
        self.loop.add_reader(dealer.FD, self._on_dealer_ready)

    def _apply_curve(self, sock: zmq.Socket[Any]) -> None:
        keys = self.curve_keys
        if keys:
            sock.curve_serverkey = keys["server_key"].encode()
            sock.curve_publickey = keys["public_key"].encode()
            sock.curve_secretkey = keys["secret_key"].encode()

    def _close_sockets(self) -> None:
        for sock in (self._sub, self._dealer):
            if sock is not None and not sock.closed:
                with contextlib.suppress(Exception):
                    self.loop.remove_reader(sock.FD)
                sock.close()
        self._sub = self._dealer = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    async def _watch_parent(self, parent: int) -> None:
        """Stop when the host that started this process is gone."""
        while True:
            await asyncio.sleep(min(self.check_delay, 1.0))
            if os.getppid() != parent:
                self.log.warning("the host (pid %d) is gone; stopping", parent)
                self._request_stop()
                return

    # -- receiving ------------------------------------------------------------------------

    def _on_sub_ready(self) -> None:
        import zmq

        sub, readable = self._sub, self._readable
        if sub is not None and readable is not None and _events(sub) & zmq.POLLIN:
            readable.set()

    async def _consume(self) -> None:
        """Drain the subscription without a poll per event; yield to the loop every batch.

        The host sends every event as two frames, and a message's frames arrive together:
        once the topic is in, so is the body. Only the body says whether more frames follow
        (read from its frame: asking the socket for ``RCVMORE`` costs about as much as a
        receive); a message of any other shape is dropped with a warning, and so may be the
        event after it."""
        import zmq

        sub, readable = self._sub, self._readable
        assert sub is not None and readable is not None
        recv, noblock, again = sub.recv, int(zmq.NOBLOCK), zmq.Again
        handle, batch, track = self.handle_recv, self.batch, self._track_seq
        hello, flushed = self._hello_topic, self._flushed_topic
        while True:
            count = 0
            while count < batch:
                try:
                    topic = recv(noblock)
                except again:
                    break
                count += 1
                try:
                    frame = recv(noblock, copy=False)
                except again:
                    self.log.warning(_MALFORMED, 1)
                    continue
                if frame.more:
                    self.log.warning(_MALFORMED, 2 + _discard_rest(sub))
                    continue
                body = frame.bytes
                seq = event_seq(body)
                if seq is not None:
                    track(seq)
                if topic == hello:
                    self._on_hello(body)
                    if not self._wants(topic):
                        continue
                elif topic == flushed:
                    if self._flush_token and self._flush_token.encode() in body:
                        return  # everything published before the stop has been handled
                    if not self._wants(topic):
                        continue
                self.received += 1
                try:
                    result = handle((topic, body))
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:
                    self.log.exception("handle_recv failed on %r", topic)
            if count >= batch:
                await asyncio.sleep(0)
                continue
            readable.clear()
            if _events(sub) & zmq.POLLIN:
                continue
            await readable.wait()

    def _wants(self, topic: bytes) -> bool:
        return any(topic.startswith(t.encode()) for t in self.topics)

    def _track_seq(self, seq: int) -> None:
        last = self.last_seq
        self.last_seq = seq
        if last is None or seq <= last + 1 or "" not in self.topics:
            return
        missed = seq - last - 1
        self.missed += missed
        self._unreported += missed
        try:
            self.handle_gap(missed, last + 1, seq - 1)
        except Exception:
            self.log.exception("handle_gap failed")
        if self._report_handle is None:
            self._report_handle = self.loop.call_later(_DROP_REPORT_DELAY, self._report_drops)

    async def _report_progress(self) -> None:
        """Tell the host, every half second while events come, the last ``seq`` handled: it
        then knows how far behind this subscriber is, and names it at once when events are
        sent past its full queue (before this plugin reaches the gap)."""
        if "" not in self.topics:
            return  # a filtered subscriber's last seq says nothing of its queue
        reported: int | None = None
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            seq = self.last_seq
            if seq is not None and seq != reported and self._dealer is not None:
                reported = seq
                with contextlib.suppress(Exception):
                    self.cast("zmq.progress", name=self.name, seq=seq)

    def _report_drops(self) -> None:
        """Tell the host how many events this subscriber missed (``stats`` shows them)."""
        self._report_handle = None
        count, self._unreported = self._unreported, 0
        if count and self._dealer is not None:
            with contextlib.suppress(Exception):
                self.cast("zmq.drops", name=self.name, count=count)

    # -- handshake ------------------------------------------------------------------------

    def _on_hello(self, body: bytes) -> None:
        try:
            data = json.loads(body).get("data", {})
        except (ValueError, AttributeError):
            return
        if data.get("pid") == os.getpid() and self._confirmed is not None:
            self._confirmed.set()

    async def _handshake(self) -> None:
        """Say hello, with the hook spec version this plugin was written against, until our
        own hello event comes back, then tell the host we are ready. A host that refuses the
        version answers the first hello with an error: the plugin logs it and stops."""
        confirmed = self._confirmed
        assert confirmed is not None
        version = str(getattr(self, SPEC_VERSION_ATTR, SPEC_VERSION))
        hello = {"name": self.name, "pid": os.getpid(), "spec": version}
        try:
            await self.acall("zmq.hello", **hello)
        except CallError as exc:
            self.log.error("the host refused this plugin at the handshake: %s", exc.reason)
            self.refused = exc.reason
            self._request_stop()
            return
        except (TimeoutError, RuntimeError):
            pass
        deadline = time.monotonic() + _HANDSHAKE_LIMIT
        delay = 0.02
        while not confirmed.is_set():
            if time.monotonic() > deadline:
                self.log.warning("no answer from the host at %s", self.endpoint)
                return
            self.cast("zmq.hello", **hello)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(confirmed.wait(), delay)
            delay = min(delay * 2, 0.5)
        self.cast("zmq.hello", **hello, ready=True)

    # -- commands -------------------------------------------------------------------------

    def call(self, command: str, /, **props: Any) -> dict[str, Any]:
        """Run a host command and return the reply; safe from any thread.

        Raises :class:`CallError` on an error reply (``"status": "error"``; a ``status``
        reply carries the plugin's state in ``status``, as circus does) and ``TimeoutError``
        after :attr:`call_timeout` seconds.
        """
        if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
            future = asyncio.run_coroutine_threadsafe(self.acall(command, **props), self.loop)
            return future.result(self.call_timeout + 1.0)
        dealer = self._require_dealer()
        msg_id = uuid.uuid4().hex
        self._send_request(command, props, msg_id, cast=False)
        deadline = time.monotonic() + self.call_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self._timeout_text(command))
            if not dealer.poll(int(remaining * 1000) + 1):
                continue
            reply = self._read_reply()
            if reply is None:
                continue
            if reply.get("id") == msg_id:
                return self._check(command, reply)
            self._route(reply)

    async def acall(self, command: str, /, **props: Any) -> dict[str, Any]:
        """:meth:`call` for ``async`` code on the plugin's loop."""
        self._require_dealer()
        msg_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._pending[msg_id] = future
        try:
            self._send_request(command, props, msg_id, cast=False)
            reply = await asyncio.wait_for(future, self.call_timeout)
        except TimeoutError:
            raise TimeoutError(self._timeout_text(command)) from None
        finally:
            self._pending.pop(msg_id, None)
        return self._check(command, reply)

    def cast(self, command: str, /, **props: Any) -> None:
        """Send a command without waiting: the host never replies to a cast."""
        if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
            self.loop.call_soon_threadsafe(functools.partial(self.cast, command, **props))
            return
        self._require_dealer()
        self._send_request(command, props, uuid.uuid4().hex, cast=True)

    def _require_dealer(self) -> zmq.Socket[Any]:
        if self._dealer is None:
            raise RuntimeError(f"plugin {self.name!r} is not connected (call start() first)")
        return self._dealer

    def _send_request(
        self, command: str, props: Mapping[str, Any], msg_id: str, *, cast: bool
    ) -> None:
        import zmq

        request: dict[str, Any] = {"id": msg_id, "command": command, "properties": dict(props)}
        if cast:
            request["msg_type"] = "cast"
        try:
            self._require_dealer().send(_ENCODE(request).encode(), zmq.NOBLOCK)
        except zmq.Again:
            raise TimeoutError(f"{command}: the host at {self.endpoint} is not reading") from None

    def _timeout_text(self, command: str) -> str:
        return f"{command}: no reply from the host at {self.endpoint} within {self.call_timeout:g}s"

    def _read_reply(self) -> dict[str, Any] | None:
        import zmq

        try:
            frames = self._require_dealer().recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None
        try:
            reply = json.loads(frames[-1])
        except ValueError:
            self.log.warning("ignored a reply that is not JSON")
            return None
        return reply if isinstance(reply, dict) else None

    def _on_dealer_ready(self) -> None:
        import zmq

        dealer = self._dealer
        while dealer is not None and _events(dealer) & zmq.POLLIN:
            reply = self._read_reply()
            if reply is not None:
                self._route(reply)

    def _route(self, reply: dict[str, Any]) -> None:
        future = self._pending.get(str(reply.get("id")))
        if future is not None and not future.done():
            future.set_result(reply)

    @staticmethod
    def _check(command: str, reply: dict[str, Any]) -> dict[str, Any]:
        if reply.get("status") == "error":
            raise CallError(command, reply)
        return reply


def _discard_rest(sock: zmq.Socket[Any]) -> int:
    """Read the remaining frames of a message; how many there were."""
    import zmq

    count = 0
    while sock.getsockopt(zmq.RCVMORE):
        sock.recv()
        count += 1
    return count


def _events(sock: zmq.Socket[Any]) -> int:
    import zmq

    return cast(int, sock.getsockopt(zmq.EVENTS))


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
