"""The adapter object the host loads from the ``plugyard.adapters`` entry point.

Importing this module stays light (no SQLAlchemy, YAML or Jinja2): ``plugyard --help``
imports it to collect the ``lifecycle`` subcommands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from plugyard.sdk import hookimpl

if TYPE_CHECKING:
    import click

    from plugyard.host import Command, Host

    from ._service import LifecycleService
    from ._settings import LifecycleSettings

__all__ = ["LifecycleAdapter", "adapter"]


class LifecycleAdapter:
    """Maps lifecycle-operation plugins onto the host: config, commands, CLI, events."""

    name = "lifecycle"

    @hookimpl
    def plugyard_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
        """Add ``plugyard_lifecycle_operation`` so plugins can wrap every operation."""
        from ._runner import ensure_runner

        ensure_runner(pluginmanager)

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Read ``[lifecycle]`` and make ``host.lifecycle``."""
        from ._service import LifecycleService
        from ._settings import LifecycleSettings
        from ._yaml import YamlLimits, set_default_limits

        settings = host.config.section("lifecycle", LifecycleSettings)
        set_default_limits(
            YamlLimits(
                max_size=settings.max_blueprint_size,
                max_nodes=settings.max_blueprint_values,
                max_depth=settings.max_blueprint_depth,
            )
        )
        _check_blueprints(host, settings)
        host.extend("lifecycle", LifecycleService(host, settings))

    @hookimpl
    async def plugyard_startup(self, host: Host) -> None:
        """Open the deployments named in the configuration (they become host plugins)."""
        service: LifecycleService = host.lifecycle
        for name, deployment in service.settings.deployments.items():
            await service.open(name, deployment.blueprint, deployment.inputs)

    @hookimpl
    async def plugyard_shutdown(self, host: Host) -> None:
        """Close every deployment's storage."""
        await host.lifecycle.close()

    @hookimpl
    def plugyard_commands(self, host: Host) -> list[Command]:
        """``lifecycle_install``, ``lifecycle_uninstall``, ``lifecycle_execute``,
        ``lifecycle_status``, ``lifecycle_outputs`` and ``lifecycle_instances``."""
        from ._commands import commands

        return commands(host.lifecycle)

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """Add ``plugyard lifecycle ...``."""
        from ._cli import lifecycle

        cli.add_command(lifecycle)

    def __repr__(self) -> str:
        return "<LifecycleAdapter>"


adapter = LifecycleAdapter()
"""The object named by the ``lifecycle`` entry point."""


def __getattr__(name: str) -> Any:  # pragma: no cover - guards typos in entry points
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_blueprints(host: Host, settings: LifecycleSettings) -> None:
    """Every deployment's blueprint is a readable file, before anything starts."""
    from plugyard.host import ConfigError

    for name, deployment in settings.deployments.items():
        path = deployment.blueprint
        if not path.is_absolute():
            path = host.config.base_dir / path
        if not path.is_file():
            raise ConfigError(
                f"{host.config.where}: lifecycle.deployments.{name}.blueprint: {path} is not a file"
            )
