"""``plugyard call``, ``status`` and ``events``: talk to a running host over its ZMQ sockets."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ._client import HostClient

__all__ = ["call_cmd", "events_cmd", "status_cmd"]

_config_option = click.option(
    "-c",
    "--config",
    "config_path",
    metavar="FILE",
    help="plugyard.toml or pyproject.toml (default: $PLUGYARD_CONFIG, ./plugyard.toml).",
)
_timeout_option = click.option(
    "--timeout",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds to wait for the host to answer.",
)


def _runtime_dir(config_path: str | None) -> Path:
    from plugyard.host import default_runtime_dir
    from plugyard.host.cli import load_config

    config = load_config(config_path)
    return config.host.runtime_dir or default_runtime_dir(config.host.name)


def _client(config_path: str | None, timeout: float) -> HostClient:
    from ._client import HostClient, HostUnavailable, find_endpoints

    folder = _runtime_dir(config_path)
    try:
        facts = find_endpoints(folder)
    except HostUnavailable as exc:
        raise click.ClickException(f"{exc}; start one with 'plugyard run'") from None
    return HostClient.from_facts(facts, timeout=timeout)


@click.command(context_settings={"ignore_unknown_options": True})
@_config_option
@_timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole reply as JSON.")
@click.argument("command")
@click.argument("properties", nargs=-1)
def call_cmd(
    config_path: str | None,
    timeout: float,
    as_json: bool,
    command: str,
    properties: tuple[str, ...],
) -> None:
    """Run COMMAND on the running host, with KEY=VALUE properties (values read as JSON).

    Example: plugyard call status name=logger
    """
    from plugyard.host.cli import parse_properties

    from ._client import HostUnavailable

    props = parse_properties(properties)
    client = _client(config_path, timeout)
    try:
        reply = client.call(command, **props)
    except HostUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
    if reply.get("status") == "error":
        click.echo(f"error: {reply.get('reason')} (errno {reply.get('errno')})", err=True)
        sys.exit(1)
    if not as_json:
        reply = {k: v for k, v in reply.items() if k not in ("id", "time")}
        if reply.get("status") == "ok":
            del reply["status"]
    click.echo(json.dumps(reply, indent=2, sort_keys=True, default=str))


def _checked(reply: dict[str, Any]) -> dict[str, Any]:
    if reply.get("status") == "error":
        raise click.ClickException(f"{reply.get('reason')} (errno {reply.get('errno')})")
    return reply


@click.command()
@_config_option
@_timeout_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the records (or NAME's status) as JSON."
)
@click.argument("name", required=False)
def status_cmd(config_path: str | None, timeout: float, as_json: bool, name: str | None) -> None:
    """The running host's plugins and watchers with their model and state; with NAME, that
    one and its details (processes, options, counters)."""
    from plugyard.host.cli import print_table

    from ._client import HostUnavailable

    client = _client(config_path, timeout)
    try:
        records: list[dict[str, Any]] = _checked(client.call("plugins"))["plugins"]
        detail = _checked(client.call("status", name=name)) if name is not None else None
    except HostUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
    if name is not None:
        records = [r for r in records if r["name"] == name]
    if as_json:
        shown = records if detail is None else {k: v for k, v in detail.items() if k != "id"}
        click.echo(json.dumps(shown, indent=2, sort_keys=True, default=str))
        return
    print_table(
        ("NAME", "MODEL", "STATE", "ERROR"),
        ((r["name"], r["model"], r["state"], r["error"]) for r in records),
    )
    details = detail.get("details") if detail is not None else None
    if isinstance(details, dict) and details:
        click.echo()
        print_table(
            ("DETAIL", "VALUE"),
            (
                (key, value if isinstance(value, str) else json.dumps(value, default=str))
                for key, value in sorted(details.items())
            ),
        )


def _line(topic: str, body: dict[str, Any]) -> str:
    when = body.get("time")
    stamp = (
        time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when * 1000) % 1000:03d}"
        if isinstance(when, int | float)
        else "-"
    )
    data = json.dumps(body.get("data", body), sort_keys=True, default=str)
    return f"{stamp} #{body.get('seq', '-')} {topic} [{body.get('source', '-')}] {data}"


@click.command()
@_config_option
@_timeout_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
@click.option("--count", type=int, default=None, help="Exit after this many events.")
@click.argument("prefix", default="")
def events_cmd(
    config_path: str | None, timeout: float, as_json: bool, count: int | None, prefix: str
) -> None:
    """Print the running host's events as they happen (those whose topic starts with PREFIX)."""
    from ._client import HostUnavailable

    client = _client(config_path, timeout)
    try:
        client.call("snapshot")
        click.echo(f"listening to {client.pubsub_endpoint} (Ctrl-C to stop)", err=True)
        last: int | None = None
        for seen, (topic, body) in enumerate(client.events(prefix), start=1):
            seq = body.get("seq")
            if not prefix and isinstance(seq, int) and last is not None and seq > last + 1:
                click.echo(f"missed {seq - last - 1} event(s)", err=True)
            last = seq if isinstance(seq, int) else last
            if as_json:
                click.echo(json.dumps({"topic": topic, **body}, default=str))
            else:
                click.echo(_line(topic, body))
            if count is not None and seen >= count:
                break
    except HostUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
