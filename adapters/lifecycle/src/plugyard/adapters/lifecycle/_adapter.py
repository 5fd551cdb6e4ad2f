"""The adapter object the host loads from the ``plugyard.adapters`` entry point: hooks only.

Importing this module stays light (no SQLAlchemy, YAML or Jinja2): ``plugyard --help``
imports it to collect the ``lifecycle`` subcommands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Command, Host, PluginSpec

    from ._plugins import LifecyclePluginHandle

__all__ = ["LifecycleAdapter", "adapter"]


class LifecycleAdapter:
    """Maps lifecycle-operation plugins onto the host: config, plugins, commands, CLI."""

    name = "lifecycle"

    @hookimpl
    def plugyard_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
        """Add ``plugyard_lifecycle_operation`` so plugins can wrap every operation."""
        from ._runner import ensure_runner

        ensure_runner(pluginmanager)

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Read ``[lifecycle]``, add the service, and hand the plugins of the configured
        deployments' blueprints and of ``plugyard.lifecycle`` entry points to the host."""
        from ._plan import set_max_instances
        from ._plugins import LIFECYCLE_GROUP
        from ._service import LifecycleService
        from ._settings import LifecycleSettings, set_template_limit
        from ._yaml import YamlLimits, set_default_limits

        settings = host.config.section("lifecycle", LifecycleSettings)
        set_default_limits(
            YamlLimits(
                max_size=settings.max_blueprint_size,
                max_nodes=settings.max_blueprint_values,
                max_depth=settings.max_blueprint_depth,
            )
        )
        set_max_instances(settings.max_instances)
        set_template_limit(settings.max_template_size)
        if settings.executor == "celery":
            # Registers the operation task on plugyard's Celery app, for the engine that
            # sends it and for `plugyard worker`, which loads this host's adapters.
            from . import _agent  # noqa: F401
        service = LifecycleService(host, settings)
        service.check_blueprints()
        host.services.add(service)
        host.add_plugin_group(LIFECYCLE_GROUP, model="lifecycle")
        for spec in service.configured_plugin_specs():
            host.add_plugin_spec(spec)

    @hookimpl
    def plugyard_load_plugin(self, host: Host, spec: PluginSpec) -> LifecyclePluginHandle | None:
        """Claim a blueprint's plugin declarations and ``plugyard.lifecycle`` packages."""
        from ._plugins import handle_for

        return handle_for(spec, spec.load())

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        """Open the deployments named in the configuration (they become host plugins)."""
        from ._service import LifecycleService

        service = LifecycleService.of(host)
        for name, deployment in service.settings.deployments.items():
            await service.open(name, deployment.blueprint, deployment.inputs)

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        """Close every deployment's storage."""
        from ._service import LifecycleService

        await LifecycleService.of(host).close()

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Command]:
        """``lifecycle.install``, ``.uninstall``, ``.execute``, ``.status``, ``.outputs``
        and ``.instances``."""
        from ._commands import commands
        from ._service import LifecycleService

        return commands(LifecycleService.of(host))

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """Add ``plugyard lifecycle ...``."""
        from ._cli import lifecycle
        from ._cli_secrets import secrets

        lifecycle.add_command(secrets)
        cli.add_command(lifecycle)


adapter = LifecycleAdapter()
"""The object named by the ``lifecycle`` entry point."""
