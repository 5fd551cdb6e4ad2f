"""Circus compatibility: circus.ini watchers under the host's supervisor, and circusd's whole
command set on the command socket.

Loaded only when it is asked for (``[zmq] circus_compat`` or ``circus_config``) or when the
``circus`` package is installed; plugyard never imports circus itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from ._commands import CircusCommands
from ._config import CircusIni, circus_endpoints, read_circus_ini
from ._options import OptionError, WatcherOptions
from ._watcher import Watcher

if TYPE_CHECKING:
    from plugyard.host import Host

    from .._service import ZmqService

__all__ = [
    "CircusCommands",
    "CircusIni",
    "circus_endpoints",
    "OptionError",
    "Watcher",
    "WatcherOptions",
    "install",
    "wanted",
    "read_circus_ini",
]


def wanted(circus_compat: bool, circus_config: Path | None) -> bool:
    """Whether the host should speak circus: asked for, or circus is installed."""
    if circus_compat or circus_config is not None:
        return True
    return importlib.util.find_spec("circus") is not None


def install(host: Host, service: ZmqService, ini: Path | None) -> CircusCommands:
    """Create the command set and register the watchers of ``ini`` as plugins of the host."""
    from plugyard.host import PluginState

    settings = service.settings
    commands = CircusCommands(
        host,
        endpoints=lambda: (service.endpoint, service.pubsub_endpoint),
        check_delay=settings.check_delay,
        circus_words=settings.circus_compat or ini is not None,
        ini=ini,
    )
    if ini is not None:
        for options in read_circus_ini(ini).watchers.values():
            commands.add_watcher(options, str(ini))
            if not options.autostart:
                host.registry.set_state(options.name, PluginState.STOPPED)
    return commands
