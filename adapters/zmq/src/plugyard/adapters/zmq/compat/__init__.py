"""Circus compatibility: circus.ini watchers under the host's supervisor, and circusd's whole
command set on the command socket.

Loaded only when it is asked for (``[zmq] circus_compat`` or ``circus_config``) or when the
``circus`` package is installed; plugyard never imports circus itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._commands import CircusCommands
from ._config import (
    CircusIni,
    circus_endpoints,
    read_circus_ini,
    read_socket_tables,
    read_watcher_tables,
)
from ._options import OptionError, WatcherOptions
from ._sockets import BoundSocket, SocketOptions
from ._watcher import Watcher

if TYPE_CHECKING:
    from plugyard.host import Host

    from .._service import ZmqService

__all__ = [
    "BoundSocket",
    "CircusCommands",
    "SocketOptions",
    "CircusIni",
    "circus_endpoints",
    "OptionError",
    "Watcher",
    "WatcherOptions",
    "install",
    "wanted",
    "read_circus_ini",
    "read_socket_tables",
    "read_watcher_tables",
]


def wanted(circus_compat: bool, circus_config: Path | None, watchers: bool = False) -> bool:
    """Whether the host should speak circus: asked for, watchers or sockets configured, or
    circus is installed."""
    if circus_compat or circus_config is not None or watchers:
        return True
    return importlib.util.find_spec("circus") is not None


def install(
    host: Host,
    service: ZmqService,
    ini: Path | None,
    tables: dict[str, Any],
    socket_tables: dict[str, Any] | None = None,
) -> CircusCommands:
    """Create the command set and register the watchers of ``[watchers.NAME]`` tables and of
    ``ini`` as plugins of the host."""
    settings = service.settings
    commands = CircusCommands(
        host,
        endpoints=lambda: (service.endpoint, service.pubsub_endpoint),
        check_delay=settings.check_delay,
        circus_words=settings.circus_compat or ini is not None,
        ini=ini,
    )
    where = host.config.where
    for name, socket in read_socket_tables(socket_tables or {}, where).items():
        commands.sockets[name] = BoundSocket(socket)
    for options in read_watcher_tables(tables, where).values():
        commands.install_watcher(options, where)
    if ini is not None:
        found = read_circus_ini(ini)
        for name, socket in found.sockets.items():
            if name in commands.sockets:
                raise OptionError(
                    f"{ini}: [socket:{name}]: a socket called {name!r} is already "
                    f"configured in {where}"
                )
            commands.sockets[name] = BoundSocket(socket)
        for options in found.watchers.values():
            if commands.watchers.get(options.name) is not None:
                raise OptionError(
                    f"{ini}: [watcher:{options.name}]: a watcher called {options.name!r} is "
                    f"already configured in {where}"
                )
            commands.install_watcher(options, str(ini))
    return commands
