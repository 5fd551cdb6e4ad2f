"""The ``plugyard`` command-line reference, generated from the click group at build time.

``<!-- plugyard:cli -->`` on a page becomes one section per command, walking the group the
way ``plugyard --help`` does: the built-in commands plus every subcommand that installed
adapters add through the ``plugyard_cli`` hook.
"""

from __future__ import annotations

import copy
import html
import inspect
import os
import re
from collections.abc import Iterator
from typing import Any

import click

__all__ = ["command_paths", "on_page_markdown", "render", "walk"]

MARKER = "<!-- plugyard:cli -->"


def _root() -> click.Group:
    if os.environ.get("PLUGYARD_DISABLE_AUTOLOAD") == "1":
        raise RuntimeError(
            "PLUGYARD_DISABLE_AUTOLOAD=1 keeps adapters from adding their subcommands; "
            "unset it to build the CLI reference"
        )
    from plugyard.host.cli import cli

    # A new group of the same class, so that it loads the adapters' subcommands itself and
    # leaves the real one as it was (whatever an earlier caller in this process did to it).
    return type(cli)(
        name=cli.name,
        commands=dict(cli.commands),
        params=list(cli.params),
        callback=cli.callback,
        help=cli.help,
        context_settings=dict(cli.context_settings),
    )


def walk(
    command: click.Command | None = None, parent: click.Context | None = None
) -> Iterator[tuple[click.Context, click.Command]]:
    """Every visible command under ``command`` (the ``plugyard`` group by default), depth
    first, each with the click context that names its full path."""
    command = command or _root()
    name = command.name if parent is not None else "plugyard"
    ctx = click.Context(command, info_name=name, parent=parent)
    yield ctx, command
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is None or sub.hidden:
                continue
            if sub.name != sub_name:
                sub = _renamed(sub, sub_name)
            yield from walk(sub, ctx)


def _renamed(command: click.Command, name: str) -> click.Command:
    """The command as registered under ``name`` (``add_command(cmd, "call")``)."""
    clone = copy.copy(command)
    clone.name = name
    return clone


def command_paths() -> list[str]:
    """The full path of every command: ``plugyard``, ``plugyard run``, ``plugyard pod
    launch`` ..."""
    return [ctx.command_path for ctx, _ in walk()]


def _escape(text: str) -> str:
    """Plain help text as Markdown: code spans (````x````) kept, the rest escaped."""
    parts = re.split(r"(``.+?``|`[^`]+`)", text)
    for index in range(0, len(parts), 2):
        plain = html.escape(parts[index], quote=False)
        parts[index] = plain.replace("*", "\\*").replace("_", "\\_")
    return "".join(parts)


def _help(command: click.Command) -> str:
    """The command's help as Markdown paragraphs; ``\\b`` blocks stay as they are."""
    text = inspect.cleandoc((command.help or "").split("\f")[0])
    out = []
    for paragraph in text.split("\n\n"):
        if paragraph.startswith("\b"):
            block = paragraph.removeprefix("\b").strip("\n")
            out.append("```text\n" + block + "\n```")
        else:
            out.append(_escape(" ".join(paragraph.split())))
    return "\n\n".join(out)


def _cell(text: str) -> str:
    return _escape(" ".join(text.split())).replace("|", "\\|")


def _params(ctx: click.Context, command: click.Command) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        if isinstance(param, click.Argument):
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        rows.append(f"| `{names}` | {_cell(help_text)} |")
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    for argument in arguments:
        make_metavar: Any = argument.make_metavar  # click 8.2 added its ctx argument
        metavar = make_metavar(ctx) if _takes_ctx(argument) else make_metavar()
        rows.append(f"| `{metavar}` | argument{' (required)' if argument.required else ''} |")
    if not rows:
        return []
    return ["| option or argument | description |", "|---|---|", *rows, ""]


def _takes_ctx(param: click.Parameter) -> bool:
    return "ctx" in inspect.signature(param.make_metavar).parameters


def _section(ctx: click.Context, command: click.Command) -> str:
    depth = min(ctx.command_path.count(" ") + 2, 4)
    out = [f"{'#' * depth} `{ctx.command_path}`\n"]
    usage = " ".join(command.collect_usage_pieces(ctx))
    out.append(f"```text\n{ctx.command_path} {usage}\n```\n")
    if command.help:
        out.append(_help(command) + "\n")
    out += _params(ctx, command)
    if isinstance(command, click.Group):
        subs = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                anchor = f"{ctx.command_path} {name}".replace(" ", "-")
                summary = _cell(sub.get_short_help_str(limit=100))
                subs.append(f"| [`{name}`](#{anchor}) | {summary} |")
        if subs:
            out += ["| command | does |", "|---|---|", *subs, ""]
    return "\n".join(out)


def render() -> str:
    """The reference as Markdown, one heading per command."""
    return "\n".join(_section(ctx, command) for ctx, command in walk())


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: replace the ``<!-- plugyard:cli -->`` marker with the reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())
