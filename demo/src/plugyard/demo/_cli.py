"""The ``plugyard demo`` command (added to ``plugyard`` through the ``plugyard.cli`` group)."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import click

from plugyard.sdk import hookimpl

__all__ = ["DemoCommands", "commands", "demo"]


def _logging(host_log: Path, level: str) -> None:
    """Everything into the host log; warnings and errors also on stderr."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    to_file = logging.FileHandler(host_log, encoding="utf-8")
    to_file.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    to_stderr.addFilter(_not_child_output)
    root.addHandler(to_file)
    root.addHandler(to_stderr)


def _not_child_output(record: logging.LogRecord) -> bool:
    """Children's output lines stay in the host log unless they are errors."""
    return record.name != "plugyard.host.supervisor" or record.levelno >= logging.ERROR


@click.command()
@click.option(
    "--keep-running",
    is_flag=True,
    help="After the story, leave the host up (try plugyard call/events/plugins, curl) "
    "until Ctrl-C; then tear down.",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the configuration, logs, event log and stores (default: a new "
    "temporary folder). Must be empty or not exist.",
)
@click.option(
    "--examples",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="plugyard's examples/ folder (default: the copy the package carries, or the "
    "source checkout's).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the lifecycle web server (default: a free one).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds each step may wait for what it checks.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Level of the host log file.",
)
def demo(
    keep_running: bool,
    folder: Path | None,
    examples: Path | None,
    port: int | None,
    timeout: float,
    log_level: str,
) -> None:
    """Run all five plugin models together on one host, and check each step.

    Deploys a web server with a lifecycle workflow, logs every host event through a ZMQ
    subscriber process and the asyncio monitoring plugin, runs a Celery task, launches a pod
    plugin as a subprocess, calls the teapot and the web server over HTTP, then tears down.
    Exits 0 only if every step happened; a failed step names itself and the reason.
    """
    import asyncio

    from ._setup import ExamplesNotFound, Layout, find_examples
    from ._story import Demo

    try:
        found = find_examples(examples)
    except ExamplesNotFound as exc:
        raise click.ClickException(str(exc)) from None
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="plugyard-demo-"))
    elif folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"--dir {folder}: the folder is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    layout = Layout(folder.resolve())
    _logging(layout.host_log, log_level)
    story = Demo(
        layout, found, web_port=port, timeout=timeout, keep_running=keep_running, out=click.echo
    )
    try:
        ok = asyncio.run(story.run())
    except KeyboardInterrupt:
        click.echo("plugyard demo: interrupted", err=True)
        sys.exit(130)
    sys.exit(0 if ok else 1)


class DemoCommands:
    """What the ``plugyard.cli`` entry point names: adds ``plugyard demo``."""

    @hookimpl
    def plugyard_cli(self, cli: click.Group) -> None:
        """Add ``plugyard demo``."""
        cli.add_command(demo)


commands = DemoCommands()
"""The object the ``plugyard.cli`` entry point ``demo`` names."""
