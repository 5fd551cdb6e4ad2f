"""The adapter object the ``plugyard.adapters`` entry point names.

Importing this module is light (no zmq, no pydantic): ``plugyard --help`` imports it to collect
CLI commands. Everything heavy is imported inside the hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Command, Host, PluginSpec

    from ._plugins import SubscriberHandle
    from ._service import ZmqService

__all__ = ["SUBSCRIBERS_GROUP", "ZmqAdapter", "adapter"]

SUBSCRIBERS_GROUP = "plugyard.subscribers"
"""An entry-point group for subscriber plugins (``plugyard.plugins`` works too)."""


def _service(host: Host) -> ZmqService:
    from ._service import ZmqService

    return ZmqService.of(host)


class ZmqAdapter:
    """Maps subscriber plugins onto the host: sockets at startup, one process per plugin."""

    name = "zmq"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Validate ``[zmq]``, read a circus INI file if named, and add the service."""
        from ._service import ZmqService

        host.services.add(ZmqService.configured(host))
        host.add_plugin_group(SUBSCRIBERS_GROUP, model="zmq")

    @hookimpl
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> SubscriberHandle | None:
        """Claim SubscriberPlugin (and circus CircusPlugin) classes."""
        from ._plugins import SubscriberHandle, flavour_of, process_options, target_of

        obj = spec.load()
        flavour = flavour_of(obj)
        if flavour is None:
            return None
        service = _service(host)
        where = spec.where or spec.source
        options = dict(spec.options)
        process = process_options(service.settings.process, options.pop("process", None), where)
        handle = SubscriberHandle(
            service, spec.name, target_of(obj, where), options, process, flavour
        )
        service.handles[spec.name] = handle
        return handle

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        """Bind the sockets and start serving (before any plugin starts)."""
        await _service(host).start()

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        """Close the sockets (after every plugin has stopped)."""
        await _service(host).stop()

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Command]:
        """``zmq.hello`` and ``zmq.drops``, used by subscriber plugins."""
        return _service(host).commands()

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """``plugyard call``, ``plugyard status`` and ``plugyard events``."""
        from ._cli import call_cmd, events_cmd, status_cmd

        cli.add_command(call_cmd, "call")
        cli.add_command(status_cmd, "status")
        cli.add_command(events_cmd, "events")


adapter = ZmqAdapter()
"""The instance the entry point loads."""
