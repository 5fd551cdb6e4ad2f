"""The pod adapter's hooks, and nothing else. Light to import: everything heavy loads when a
hook runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Command, Host, PluginSpec

    from ._plugins import PodPluginHandle

__all__ = ["PodAdapter", "adapter"]


class PodAdapter:
    """Maps the pod-plugin model onto plugyard's hooks; one object serves every host, each
    with its own :class:`~plugyard.adapters.pod.PodService`."""

    name = "pod"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Read ``[pod]``, add the service, and discover ``plugyard.pods`` entry points."""
        from ._plugins import PODS_GROUP
        from ._service import PodService
        from ._settings import PodSettings

        host.services.add(PodService(host, host.config.section("pod", PodSettings)))
        host.add_plugin_group(PODS_GROUP, model="pod")

    @hookimpl
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> PodPluginHandle | None:
        """Claim pod plugin classes (``PodPlugin`` subclasses)."""
        from ._plugins import handle_for

        return handle_for(spec, spec.load())

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        """Open the store and the run manager, write the owner token."""
        from ._service import PodService

        await PodService.of(host).open()

    @hookimpl
    async def plugyard_started(self, host: Host) -> None:
        """Every plugin has started: find or start the pod API's server, advertise its URL."""
        from ._service import PodService

        await PodService.of(host).url()

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        """Abort runs still going, stop the server, close the store."""
        from ._service import PodService

        await PodService.of(host).close()

    @hookimpl
    def plugyard_routes(self, host: Host) -> list[Any]:
        """The pod API, for the host's HTTP server."""
        from ._service import PodService

        return PodService.of(host).routes()

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Command]:
        """``pod.launch``, ``pod.abort`` and ``pod.run``."""
        from ._commands import commands
        from ._service import PodService

        return commands(PodService.of(host))

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """``plugyard pod ...``."""
        from ._cli import pod_group

        cli.add_command(pod_group)


adapter = PodAdapter()
"""The instance the ``plugyard.adapters`` entry point names."""
