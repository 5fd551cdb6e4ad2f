"""The adapter object the ``plugyard.adapters`` entry point names.

Importing this module is light (no zmq, no pydantic): ``plugyard --help`` imports it to collect
CLI commands. Everything heavy is imported inside the hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    service: ZmqService = host.zmq
    return service


class ZmqAdapter:
    """Maps subscriber plugins onto the host: sockets at startup, one process per plugin."""

    name = "zmq"

    @hookimpl
    def plugyard_configure(self, host: Host) -> None:
        """Validate ``[zmq]``, read a circus INI file if named, and attach ``host.zmq``."""
        from ._service import ZmqService
        from ._settings import ZmqSettings

        settings = host.config.section("zmq", ZmqSettings)
        if settings.circus_config is not None:
            settings = _circus_endpoints(host, settings)
        _check_exposure(host, settings)
        if settings.circus_config is not None:
            _add_ini_plugins(host, settings.circus_config)
        service = ZmqService(host, settings, self.name)
        _check_default_paths(host, service)
        _install_circus(host, service)
        host.extend("zmq", service)
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
        """``hello`` and ``drops``, used by subscriber plugins."""
        return _service(host).commands()

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """``plugyard call`` and ``plugyard events``."""
        from ._cli import call_cmd, events_cmd

        cli.add_command(call_cmd, "call")
        cli.add_command(events_cmd, "events")


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


adapter = ZmqAdapter()
"""The instance the entry point loads."""
