"""``plugyard lifecycle ...``: install, uninstall, execute, outputs, instances, resume.

Only click is imported here; the engine, SQLAlchemy and YAML load inside the commands.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._environment import Environment, ExecutionResult
    from ._service import LifecycleService

__all__ = ["lifecycle"]

FINAL = ("succeeded", "failed", "retrying")


def _settings(config_path: str | None) -> tuple[Any, Path]:
    from plugyard.host.cli import load_config

    from ._settings import LifecycleSettings

    config = load_config(config_path)
    from pydantic import ValidationError

    try:
        settings = LifecycleSettings.model_validate(config.raw_section("lifecycle"))
    except ValidationError as exc:
        raise click.ClickException(f"{config.where}: [lifecycle]: {exc}") from None
    return settings, config.base_dir


def _storage(config_path: str | None, storage: str | None, deployment: str) -> tuple[str, Any]:
    settings, base = _settings(config_path)
    return storage or settings.storage_for(deployment, base), settings


class _Progress:
    """One line per finished operation attempt, and a summary."""

    def __init__(self, verbose: bool) -> None:
        self.started = time.monotonic()
        self.verbose = verbose

    def echo(self, line: str) -> None:
        """Print one line."""
        click.echo(line)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def __call__(self, topic: str, data: dict[str, Any]) -> None:
        state = topic.rsplit(".", 1)[-1]
        elapsed = time.monotonic() - self.started
        if topic.startswith("operation.") and state in FINAL:
            op = data["operation"]
            if data.get("side"):
                op = f"{op}->{data['target_instance_id']} ({data['side']})"
            line = f"[{elapsed:7.2f}s] {data['node_instance_id']:<24} {op:<28} {state}"
            if state == "retrying":
                line += f" in {data['retry_after']:g}s: {data['error']['message']}"
            elif state == "failed":
                line += f": {data['error']['type']}: {data['error']['message']}"
            self.echo(line)
        elif topic.endswith(".log") and self.verbose:
            self.echo(f"{'':11}{data['node_instance_id']:<24} log: {data['message']}")


class _LiveProgress(_Progress):
    """On a terminal: the same lines above a progress bar of the workflow (operations done
    of total) that names the operation running."""

    def __init__(self, verbose: bool, workflow: str) -> None:
        super().__init__(verbose)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[current]}"),
        )
        self.task = self.progress.add_task(workflow, total=None, current="")

    def echo(self, line: str) -> None:
        self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> _LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.update(self.task, current="")
        self.progress.stop()

    def __call__(self, topic: str, data: dict[str, Any]) -> None:
        state = topic.rsplit(".", 1)[-1]
        if topic.startswith("workflow.") and state == "planned":
            self.progress.update(self.task, total=data.get("operations"))
        elif topic.startswith("operation.") and state == "started":
            current = f"{data.get('node_instance_id')} {data.get('operation')}"
            self.progress.update(self.task, current=current)
        elif topic.startswith("operation.") and state in ("succeeded", "failed"):
            self.progress.advance(self.task)
        super().__call__(topic, data)


def _progress(verbose: bool, workflow: str) -> _Progress:
    """A progress bar on a terminal; plain lines in a pipe or a file."""
    if sys.stdout.isatty():
        return _LiveProgress(verbose, workflow)
    return _Progress(verbose)


def _report(result: ExecutionResult) -> None:
    click.echo(
        f"{result['workflow_id']} {result['status']} in {result['duration']:.2f}s: "
        f"{result['succeeded']} operations succeeded, {result['retried']} retried, "
        f"{result['skipped']} skipped, {result['failed']} failed (execution {result.id})"
    )


def _on_host(
    config_path: str | None,
    deployment: str,
    storage: str | None,
    work: Callable[[LifecycleService, Environment], Awaitable[ExecutionResult]],
    *,
    action: str,
    verbose: bool,
    blueprint: str | None = None,
    inputs: dict[str, Any] | None = None,
) -> None:
    """Run ``work`` on a host loaded from the configuration (or a default one): its
    operation wrappers run around every operation, its event observers see the workflow's
    events, and the deployment and its plugins are registry records."""
    import asyncio

    from plugyard.host import ConfigError, Host
    from plugyard.host.cli import load_config
    from plugyard.sdk.lifecycle import WorkflowFailed

    from ._errors import BlueprintError, StorageError
    from ._service import LifecycleService

    config = load_config(config_path)
    url, _ = _storage(config_path, storage, deployment)
    if blueprint is None and "://" not in url and not Path(url).is_file():
        raise click.ClickException(
            f"no deployment {deployment!r}: {url} does not exist (install it first, or pass "
            "--storage / -c)"
        )

    async def main() -> ExecutionResult:
        host = Host(config)
        async with host.loaded():
            service = LifecycleService.find(host)
            if service is None:
                raise click.ClickException(
                    "the lifecycle adapter is not loaded (see `plugyard plugins`)"
                )
            try:
                env = await service.open(deployment, blueprint, inputs, storage=url)
                with _progress(verbose, action) as progress:
                    env.subscribe(progress)
                    return await work(service, env)
            finally:
                await service.close()

    try:
        result = asyncio.run(main())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None
    except (BlueprintError, StorageError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except WorkflowFailed as exc:
        click.echo(f"{action} failed (execution {exc.execution_id}): {exc.message}", err=True)
        for cause in exc.causes[1:]:
            click.echo(f"  caused by {cause['type']}: {cause['message']}", err=True)
        sys.exit(1)
    _report(result)


def _open(
    deployment: str, storage: str, blueprint: str | None = None, inputs: Any = None
) -> Environment:
    from ._environment import init_env, load_env
    from ._errors import BlueprintError, StorageError
    from ._storage import Storage

    if blueprint is None and "://" not in storage and not Path(storage).is_file():
        raise click.ClickException(
            f"no deployment {deployment!r}: {storage} does not exist (install it first, or "
            "pass --storage / -c)"
        )
    try:
        store = Storage(storage)
        if blueprint is not None and store.get_deployment(deployment) is None:
            return init_env(blueprint, deployment, inputs, store)
        return load_env(deployment, store)
    except (BlueprintError, StorageError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _inputs(values: tuple[str, ...]) -> dict[str, Any]:
    import yaml  # type: ignore[import-untyped]

    from plugyard.host.cli import parse_properties

    inputs: dict[str, Any] = {}
    for value in values:
        path = Path(value)
        if "=" not in value and path.is_file():
            from ._yaml import YamlLimitError, load_yaml

            try:
                loaded = load_yaml(path.read_text(encoding="utf-8")) or {}
            except (YamlLimitError, yaml.YAMLError) as exc:
                raise click.BadParameter(f"{value}: {exc}", param_hint="-i") from None
            if not isinstance(loaded, dict):
                raise click.BadParameter(f"{value}: expected a mapping of inputs", param_hint="-i")
            inputs.update(loaded)
        else:
            inputs.update(parse_properties((value,)))
    return inputs


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    metavar="FILE",
    help="plugyard.toml with a [lifecycle] section.",
)
deployment_option = click.option(
    "-d", "--deployment", default="local", show_default=True, help="Deployment name."
)
storage_option = click.option(
    "--storage",
    metavar="URL|FILE",
    help="SQLite file or SQLAlchemy URL (default: [lifecycle] storage, or one SQLite file "
    "per deployment in storage_dir).",
)
verbose_option = click.option("-v", "--verbose", is_flag=True, help="Show operation logs.")


def retry_options(func: Any) -> Any:
    func = click.option(
        "--task-retries",
        type=int,
        default=None,
        help="Retries per operation (-1: no limit; default from [lifecycle]).",
    )(func)
    func = click.option(
        "--task-retry-interval", type=float, default=None, help="Seconds between retries."
    )(func)
    return click.option(
        "--pool-size", type=int, default=None, help="Plain operations running at once."
    )(func)


def _retry_args(retries: int | None, interval: float | None, pool: int | None) -> dict[str, Any]:
    """The command line's overrides of the ``[lifecycle]`` retry settings."""
    given = {
        "task_retries": retries,
        "task_retry_interval": interval,
        "task_thread_pool_size": pool,
    }
    return {key: value for key, value in given.items() if value is not None}


@click.group()
def lifecycle() -> None:
    """Blueprints and local workflows of lifecycle-operation plugins."""


@lifecycle.command()
@click.argument("blueprint", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-i",
    "--inputs",
    "inputs",
    multiple=True,
    help="A YAML file of inputs, or key=value (repeatable).",
)
@deployment_option
@storage_option
@config_option
@retry_options
@verbose_option
def install(
    blueprint: str,
    inputs: tuple[str, ...],
    deployment: str,
    storage: str | None,
    config_path: str | None,
    task_retries: int | None,
    task_retry_interval: float | None,
    pool_size: int | None,
    verbose: bool,
) -> None:
    """Create deployment DEPLOYMENT from BLUEPRINT (if new) and run install, on a host."""
    retries = _retry_args(task_retries, task_retry_interval, pool_size)

    async def work(service: LifecycleService, env: Environment) -> ExecutionResult:
        return await service.run(deployment, "install", retries=retries)

    _on_host(
        config_path,
        deployment,
        storage,
        work,
        action="install",
        verbose=verbose,
        blueprint=blueprint,
        inputs=_inputs(inputs),
    )


@lifecycle.command()
@deployment_option
@storage_option
@config_option
@retry_options
@verbose_option
def uninstall(
    deployment: str,
    storage: str | None,
    config_path: str | None,
    task_retries: int | None,
    task_retry_interval: float | None,
    pool_size: int | None,
    verbose: bool,
) -> None:
    """Run uninstall on DEPLOYMENT, on a host."""
    retries = _retry_args(task_retries, task_retry_interval, pool_size)

    async def work(service: LifecycleService, env: Environment) -> ExecutionResult:
        return await service.run(deployment, "uninstall", retries=retries)

    _on_host(config_path, deployment, storage, work, action="uninstall", verbose=verbose)


@lifecycle.command()
@click.argument("name", metavar="WORKFLOW_OR_OPERATION")
@click.option("-n", "--node-id", "node_ids", multiple=True, help="Only these nodes (operations).")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    help="key=value: a workflow parameter, or an operation argument.",
)
@deployment_option
@storage_option
@config_option
@retry_options
@verbose_option
def execute(
    name: str,
    node_ids: tuple[str, ...],
    params: tuple[str, ...],
    deployment: str,
    storage: str | None,
    config_path: str | None,
    task_retries: int | None,
    task_retry_interval: float | None,
    pool_size: int | None,
    verbose: bool,
) -> None:
    """Run a workflow (install, uninstall, execute_operation or one of the blueprint's
    ``workflows``) with -p parameters, or run an operation (e.g. lifecycle.start) on the
    deployment's instances with -p arguments."""
    from plugyard.host.cli import parse_properties

    given = parse_properties(params) if params else {}
    retries = _retry_args(task_retries, task_retry_interval, pool_size)

    async def work(service: LifecycleService, env: Environment) -> ExecutionResult:
        from ._environment import WORKFLOWS

        workflows = {*WORKFLOWS, *env.blueprint.workflows}
        parameters: dict[str, Any]
        if name in workflows:
            workflow, parameters = name, dict(given)
        else:
            workflow, parameters = "execute_operation", {"operation": name}
            if given:
                parameters["operation_kwargs"] = given
        if node_ids:
            parameters["node_ids"] = list(node_ids)
        return await service.run(deployment, workflow, retries=retries, **parameters)

    _on_host(config_path, deployment, storage, work, action=name, verbose=verbose)


@lifecycle.command()
@deployment_option
@storage_option
@config_option
def outputs(deployment: str, storage: str | None, config_path: str | None) -> None:
    """Print the deployment's outputs as JSON."""
    url, _ = _storage(config_path, storage, deployment)
    env = _open(deployment, url)
    click.echo(json.dumps(env.outputs(), indent=2, default=str))
    env.close()


@lifecycle.command()
@deployment_option
@storage_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def instances(deployment: str, storage: str | None, config_path: str | None, as_json: bool) -> None:
    """List the deployment's node instances with their state and runtime properties."""
    url, _ = _storage(config_path, storage, deployment)
    env = _open(deployment, url)
    found = env.storage.get_node_instances(deployment)
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in found], indent=2, default=str))
    else:
        from plugyard.host.cli import print_table

        print_table(
            ("INSTANCE", "NODE", "STATE", "RUNTIME PROPERTIES"),
            (
                (i.id, i.node_id, i.state, json.dumps(i.runtime_properties, default=str))
                for i in found
            ),
        )
    env.close()


@lifecycle.command()
@click.argument("execution_id", required=False)
@deployment_option
@storage_option
@config_option
@verbose_option
@click.option(
    "--reset-operations",
    is_flag=True,
    help="Run again operations that were running when the execution was interrupted, even "
    "those not marked resumable.",
)
def resume(
    execution_id: str | None,
    deployment: str,
    storage: str | None,
    config_path: str | None,
    verbose: bool,
    reset_operations: bool,
) -> None:
    """Resume an interrupted execution (default: the latest unfinished one), on a host.

    An operation that was running when the execution was interrupted runs again only if it
    is marked resumable; otherwise the resume fails naming it (see --reset-operations).
    """

    async def work(service: LifecycleService, env: Environment) -> ExecutionResult:
        exec_id = execution_id
        if exec_id is None:
            pending = [
                e for e in env.storage.list_executions(deployment) if e.status not in ("succeeded",)
            ]
            if not pending:
                raise ValueError(f"deployment {deployment!r} has no execution to resume")
            exec_id = pending[-1].id
        return await service.resume(deployment, exec_id, reset_operations=reset_operations)

    _on_host(config_path, deployment, storage, work, action="resume", verbose=verbose)
