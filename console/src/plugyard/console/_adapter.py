"""The console adapter object the host loads from the ``plugyard.adapters`` entry point.

Light to import: Starlette and Jinja2 are imported when a host mounts the console.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Host

__all__ = ["ConsoleAdapter", "adapter"]

logger = logging.getLogger("plugyard.console")


def wanted(host: Host) -> bool:
    """Whether ``host`` gets a console: it has a ``[console]`` section (that does not say
    ``enabled = false``), or it serves HTTP (an ``[http]`` section)."""
    raw = host.config.to_dict()
    if "console" in raw:
        section = raw["console"]
        return not (isinstance(section, dict) and section.get("enabled") is False)
    return "http" in raw


class ConsoleAdapter:
    """Adds the dashboard to hosts that serve HTTP: a service that follows the event stream,
    the routes under ``[console] path``, and ``plugyard web``."""

    name = "console"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Read ``[console]`` and add the service, which starts following events at once."""
        from ._service import ConsoleService, settings_of

        if "console" in host.config.to_dict() or wanted(host):
            settings = settings_of(host)
            if settings.enabled and wanted(host):
                host.services.add(ConsoleService(host, settings))

    @hookimpl
    def plugyard_startup(self, host: Host) -> None:
        """Write the token file in the host's runtime folder."""
        from ._service import ConsoleService

        service = ConsoleService.find(host)
        if service is not None:
            service.write_token()

    @hookimpl
    def plugyard_routes(self, host: Host) -> Sequence[Any]:
        """The dashboard, mounted at ``[console] path``."""
        from ._service import ConsoleService

        service = ConsoleService.find(host)
        if service is None:
            return []
        from starlette.routing import Mount

        from ._app import create_app

        return [Mount(service.settings.path, app=create_app(host, service))]

    @hookimpl
    def plugyard_started(self, host: Host) -> None:
        """Advertise the dashboard's address (``console_url`` in ``host.json``)."""
        from ._service import ConsoleService

        service = ConsoleService.find(host)
        url = host.advertised.get("http_url")
        if service is not None and url:
            host.advertise("console_url", f"{str(url).rstrip('/')}{service.settings.path}/")

    @hookimpl
    def plugyard_shutdown(self, host: Host) -> None:
        """End the event streams and remove the token file."""
        from ._service import ConsoleService

        service = ConsoleService.find(host)
        if service is not None:
            service.close()

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """``plugyard web``."""
        from ._cli import web

        cli.add_command(web)


adapter = ConsoleAdapter()
"""The instance the ``plugyard.adapters`` entry point names."""
