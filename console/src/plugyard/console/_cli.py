"""``plugyard web``: run the host with its dashboard. Only click is imported here."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from plugyard.host import Host

__all__ = ["web"]


@click.command()
@click.option("-c", "--config", "config_path", help="plugyard.toml (or a pyproject.toml)")
@click.option("--port", type=int, default=None, help="TCP port (default: [http] port, else 8080)")
@click.option(
    "--bind", default=None, help="IP address to listen on (default: [http] host, 127.0.0.1)"
)
@click.option("--log-level", default=None, help="debug, info, warning, error")
def web(config_path: str | None, port: int | None, bind: str | None, log_level: str | None) -> None:
    """Run the host with its web console (http://127.0.0.1:8080/console/ by default).

    The address printed carries the console token, which actions (restart, cancel, abort)
    need; it is also in console.token in the host's runtime folder.
    """
    from plugyard.host import Config, ConfigError, Host
    from plugyard.host.cli import load_config, setup_logging

    config = load_config(config_path)
    data = config.to_dict()
    http: dict[str, Any] = dict(data.get("http") or {})
    if port is not None:
        http["port"] = port
    http.setdefault("port", 8080)
    if bind is not None:
        http["host"] = bind
    http["enabled"] = True
    console: dict[str, Any] = dict(data.get("console") or {})
    console["enabled"] = True
    try:
        config = Config({**data, "http": http, "console": console}, path=config.path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    setup_logging(log_level or config.host.log_level)

    def ready(host: Host) -> None:
        from ._service import ConsoleService

        url = host.advertised.get("console_url")
        service = ConsoleService.find(host)
        if not url or service is None:
            click.echo(
                "plugyard web: the host serves no HTTP (is plugyard-asyncio installed?)", err=True
            )
            host.request_stop()
            return
        click.echo(f"plugyard web: {url}?token={service.token}", err=True)
        click.echo("plugyard web: press Ctrl-C to stop", err=True)

    try:
        asyncio.run(Host(config).serve(ready=ready))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
