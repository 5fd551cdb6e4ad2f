"""One host's ZMQ side: the sockets, the event publisher, the command server and the plugins.

Available as ``ZmqService.of(host)`` once the adapter has read its configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugyard.host import HostInfoError, Service, read_host_info
from plugyard.sdk import Command, CommandError, Errno, Param

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

        from ._curve import CurveKeys, ZapHandler
        from ._publisher import EventPublisher
        from ._server import CommandServer

        self._refuse_second_host()
        if self.circus is not None:
            self.circus.bind_sockets()
        settings = self.settings
        ctx = zmq.asyncio.Context()
        self._ctx = ctx
        if settings.curve_secret_key is not None:
            self.curve = CurveKeys(
                settings.curve_secret_key.get_secret_value(), settings.curve_clients
            )
            self.key_file = self.curve.write_client_file(Path(self.host.runtime_dir))
            self._zap = ZapHandler(ctx, self.curve.allowed, settings.max_message_size)
            self._zap.start()
        router = ctx.socket(zmq.ROUTER)
        router.linger = 0
        sync_ctx: zmq.Context[Any] = zmq.Context.shadow(ctx.underlying)
        xpub = sync_ctx.socket(zmq.XPUB)
        xpub.setsockopt(zmq.XPUB_NODROP, 1)
        xpub.sndhwm = settings.sndhwm
        xpub.linger = 0
        for sock in (router, xpub):
            sock.setsockopt(zmq.MAXMSGSIZE, settings.max_message_size)
            if self.curve is not None:
                self.curve.apply_server(sock)
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

    def _count_overflow(self, count: int) -> None:
        self.host.stats[self.name].drops += count
        logger.warning(
            "%d event(s) sent past a full subscriber queue; slow subscribers lose them", count
        )

    def _on_process_state(self, info: ProcessInfo) -> None:
        handle = self.handles.get(info.name)
        if handle is not None:
            handle.on_process_state(info)

    # -- commands -------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        """Commands the subscriber plugins use: ``zmq.hello`` and ``zmq.drops``."""
        return [
            Command(
                "zmq.hello",
                self.hello,
                "A subscriber announces itself; ready=true once its subscription is live",
                {
                    "name": Param(str, required=True, help="subscriber name"),
                    "pid": Param(int, required=True, help="its process id"),
                    "ready": Param(bool, default=False),
                },
                source=self.name,
                aliases=("hello",),
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

    def hello(self, name: str, pid: int, ready: bool = False) -> dict[str, Any]:
        """Publish ``subscriber.NAME.hello`` (or ``.ready``) so the subscriber sees itself."""
        state = "ready" if ready else "hello"
        self.host.publish_event(
            f"subscriber.{name}.{state}", {"name": name, "pid": pid}, source=name
        )
        handle = self.handles.get(name)
        if ready and handle is not None:
            handle.mark_ready(pid)
        return {"name": name}

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
