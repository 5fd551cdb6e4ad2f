"""``plugyard worker`` and ``plugyard tasks``. Importing this module loads click only."""

from __future__ import annotations

import gc
import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ._service import CeleryService

__all__ = ["tasks", "worker"]


def _loaded_service(config_path: str | None) -> CeleryService:
    """The Celery service of a host with every adapter and plugin loaded (not started)."""
    import asyncio

    from plugyard.host import ConfigError, Host
    from plugyard.host.cli import load_config

    from ._service import CeleryService

    host = Host(load_config(config_path))
    try:
        asyncio.run(host.load())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for record in host.plugins:
        if record.model == "celery" and record.state == "failed":
            first = (record.error or "").splitlines()[0] if record.error else ""
            click.echo(f"plugyard: task plugin {record.name!r} failed: {first}", err=True)
    service = CeleryService.find(host)
    if service is None:
        raise click.ClickException("the celery adapter is not loaded (see `plugyard plugins`)")
    return service


def _service(config_path: str | None) -> Any:
    from plugyard.host import ConfigError

    from ._core import client_service

    try:
        return client_service(config_path)
    except ConfigError as exc:
        from ._core import redact_text

        raise click.ClickException(redact_text(str(exc))) from None


config_option = click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="plugyard.toml or pyproject.toml (default: $PLUGYARD_CONFIG, ./plugyard.toml).",
)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@config_option
@click.option("-l", "--loglevel", default="warning", show_default=True, help="Log level.")
@click.option("-c", "--concurrency", type=int, help="Worker processes or threads.")
@click.option("-Q", "--queues", help="Comma-separated queues to consume from.")
@click.option("-P", "--pool", help="prefork (default), threads, solo ...")
@click.option("-n", "--hostname", help="The worker's node name.")
@click.pass_context
def worker(
    ctx: click.Context,
    config_path: str | None,
    loglevel: str,
    concurrency: int | None,
    queues: str | None,
    pool: str | None,
    hostname: str | None,
) -> None:
    """Start a Celery worker with every task plugin loaded.

    Other Celery worker options pass through (``--without-mingle``, ``-O fair`` ...).
    """
    import plugyard.sdk

    service = _loaded_service(config_path)
    click.echo(
        f"plugyard worker: speaks hook spec {plugyard.sdk.SPEC_VERSION}; a task sent by a host "
        "of another major version is refused",
        err=True,
    )
    argv = ["worker", f"--loglevel={loglevel}"]
    for flag, value in (
        ("--concurrency", concurrency),
        ("--queues", queues),
        ("--pool", pool),
        ("--hostname", hostname),
    ):
        if value is not None:
            argv.append(f"{flag}={value}")
    argv.extend(ctx.args)
    # Everything loaded so far (the host, its adapters and plugins) lives as long as the
    # worker: keep it out of the garbage collector's passes, which otherwise walk it again
    # and again while tasks run (and leave it shared with forked pool processes).
    gc.freeze()
    sys.exit(_run_celery(service.app, argv))


def _run_celery(app: Any, argv: list[str]) -> int:
    """Run Celery's own command line on ``app`` and return its exit status (``app.start``
    and ``app.worker_main`` drop it, so a worker that gave up on its broker would exit 0)."""
    from celery.bin.celery import celery as celery_cli  # type: ignore[import-untyped]

    celery_cli.params[0].default = app
    try:
        code = celery_cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    finally:
        celery_cli.params[0].default = None
    return code if isinstance(code, int) else 0


@click.group()
def tasks() -> None:
    """List, send, watch and cancel Celery tasks."""


@tasks.command("list")
@config_option
def list_tasks(config_path: str | None) -> None:
    """Registered tasks, plugin tasks included, with the module that defines each."""
    from plugyard.host.cli import print_table

    service = _loaded_service(config_path)
    names = service.registered()
    if not names:
        click.echo("no tasks registered")
        return
    print_table(
        ("TASK", "MODULE"),
        ((name, getattr(service.app.tasks[name], "__module__", None)) for name in names),
    )


def _parse(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@tasks.command("send")
@config_option
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--kwarg", "-k", "kwargs", multiple=True, help="key=value (JSON values).")
@click.option("--queue", "-q", help="Queue to send to.")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="With --wait.")
def send(
    config_path: str | None,
    name: str,
    args: tuple[str, ...],
    kwargs: tuple[str, ...],
    queue: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Queue task NAME with ARGS (JSON where they parse); prints the task id."""
    from plugyard.host.cli import parse_properties

    service = _service(config_path)
    options = {"queue": queue} if queue else {}
    try:
        result = service.send_with(
            name, [_parse(a) for a in args], parse_properties(kwargs), **options
        )
    except Exception as exc:
        from ._core import redact_text

        raise click.ClickException(
            redact_text(
                f"cannot send {name!r} to {service.settings.celery['broker_url']}: "
                f"{type(exc).__name__}: {exc}"
            )
        ) from None
    service.jobs.writer.flush(5.0)
    click.echo(result.id)
    if not wait:
        return
    try:
        if sys.stdout.isatty():
            _show_progress(service, result, name, timeout)
        value = result.get(timeout=timeout, propagate=True)
    except Exception as exc:
        from ._core import redact_text

        click.echo(redact_text(f"{type(exc).__name__}: {exc}"), err=True)
        sys.exit(1)
    click.echo(json.dumps(value, default=str))


def _show_progress(service: Any, result: Any, name: str, timeout: float) -> None:
    """On a terminal: a bar of the task's ``update_progress`` (current of total, message)
    until it ends or ``timeout`` passes."""
    import time

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task(name.rsplit(".", 1)[-1], total=None, message="queued")
        while not result.ready() and time.monotonic() < deadline:
            job = service.status(result.id)
            current, total = job.get("current"), job.get("total")
            if isinstance(total, int | float) and total > 0 and isinstance(current, int | float):
                progress.update(bar, total=total, completed=current)
            progress.update(bar, message=str(job.get("message") or job.get("status") or ""))
            time.sleep(0.1)
        if result.ready():
            # the result is in before the job store's last word: end the bar by the result
            if result.successful():
                total = progress.tasks[0].total
                progress.update(bar, total=total or 1, completed=total or 1)
            progress.update(bar, message=str(result.state).lower())


@tasks.command("status")
@config_option
@click.argument("task_id")
def status(config_path: str | None, task_id: str) -> None:
    """The job status of a task, as JSON."""
    service = _service(config_path)
    click.echo(json.dumps(service.status(task_id), indent=2, default=str))


@tasks.command("log")
@config_option
@click.argument("task_id")
@click.option("--follow", "-f", is_flag=True, help="Print new lines until the job ends.")
@click.option(
    "--timeout", type=float, help="With --follow: give up after this many seconds (exit 1)."
)
def log(config_path: str | None, task_id: str, follow: bool, timeout: float | None) -> None:
    """The job log of a task: what it printed and logged, and what it wrote with
    ``self.job_manager.write``."""
    import time

    service = _service(config_path)
    deadline = None if timeout is None else time.monotonic() + timeout
    cursor, text = service.log(task_id)
    click.echo(text, nl=False)
    while follow:
        job = service.jobs.store.get(task_id)
        ended = job is not None and job.status.terminal
        cursor, text = service.log(task_id, cursor)  # read after the status: nothing is lost
        click.echo(text, nl=False)
        if ended:
            return
        if deadline is not None and time.monotonic() > deadline:
            click.echo(f"plugyard: task {task_id} has not ended after {timeout:g}s", err=True)
            sys.exit(1)
        time.sleep(0.1)


@tasks.command("cancel")
@config_option
@click.argument("task_id")
@click.option("--terminate", is_flag=True, help="Kill a running task that does not cooperate.")
def cancel(config_path: str | None, task_id: str, terminate: bool) -> None:
    """Cancel a task: a queued one never runs; a running one is asked to stop."""
    service = _service(config_path)
    reply = service.cancel(task_id, terminate=terminate)
    service.jobs.writer.flush(5.0)
    click.echo(json.dumps(reply, indent=2, default=str))
