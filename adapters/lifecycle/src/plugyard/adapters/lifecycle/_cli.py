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
    from ._environment import Environment, ExecutionResult

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
            click.echo(line)
        elif topic.endswith(".log") and self.verbose:
            click.echo(f"{'':11}{data['node_instance_id']:<24} log: {data['message']}")


def _run(env: Environment, action: str, run: Any, verbose: bool) -> ExecutionResult:
    from plugyard.sdk.lifecycle import WorkflowFailed

    env.subscribe(_Progress(verbose))
    try:
        result: ExecutionResult = run()
    except WorkflowFailed as exc:
        click.echo(f"{action} failed (execution {exc.execution_id}): {exc.message}", err=True)
        for cause in exc.causes[1:]:
            click.echo(f"  caused by {cause['type']}: {cause['message']}", err=True)
        env.close()
        sys.exit(1)
    click.echo(
        f"{result['workflow_id']} {result['status']} in {result['duration']:.2f}s: "
        f"{result['succeeded']} operations succeeded, {result['retried']} retried, "
        f"{result['skipped']} skipped, {result['failed']} failed (execution {result.id})"
    )
    return result


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


def _retry_args(
    settings: Any, retries: int | None, interval: float | None, pool: int | None
) -> dict[str, Any]:
    return {
        "task_retries": settings.task_retries if retries is None else retries,
        "task_retry_interval": settings.task_retry_interval if interval is None else interval,
        "task_thread_pool_size": settings.thread_pool_size if pool is None else pool,
    }


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
    """Create deployment DEPLOYMENT from BLUEPRINT (if new) and run install."""
    url, settings = _storage(config_path, storage, deployment)
    env = _open(deployment, url, blueprint, _inputs(inputs))
    args = _retry_args(settings, task_retries, task_retry_interval, pool_size)
    _run(env, "install", lambda: env.execute("install", **args), verbose)
    env.close()


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
    """Run uninstall on DEPLOYMENT."""
    url, settings = _storage(config_path, storage, deployment)
    env = _open(deployment, url)
    args = _retry_args(settings, task_retries, task_retry_interval, pool_size)
    _run(env, "uninstall", lambda: env.execute("uninstall", **args), verbose)
    env.close()


@lifecycle.command()
@click.argument("operation")
@click.option("-n", "--node-id", "node_ids", multiple=True, help="Only these nodes.")
@click.option("-p", "--param", "params", multiple=True, help="key=value operation argument.")
@deployment_option
@storage_option
@config_option
@retry_options
@verbose_option
def execute(
    operation: str,
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
    """Run OPERATION (e.g. lifecycle.start) on the deployment's instances."""
    from plugyard.host.cli import parse_properties

    url, settings = _storage(config_path, storage, deployment)
    env = _open(deployment, url)
    parameters: dict[str, Any] = {"operation": operation}
    if node_ids:
        parameters["node_ids"] = list(node_ids)
    if params:
        parameters["operation_kwargs"] = parse_properties(params)
    args = _retry_args(settings, task_retries, task_retry_interval, pool_size)
    try:
        _run(
            env,
            "execute_operation",
            lambda: env.execute("execute_operation", parameters, **args),
            verbose,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    env.close()


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
        for i in found:
            props = json.dumps(i.runtime_properties, default=str)
            click.echo(f"{i.id:<24} {i.node_id:<16} {i.state:<12} {props}")
    env.close()


@lifecycle.command()
@click.argument("execution_id", required=False)
@deployment_option
@storage_option
@config_option
@verbose_option
def resume(
    execution_id: str | None,
    deployment: str,
    storage: str | None,
    config_path: str | None,
    verbose: bool,
) -> None:
    """Resume an interrupted execution (default: the latest unfinished one)."""
    url, _ = _storage(config_path, storage, deployment)
    env = _open(deployment, url)
    if execution_id is None:
        pending = [
            e for e in env.storage.list_executions(deployment) if e.status not in ("succeeded",)
        ]
        if not pending:
            raise click.ClickException(f"deployment {deployment!r} has no execution to resume")
        execution_id = pending[-1].id
    exec_id = execution_id
    try:
        _run(env, "resume", lambda: env.resume(exec_id), verbose)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    env.close()
