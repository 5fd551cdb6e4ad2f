"""``plugyard lifecycle secrets ...``: the store ``get_secret`` reads.

Values are given on the command line or typed at a hidden prompt, and printed only by
``get``; ``list`` shows keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ._secrets import SecretStore

__all__ = ["secrets"]


def _options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "-d",
        "--deployment",
        default="local",
        show_default=True,
        help="Deployment whose storage holds the secrets.",
    )(func)
    func = click.option(
        "--storage", metavar="URL|FILE", help="SQLite file or SQLAlchemy URL (as for install)."
    )(func)
    return click.option(
        "-c", "--config", "config_path", metavar="FILE", help="plugyard.toml to read."
    )(func)


@contextmanager
def _store(deployment: str, storage: str | None, config_path: str | None) -> Iterator[SecretStore]:
    from ._cli import _storage
    from ._errors import StorageError
    from ._secrets import SecretStore
    from ._storage import Storage

    url, _ = _storage(config_path, storage, deployment)
    try:
        opened = Storage(url)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield SecretStore(opened)
    finally:
        opened.close()


@click.group()
def secrets() -> None:
    """Manage the secrets blueprints read with get_secret."""


@secrets.command("set")
@click.argument("key")
@click.argument("value", required=False)
@_options
def set_secret(
    key: str, value: str | None, deployment: str, storage: str | None, config_path: str | None
) -> None:
    """Create or replace secret KEY (VALUE, or typed at a hidden prompt)."""
    if value is None:
        value = click.prompt(f"value of {key}", hide_input=True)
    with _store(deployment, storage, config_path) as store:
        try:
            store.set(key, str(value))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"secret {key!r} set")


@secrets.command("get")
@click.argument("key")
@_options
def get_secret(key: str, deployment: str, storage: str | None, config_path: str | None) -> None:
    """Print secret KEY's value."""
    from ._secrets import SecretNotFound

    with _store(deployment, storage, config_path) as store:
        try:
            click.echo(store.get(key))
        except SecretNotFound:
            raise click.ClickException(f"no secret {key!r}") from None


@secrets.command("list")
@_options
def list_secrets(deployment: str, storage: str | None, config_path: str | None) -> None:
    """List the secrets' keys (never their values)."""
    with _store(deployment, storage, config_path) as store:
        for key in store.list_keys():
            click.echo(key)


@secrets.command("delete")
@click.argument("key")
@_options
def delete_secret(key: str, deployment: str, storage: str | None, config_path: str | None) -> None:
    """Remove secret KEY."""
    from ._secrets import SecretNotFound

    with _store(deployment, storage, config_path) as store:
        try:
            store.delete(key)
        except SecretNotFound:
            raise click.ClickException(f"no secret {key!r}") from None
    click.echo(f"secret {key!r} deleted")
