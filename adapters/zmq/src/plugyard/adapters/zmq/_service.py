"""One host's ZMQ side: the sockets, the event publisher, the command server and the plugins.

Available as ``ZmqService.of(host)`` once the adapter has read its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import HostInfoError, Service, read_host_info
from plugyard.sdk import Command, CommandError, Errno, Param, spec_version_problem

from ._settings import ZmqSettings, describe_settings

if TYPE_CHECKING:
    import zmq
    import zmq.asyncio
    from plugyard.host import Host, ProcessInfo

    from ._curve import CurveKeys, ZapHandler
    from ._plugins import SubscriberHandle
    from ._publisher import EventPublisher
    from ._server import CommandServer
    from .compat import CircusCommands

__all__ = ["ZmqService"]

logger = logging.getLogger("plugyard.adapters.zmq")

STUCK_AFTER = 3.0
"""Seconds after events were sent past a full queue by which each subscriber that keeps up
has reported its progress; one that has not, and had not reached those events, is stuck."""


@dataclass(slots=True)
class SubscriberProgress:
    """Where a subscriber plugin is in the event stream, from its ``zmq.progress`` reports."""

    seq: int = 0
    """The last ``seq`` it had handled when it reported."""
    lag: int = 0
    """Events published but not yet handled by it when its report came in."""
    reported: float = 0.0
    """When the report came in (``time.monotonic``)."""
    losing_from: int | None = None
    """The first event sent past its full queue since it was last caught up: it loses that
    one and, until its queue has room again, the ones after it."""


class ZmqService(Service):
    """The event and command sockets of one host, and its subscriber plugins."""

    name = "zmq"
    legacy_attributes = {"zmq": ""}

    def __init__(self, host: Host, settings: ZmqSettings) -> None:
        self.host = host
        self.settings = settings
        folder = Path(host.runtime_dir)
        self.endpoint = settings.endpoint or f"ipc://{folder / 'zmq-control.sock'}"
        self.pubsub_endpoint = settings.pubsub_endpoint or f"ipc://{folder / 'zmq-events.sock'}"
        self.plugin_log_level = (settings.plugin_log_level or host.config.host.log_level).lower()
        self.handles: dict[str, SubscriberHandle] = {}
        self.curve: CurveKeys | None = None
        self.key_file: Path | None = None
        self.publisher: EventPublisher | None = None
        self.server: CommandServer | None = None
        self.circus: CircusCommands | None = None
        self._zap: ZapHandler | None = None
        self._ctx: zmq.asyncio.Context | None = None
        self._unsubscribe: list[Any] = []
        self.progress: dict[str, SubscriberProgress] = {}
        self._overflow_warned = 0.0
        self._episode: tuple[int, float] | None = None
        self._judge_handle: asyncio.TimerHandle | None = None
        """Subscriber plugins' positions in the event stream, by plugin name."""

    @classmethod
    def configured(cls, host: Host) -> ZmqService:
        """The service for ``host`` from its ``[zmq]`` section, with the plugins of a
        circus INI file (``zmq.circus_config``) added to the configuration; a
        ``ConfigError`` names the key at fault."""
        settings = host.config.section("zmq", ZmqSettings)
        if settings.circus_config is not None:
            settings = _circus_endpoints(host, settings)
        _check_exposure(host, settings)
        if settings.circus_config is not None:
            _add_ini_plugins(host, settings.circus_config)
        service = cls(host, settings)
        _check_default_paths(host, service)
        _install_circus(host, service)
        return service

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind both sockets, start publishing events and serving commands, advertise them."""
        import zmq
        import zmq.asyncio

        from ._curve import INSECURE_DOMAIN, IPC_DOMAIN
        from ._publisher import EventPublisher
        from ._server import CommandServer

        self._refuse_second_host()
        if self.circus is not None:
            self.circus.bind_sockets()
        settings = self.settings
        ctx = zmq.asyncio.Context()
        self._ctx = ctx
        self._zap = self._admission(ctx)
        sync_ctx: zmq.Context[Any] = zmq.Context.shadow(ctx.underlying)
        router = sync_ctx.socket(zmq.ROUTER)
        router.linger = 0
        xpub = sync_ctx.socket(zmq.XPUB)
        xpub.setsockopt(zmq.XPUB_NODROP, 1)
        xpub.sndhwm = settings.sndhwm
        xpub.linger = 0
        for sock, endpoint in ((router, self.endpoint), (xpub, self.pubsub_endpoint)):
            sock.setsockopt(zmq.MAXMSGSIZE, settings.max_message_size)
            if self.curve is not None:
                self.curve.apply_server(sock)
            elif endpoint.startswith("ipc://"):
                sock.zap_domain = IPC_DOMAIN
            else:
                sock.zap_domain = INSECURE_DOMAIN
        try:
            router.bind(self.endpoint)
            xpub.bind(self.pubsub_endpoint)
        except zmq.ZMQError as exc:
            router.close()
            xpub.close()
            raise RuntimeError(
                f"cannot bind {self.endpoint} and {self.pubsub_endpoint}: {exc}"
            ) from None
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.pubsub_endpoint = xpub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.publisher = EventPublisher(
            xpub,
            buffer=settings.buffer,
            circus_compat=settings.circus_compat or settings.circus_config is not None,
            on_overflow=self._count_overflow,
            max_size=settings.max_message_size,
        )
        self.publisher.start()
        self._unsubscribe.append(self.host.subscribe("*", self.publisher, name=self.name))
        self.server = CommandServer(
            self.host,
            router,
            max_inflight=settings.max_inflight,
            circus_compat=settings.circus_compat or settings.circus_config is not None,
            circus=self.circus,
            max_size=settings.max_message_size,
            may_load_code=self._zap.may_load_code,
        )
        self.server.start()
        if self.circus is not None and (self.circus.ini is not None or self.circus.watchers):
            self._unsubscribe.append(self.circus.reload_on_sighup())
        self._unsubscribe.append(self.host.processes.on_state(self._on_process_state))
        self.host.advertise("zmq", self.advertisement())
        logger.info("commands on %s, events on %s", self.endpoint, self.pubsub_endpoint)

    async def stop(self) -> None:
        """Stop serving, flush and close the sockets, remove the client key file."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._judge_handle is not None:
            self._judge_handle.cancel()
            self._judge_handle = None
        if self.server is not None:
            await self.server.close()
        if self.publisher is not None:
            await self.publisher.close()
        if self._zap is not None:
            await self._zap.close()
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            await asyncio.to_thread(ctx.term)
        if self.circus is not None:
            self.circus.close_sockets()
        if self.key_file is not None:
            self.key_file.unlink(missing_ok=True)
        for endpoint in (self.endpoint, self.pubsub_endpoint):
            if endpoint.startswith("ipc://"):
                with contextlib.suppress(OSError):
                    os.unlink(endpoint[6:])

    def _admission(self, ctx: zmq.asyncio.Context) -> ZapHandler:
        """CURVE keys for TCP (the configured ones, else a pair kept in the runtime folder,
        unless ``insecure_tcp``), and the ZAP handler that admits each connection."""
        from ._curve import CurveKeys, ZapHandler, kept_server_secret

        settings = self.settings
        folder = Path(self.host.runtime_dir)
        tcp = [ep for ep in (self.endpoint, self.pubsub_endpoint) if ep.startswith("tcp://")]
        secret = settings.curve_secret_key
        if secret is not None:
            server_secret: str | None = secret.get_secret_value()
        elif tcp and not settings.insecure_tcp:
            server_secret = kept_server_secret(folder)
        else:
            server_secret = None
        if tcp and server_secret is None:
            logger.warning(
                "UNSAFE: [zmq] insecure_tcp serves %s without CURVE: every account on this "
                "machine can send the host commands and read its events",
                ", ".join(tcp),
            )
        if server_secret is not None:
            self.curve = CurveKeys(server_secret, settings.curve_clients)
            self.key_file = self.curve.write_client_file(folder)
        zap = ZapHandler(ctx, self.curve, settings.max_message_size)
        zap.start()
        return zap

    def advertisement(self) -> dict[str, Any]:
        """What ``host.json`` says about the sockets, for the CLI and hand-run plugins."""
        return {
            "endpoint": self.endpoint,
            "pubsub_endpoint": self.pubsub_endpoint,
            "curve_server_key": self.curve.server_public if self.curve else None,
            "curve_keys_file": str(self.key_file) if self.key_file else None,
            "max_message_size": self.settings.max_message_size,
        }

    def _refuse_second_host(self) -> None:
        """Binding an ``ipc://`` path takes it over: refuse while another live host uses it."""
        try:
            info = read_host_info(Path(self.host.runtime_dir))
        except HostInfoError:
            return
        pid = info.get("pid")
        if pid != os.getpid() and info.get("zmq"):
            raise RuntimeError(
                f"another host (pid {pid}) runs with the runtime folder {self.host.runtime_dir}; "
                "give this host another [host] name or runtime_dir"
            )

    # -- events and state -----------------------------------------------------------------

    def _count_overflow(self, count: int, first: int, last: int) -> None:
        """Events ``first``..``last`` went out past full queues. libzmq then stops sending to
        a full subscriber until it has read half its queue, so it loses more than these, and
        finds out only when it reaches the gap. Name it now instead: from its progress
        report (far behind when it reported) or from its silence (stuck in a handler)."""
        seqs = f"seq {first} to {last}" if first >= 0 else "frames"
        now = time.monotonic()
        if now - self._overflow_warned >= 1.0:
            self._overflow_warned = now
            logger.warning(
                "%d event(s) (%s) sent past a full subscriber queue; a subscriber that is "
                "that far behind loses them and what follows until its queue has room",
                count,
                seqs,
            )
        if first < 0:
            return
        if self._episode is None:
            self._episode = (first, now)
            loop = asyncio.get_running_loop()
            self._judge_handle = loop.call_later(STUCK_AFTER, self._judge_silent)
        floor = self.settings.sndhwm
        for name, progress in list(self.progress.items()):
            if progress.lag >= floor and progress.reported >= self._episode[1] - STUCK_AFTER:
                self._name_behind(name, progress, first, "far behind at its last report")

    def _judge_silent(self) -> None:
        """``STUCK_AFTER`` seconds after an overflow: subscribers that have not reported
        since, and had not reached the events sent past full queues, are stuck."""
        self._judge_handle = None
        episode, self._episode = self._episode, None
        if episode is None:
            return
        first, began = episode
        for name, progress in list(self.progress.items()):
            if progress.reported < began and progress.seq < first and name in self.handles:
                self._name_behind(name, progress, first, "no progress report since")

    def _name_behind(self, name: str, progress: SubscriberProgress, first: int, why: str) -> None:
        if name not in self.handles or progress.losing_from is not None:
            return
        progress.losing_from = first
        lag = max(0, self.host.bus.last_seq - progress.seq)
        logger.warning(
            "subscriber %r is %d event(s) behind (%s); it loses events from seq %d on, until "
            "its queue has room again: its drops count them once it gets there",
            name,
            lag,
            why,
            first,
            extra={"plugin": name},
        )
        self.host.publish_event(
            f"subscriber.{name}.behind",
            {"name": name, "seq": progress.seq, "lag": lag, "losing_from": first},
            source=self.name,
        )

    def _on_process_state(self, info: ProcessInfo) -> None:
        handle = self.handles.get(info.name)
        if handle is not None:
            handle.on_process_state(info)

    # -- commands -------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        """Commands the subscriber plugins use: ``zmq.hello``, ``zmq.flush``, ``zmq.progress``
        and ``zmq.drops``."""
        return [
            Command(
                "zmq.hello",
                self.hello,
                "A subscriber announces itself; ready=true once its subscription is live",
                {
                    "name": Param(str, required=True, help="subscriber name"),
                    "pid": Param(int, required=True, help="its process id"),
                    "ready": Param(bool, default=False),
                    "spec": Param(str, default=None, help="the hook spec version it speaks"),
                },
                source=self.name,
                aliases=("hello",),
            ),
            Command(
                "zmq.flush",
                self.flush,
                "A stopping subscriber asks for a marker after the events published so far",
                {
                    "name": Param(str, required=True, help="subscriber name"),
                    "token": Param(str, required=True, help="the marker's token (1-64 chars)"),
                },
                source=self.name,
            ),
            Command(
                "zmq.progress",
                self.report_progress,
                "A subscriber reports the last seq it handled; status shows how far behind it is",
                {
                    "name": Param(str, required=True, help="subscriber name"),
                    "seq": Param(int, required=True, help="the last seq it handled"),
                },
                source=self.name,
            ),
            Command(
                "zmq.drops",
                self.drops,
                "A subscriber reports events it missed (seq gaps); stats shows them",
                {
                    "name": Param(str, required=True, help="subscriber name"),
                    "count": Param(int, required=True, help="events missed"),
                },
                source=self.name,
                aliases=("drops",),
            ),
        ]

    def hello(
        self, name: str, pid: int, ready: bool = False, spec: str | None = None
    ) -> dict[str, Any]:
        """Publish ``subscriber.NAME.hello`` (or ``.ready``) so the subscriber sees itself.

        ``spec`` is the hook spec version the subscriber was written against; one this host
        cannot serve is refused with an error reply, and its plugin fails to start."""
        problem = spec_version_problem(spec) if spec is not None else None
        if problem is not None:
            reason = f"subscriber {name!r} was {problem}"
            handle = self.handles.get(name)
            if handle is not None:
                handle.refuse(pid, reason)
            raise CommandError(reason, Errno.COMMAND_ERROR)
        state = "ready" if ready else "hello"
        self.progress.pop(name, None)  # a new process: the old one's position is gone with it
        self.host.publish_event(
            f"subscriber.{name}.{state}", {"name": name, "pid": pid}, source=name
        )
        handle = self.handles.get(name)
        if ready and handle is not None:
            handle.mark_ready(pid)
        return {"name": name}

    def flush(self, name: str, token: str) -> dict[str, Any]:
        """Publish ``subscriber.NAME.flushed`` with ``token``: the stream is ordered, so a
        stopping subscriber that receives it has received every event published before."""
        if not 0 < len(token) <= 64:
            raise CommandError("zmq.flush: token must be 1 to 64 characters", Errno.MESSAGE_ERROR)
        self.host.publish_event(
            f"subscriber.{name}.flushed", {"name": name, "token": token}, source=self.name
        )
        return {"name": name}

    def report_progress(self, name: str, seq: int) -> dict[str, Any]:
        """Record that subscriber ``name`` has handled events up to ``seq``."""
        if seq < 0:
            raise CommandError("zmq.progress: seq must not be negative", Errno.MESSAGE_ERROR)
        progress = self.progress.get(name)
        if progress is None:
            progress = self.progress[name] = SubscriberProgress()
        progress.seq = seq
        progress.lag = max(0, self.host.bus.last_seq - seq)
        progress.reported = time.monotonic()
        if progress.losing_from is not None and seq >= progress.losing_from:
            progress.losing_from = None  # past the gap: its drops report has the count
        elif self._episode is not None and progress.lag >= self.settings.sndhwm:
            self._name_behind(name, progress, self._episode[0], "far behind at its report")
        return {"name": name, "lag": progress.lag}

    def stream_position(self, name: str) -> dict[str, Any] | None:
        """Where subscriber ``name`` is in the event stream, for ``status NAME``: the last
        ``seq`` it reported handling, how many events it is behind now, how long ago it
        reported, the first event it is losing (``losing_from``, while it is) and the
        ``drops`` it reported; ``None`` before its first report."""
        progress = self.progress.get(name)
        if progress is None:
            return None
        return {
            "seq": progress.seq,
            "lag": max(0, self.host.bus.last_seq - progress.seq),
            "reported_s_ago": round(time.monotonic() - progress.reported, 1),
            "losing_from": progress.losing_from,
            "drops": self.host.stats[name].drops,
        }

    def drops(self, name: str, count: int) -> dict[str, Any]:
        """Add ``count`` to the subscriber's ``drops`` counter."""
        if count < 0:
            raise CommandError("drops: count must not be negative", Errno.MESSAGE_ERROR)
        stats = self.host.stats[name]
        stats.drops += count
        return {"name": name, "drops": stats.drops}

    def describe(self) -> dict[str, Any]:
        """Settings and counters, for ``status`` of the adapter."""
        data: dict[str, Any] = {
            "settings": describe_settings(self.settings),
            **self.advertisement(),
        }
        if self.publisher is not None:
            data["events"] = self.publisher.describe()
        data["subscribers"] = {name: self.stream_position(name) for name in sorted(self.progress)}
        if self.server is not None:
            data["commands"] = {"requests": self.server.requests, "errors": self.server.errors}
        return data


def _check_exposure(host: Host, settings: Any) -> None:
    from plugyard.host import ConfigError

    from ._settings import is_loopback

    for key in ("endpoint", "pubsub_endpoint"):
        endpoint = getattr(settings, key)
        if endpoint and not is_loopback(endpoint) and settings.curve_secret_key is None:
            raise ConfigError(
                f"{host.config.where}: zmq.{key}: {endpoint} is reachable from other machines; "
                "set zmq.curve_secret_key and zmq.curve_clients, or bind 127.0.0.1"
            )
        if endpoint and endpoint.startswith("ipc://"):
            _check_ipc_folder(host, key, endpoint)


def _check_ipc_folder(host: Host, key: str, endpoint: str) -> None:
    """An ``ipc://`` socket's folder must be one no other user can write: else another
    account could put its own socket in the host's place."""
    from plugyard.host import ConfigError, UnsafePathError, check_private_path

    folder = Path(os.path.abspath(endpoint[len("ipc://") :])).parent
    try:
        check_private_path(folder)
    except FileNotFoundError:
        raise ConfigError(
            f"{host.config.where}: zmq.{key}: {endpoint}: the folder {folder} does not exist"
        ) from None
    except UnsafePathError as exc:
        raise ConfigError(f"{host.config.where}: zmq.{key}: {endpoint}: {exc}") from None


def _check_default_paths(host: Host, service: ZmqService) -> None:
    from plugyard.host import ConfigError

    from ._settings import check_endpoint

    for key, endpoint in (
        ("endpoint", service.endpoint),
        ("pubsub_endpoint", service.pubsub_endpoint),
    ):
        try:
            check_endpoint(endpoint)
        except ValueError as exc:
            raise ConfigError(f"{host.config.where}: zmq.{key} (default): {exc}") from None


def _add_ini_plugins(host: Host, path: Any) -> None:
    from pathlib import Path

    from plugyard.host import ConfigError, PluginConfig

    from ._ini import IniError, read_circus_plugins

    file = Path(path)
    if not file.is_absolute():
        file = host.config.base_dir / file
    try:
        found = read_circus_plugins(file)
    except IniError as exc:
        raise ConfigError(f"{host.config.where}: zmq.circus_config: {exc}") from None
    for name, table in found.items():
        if name in host.config.plugins:
            raise ConfigError(
                f"{file}: [plugin:{name}]: a plugin called {name!r} is already configured "
                f"in {host.config.where}"
            )
        host.config.plugins[name] = PluginConfig.model_validate(table)


def _ini_path(host: Host, path: Any) -> Any:
    from pathlib import Path

    file = Path(path)
    return file if file.is_absolute() else host.config.base_dir / file


def _circus_endpoints(host: Host, settings: Any) -> Any:
    """``[zmq]`` settings with the circus.ini's ``[circus]`` endpoints where ``[zmq]`` names
    none (an ``ipc://`` one; a ``tcp://`` one only with ``circus_allow_tcp``)."""
    from plugyard.host import ConfigError

    from . import compat

    ini = _ini_path(host, settings.circus_config)
    try:
        found = compat.circus_endpoints(ini, allow_tcp=settings.circus_allow_tcp)
    except compat.OptionError as exc:
        if host.config.path == ini:
            raise ConfigError(str(exc)) from None
        raise ConfigError(f"{host.config.where}: zmq.circus_config: {exc}") from None
    update = {key: value for key, value in found.items() if getattr(settings, key) is None}
    return settings.model_copy(update=update) if update else settings


def _install_circus(host: Host, service: ZmqService) -> None:
    """Load the circus compatibility layer if it is wanted (see ``compat.wanted``)."""
    from plugyard.host import ConfigError

    from . import compat

    settings = service.settings
    tables = host.config.raw_section("watchers")
    sockets = host.config.raw_section("sockets")
    configured = bool(tables or sockets)
    if not compat.wanted(settings.circus_compat, settings.circus_config, configured):
        return
    ini = None if settings.circus_config is None else _ini_path(host, settings.circus_config)
    try:
        service.circus = compat.install(host, service, ini, tables, sockets)
    except compat.OptionError as exc:
        raise ConfigError(str(exc)) from None
