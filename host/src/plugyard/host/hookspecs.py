"""The plugyard hook specifications: the one contract between the host, adapters and plugins.

Every hook takes keyword arguments only. An implementation names just the arguments it needs.
Hooks with a call policy (``@policy``) are dispatched by ``host.acall``: one implementation at a
time in pluggy's order, awaiting what returns an awaitable, with a per-implementation timeout,
and with each result and error attributed to its plugin. The same hooks called as
``host.hook.NAME(...)`` keep pluggy's plain semantics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from ._policy import hookspec, policy

if TYPE_CHECKING:
    import click

    from plugyard.sdk import Event

    from ._commands import Command
    from ._discovery import PluginSpec
    from ._host import Host
    from ._registry import PluginHandle

__all__ = [
    "plugyard_addhooks",
    "plugyard_cli",
    "plugyard_commands",
    "plugyard_configure",
    "plugyard_event",
    "plugyard_load_plugin",
    "plugyard_routes",
    "plugyard_shutdown",
    "plugyard_startup",
]


@hookspec(historic=True)
def plugyard_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add a model's own hook specifications.

    Called once for every adapter or plugin as soon as it is registered (the call is
    historic, so late registrations see it too). Call ``pluginmanager.add_hookspecs(module)``
    here, as ``pytest_addhooks`` does. Returns nothing.
    """


@hookspec
@policy(errors="isolate", timeout=10.0)
def plugyard_configure(host: Host) -> Awaitable[None] | None:
    """Read configuration and prepare, before any plugin is loaded.

    Called once per start, after every adapter is registered. An adapter validates its own
    config section here (``host.config.section(...)``) and declares what its plugins will
    need. May be ``async``. A failure is attributed to the implementing adapter, which is
    then marked failed and unregistered; the host goes on.
    """


@hookspec(firstresult=True)
@policy(errors="raise", result="first", timeout=30.0)
def plugyard_load_plugin(host: Host, spec: PluginSpec) -> PluginHandle | None:
    """Turn a discovered plugin into a running-capable handle.

    Called once per discovered plugin. ``spec.load()`` imports its target. The adapter that
    recognises the object returns a handle with ``start()``, ``stop()`` and ``describe()``;
    every other adapter returns ``None``. The first non-``None`` result wins. An exception
    marks the plugin failed with that error; the host goes on.
    """


@hookspec
@policy(errors="isolate")
def plugyard_startup(host: Host) -> Awaitable[None] | None:
    """The host is starting: open sockets, start servers, begin background work.

    Called once per start, after every plugin is loaded and before plugins are started. May be
    ``async``. Each implementation gets ``[host] startup_timeout`` seconds. One failing or
    hanging implementation is recorded against its plugin and never stops the others or the
    host.
    """


@hookspec
@policy(errors="isolate")
def plugyard_shutdown(host: Host) -> Awaitable[None] | None:
    """The host is stopping: release what ``plugyard_startup`` acquired.

    Called once per stop, after every plugin is stopped. May be ``async``. Each
    implementation gets ``[host] shutdown_timeout`` seconds; failures and timeouts are
    recorded and the shutdown goes on.
    """


@hookspec
@policy(errors="isolate", timeout=5.0)
def plugyard_event(host: Host, event: Event) -> Awaitable[None] | None:
    """Observe one host event.

    Called for every event the host publishes, in publishing order, from the host's event
    dispatcher (never from the publisher's stack). May be ``async``. Keep it quick: a slow
    implementation delays later events to every other observer. Failures are isolated.
    """


@hookspec
@policy(errors="isolate")
def plugyard_commands(host: Host) -> Sequence[Command] | None:
    """Contribute commands to the host's command plane.

    Called once per start, after ``plugyard_configure``. Returns a list of
    :class:`~plugyard.host.Command`; a name already taken is refused with an error naming
    both contributors.
    """


@hookspec
@policy(errors="isolate")
def plugyard_routes(host: Host) -> Sequence[Any] | None:
    """Contribute HTTP routes to the host's ASGI application.

    Called once when the application is built. Returns route objects understood by the
    adapter that serves HTTP (Starlette ``Route`` or ``Mount`` objects, or
    ``(path, endpoint, methods)`` tuples).
    """


@hookspec
def plugyard_cli(cli: click.Group) -> None:
    """Add subcommands to the ``plugyard`` command line.

    Called once when the CLI is built, with the top-level click group; call
    ``cli.add_command(...)``. Keep the implementing module light: import heavy libraries
    inside the commands, so that ``plugyard --help`` stays fast.
    """
