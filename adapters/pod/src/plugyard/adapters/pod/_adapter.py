"""The pod adapter's hooks. Light to import: everything heavy loads when a hook runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Host

__all__ = ["PodAdapter", "adapter"]


class PodAdapter:
    """Maps the pod-plugin model onto plugyard's hooks; one object serves every host."""

    name = "pod"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        from ._runtime import PodRuntime
        from ._settings import PodSettings

        host.extend("pod", PodRuntime(host, host.config.section("pod", PodSettings)))

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        runtime = host.pod
        await runtime.open()

        async def advertise_url(_event: Any) -> None:
            await runtime.url()

        host.subscribe("host.started", advertise_url, name="pod")

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        await host.pod.close()

    @hookimpl
    def plugyard_routes(self, host: Host) -> list[Any]:
        routes: list[Any] = host.pod.routes()
        return routes

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Any]:
        from ._commands import commands

        return commands(host)

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        from ._cli import pod_group

        cli.add_command(pod_group)


adapter = PodAdapter()
