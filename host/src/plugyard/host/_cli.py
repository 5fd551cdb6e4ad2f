"""The ``plugyard`` command line. Importing this module stays light: no adapters are imported
until a command needs them, and heavy libraries (celery, zmq, starlette) never at ``--help``."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ._config import Config
    from ._host import Host

__all__ = ["cli", "load_config", "main", "parse_properties", "print_table"]

CONFIG_ENV = "PLUGYARD_CONFIG"
CLI_GROUP = "plugyard.cli"
"""Entry points of distributions that add ``plugyard`` subcommands without being adapters:
``name = module:object``, where the object implements the ``plugyard_cli`` hook, as adapters
do. It is registered with the command line only, never with a host."""


def find_config(explicit: str | None) -> Path | None:
    """The configuration file to use: ``-c``, ``$PLUGYARD_CONFIG``, ``./plugyard.toml``, or a
    ``./pyproject.toml`` with a ``[tool.plugyard]`` table."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path("plugyard.toml")
    if local.is_file():
        return local
    pyproject = Path("pyproject.toml")
    if pyproject.is_file() and "[tool.plugyard" in pyproject.read_text(encoding="utf-8"):
        return pyproject
    return None


def load_config(explicit: str | None) -> Config:
    """Read the configuration the way every command does; errors exit with status 1."""
    from ._config import Config, ConfigError

    path = find_config(explicit)
    try:
        return Config.from_file(path) if path is not None else Config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def parse_properties(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` arguments as properties; values are JSON when they parse, else strings."""
    props: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="PROPERTIES")
        try:
            props[key] = json.loads(raw)
        except ValueError:
            props[key] = raw
    return props


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print ``rows`` under ``headers`` as aligned columns (``None`` shows as ``-``).

    On a terminal the table is drawn with rich (a header rule, bold headers); anywhere else
    (a pipe, a file) it is plain text, columns two spaces apart, without colour or boxes, so
    that ``grep`` and ``awk`` read it.
    """
    table = [[_cell(value) for value in row] for row in rows]
    if sys.stdout.isatty():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        drawn = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
        for header in headers:
            drawn.add_column(header, overflow="fold")
        for row in table:
            drawn.add_row(*row)
        Console(highlight=False).print(drawn)
        return
    lines = [list(headers), *table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return str(value)


def setup_logging(level: str) -> None:
    """Log to stderr with the plugin's name where a record carries one."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


class PlugyardGroup(click.Group):
    """The top-level group; adapters' ``plugyard_cli`` hooks run the first time it is listed."""

    _adapters_loaded = False

    def _load_adapter_commands(self) -> None:
        if self._adapters_loaded:
            return
        self._adapters_loaded = True
        import pluggy

        from plugyard.sdk import PROJECT_NAME

        from . import hookspecs
        from ._discovery import PluginLoadError, entry_points, import_target

        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        if os.environ.get("PLUGYARD_DISABLE_AUTOLOAD") == "1":
            return
        for info in entry_points("plugyard.adapters"):
            try:
                pm.register(import_target(info.value, where=info.name), name=info.name)
            except (PluginLoadError, ValueError) as exc:
                logging.getLogger("plugyard.cli").debug("adapter %s skipped: %s", info.name, exc)
        for info in entry_points(CLI_GROUP):
            try:
                pm.register(
                    import_target(info.value, where=info.name), name=f"{CLI_GROUP}:{info.name}"
                )
            except (PluginLoadError, ValueError) as exc:
                logging.getLogger("plugyard.cli").warning(
                    "%s entry point %r (%s) failed: %s", CLI_GROUP, info.name, info.value, exc
                )
        for impl in reversed(pm.hook.plugyard_cli.get_hookimpls()):
            try:
                impl.function(cli=self)
            except Exception as exc:
                logging.getLogger("plugyard.cli").warning(
                    "%r: plugyard_cli failed: %s: %s", impl.plugin_name, type(exc).__name__, exc
                )

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_adapter_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None or cmd_name == "call":
            self._load_adapter_commands()
            found = super().get_command(ctx, cmd_name)
        return found


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from ._discovery import entry_points

    lines = []
    for dist in ("plugyard-host", "plugyard-sdk"):
        try:
            lines.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            lines.append(f"{dist} (not installed)")
    for info in entry_points("plugyard.adapters"):
        lines.append(f"{info.distribution} {info.version} (adapter {info.name})")
    return "\n".join(lines)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_versions())
        ctx.exit()


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    metavar="FILE",
    help="plugyard.toml or pyproject.toml (default: $PLUGYARD_CONFIG, ./plugyard.toml).",
)


@click.group(cls=PlugyardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the versions of plugyard and its adapters.",
)
def cli() -> None:
    """plugyard: one host for plugins of five models."""


def _loaded_host(config_path: str | None) -> Host:
    import asyncio

    from ._config import ConfigError
    from ._host import Host

    setup_logging("critical")
    host = Host(load_config(config_path))
    try:
        asyncio.run(host.load())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return host


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(config_path: str | None, as_json: bool) -> None:
    """List every adapter and plugin: model, source, version, hooks, state, last error."""
    host = _loaded_host(config_path)
    records = [record.to_dict() for record in host.plugins]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    if not records:
        click.echo("no adapters or plugins found")
        return
    print_table(
        ("NAME", "MODEL", "STATE", "VERSION", "SOURCE", "HOOKS"),
        (
            (
                rec["name"],
                rec["model"],
                rec["state"],
                rec["version"],
                rec["source"],
                ",".join(h.removeprefix("plugyard_") for h in rec["hooks"]),
            )
            for rec in records
        ),
    )
    for rec in records:
        if rec["error"]:
            click.echo(f"{rec['name']}: {rec['error']}", err=True)
    _note_running(host)


def _note_running(host: Host) -> None:
    """Say so when a host with this configuration is running: the table is a fresh load."""
    from ._runtime import HostInfoError, read_host_info

    try:
        info = read_host_info(host.runtime_dir)
    except HostInfoError:
        return
    click.echo(
        f"note: host {info.get('name')!r} is running with this configuration (pid "
        f"{info.get('pid')}); the states above are of a fresh load. Ask the running host "
        "with 'plugyard call plugins' (needs a control transport such as plugyard-zmq).",
        err=True,
    )


@cli.command()
@config_option
@click.argument("name", required=False)
def hooks(config_path: str | None, name: str | None) -> None:
    """List every hook specification, its call policy and its implementations in call order;
    with NAME, that hook's call order and the reason for each position."""
    from plugyard.sdk import did_you_mean

    from ._dispatch import _policy_of

    host = _loaded_host(config_path)
    known = sorted(
        n for n in dir(host.pm.hook) if not n.startswith("_") and getattr(host.pm.hook, n).spec
    )
    if name is not None and name not in known:
        raise click.ClickException(f"no hook named {name!r}" + did_you_mean(name, known))
    for hook in [name] if name else [n for n in known if n.startswith("plugyard_")]:
        caller = getattr(host.pm.hook, hook)
        opts = caller.spec.opts
        kind = ["historic"] if opts.get("historic") else []
        kind += ["firstresult"] if opts.get("firstresult") else []
        has_policy = hasattr(caller.spec.function, "plugyard_policy")
        policy = _policy_of(caller).describe() if has_policy else "plain pluggy call"
        click.echo(
            f"{hook}({', '.join(caller.spec.argnames)})" + (f" [{', '.join(kind)}]" if kind else "")
        )
        click.echo(f"    policy: {policy}")
        order = host.pm.call_order(hook)
        if name is None:
            impls = [p.plugin + (" (wrapper)" if p.wrapper else "") for p in order]
            click.echo(f"    implementations: {', '.join(impls) if impls else 'none'}")
            continue
        click.echo("    call order:" if order else "    implementations: none")
        width = max((len(p.plugin) for p in order), default=0)
        for number, position in enumerate(order, 1):
            click.echo(f"    {number:>3}. {position.plugin:<{width}}  {position.reason}")


@cli.command()
@config_option
@click.option("--log-level", default=None, help="debug, info, warning or error.")
def run(config_path: str | None, log_level: str | None) -> None:
    """Run the host with its configuration until Ctrl-C or SIGTERM."""
    import asyncio

    from ._config import ConfigError
    from ._host import Host

    config = load_config(config_path)
    setup_logging(log_level or config.host.log_level)

    def ready(host: Host) -> None:
        running = sum(1 for r in host.plugins if r.state == "started")
        click.echo(
            f"plugyard: host {host.name!r} running with {running} plugin(s) started; "
            "press Ctrl-C to stop",
            err=True,
        )

    try:
        asyncio.run(Host(config).serve(ready=ready))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
    click.echo("plugyard: host stopped", err=True)


@cli.command(context_settings={"ignore_unknown_options": True})
@config_option
@click.argument("command")
@click.argument("properties", nargs=-1)
def call(config_path: str | None, command: str, properties: tuple[str, ...]) -> None:
    """Run COMMAND on a running host (needs a control transport, such as plugyard-zmq)."""
    parse_properties(properties)
    raise click.ClickException(
        "plugyard call needs a control transport to reach a running host; "
        "install the ZMQ adapter (pip install plugyard-zmq)"
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="plugyard")
