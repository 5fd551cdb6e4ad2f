"""``plugyard pod ...``: run, launch, abort and inspect PluginRuns, and supply credentials.

Commands reach a running host's pod over HTTP (its URL and owner token are in the host's
runtime folder); without one, they open the pod's database directly, and ``launch`` starts
an embedded host for as long as the run lasts.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from plugyard.host.cli import config_option, load_config, setup_logging

__all__ = ["pod_group"]

_EXIT_BY_STATUS = {"done": 0, "daemon": 0, "error": 1, "aborted": 3}


def _running_pod(config_path: str | None) -> tuple[str, str] | None:
    """``(pod URL, owner token)`` of the running host this configuration names, if any."""
    from plugyard.host import (
        HostInfoError,
        UnsafePathError,
        default_runtime_dir,
        read_host_info,
        read_private_file,
    )

    config = load_config(config_path)
    folder = config.host.runtime_dir or default_runtime_dir(config.host.name)
    try:
        info = read_host_info(Path(folder))
        url, token_file = info.get("pod_url"), info.get("pod_owner_token_file")
        if not url or not token_file:
            return None
        return str(url), read_private_file(Path(token_file)).strip()
    except UnsafePathError as exc:  # never hand the owner token to whoever wrote this
        raise click.ClickException(str(exc)) from None
    except (HostInfoError, OSError):
        return None


class _Operator:
    """The owner's view of the pod, over HTTP to a running host or straight to the database."""

    def __init__(self, config_path: str | None) -> None:
        from plugyard.sdk.pod import HttpTransport

        self.http: HttpTransport | None = None
        self.pod: Any = None
        running = _running_pod(config_path)
        if running is not None:
            self.http = HttpTransport(running[0], running[1])
            return
        from ._pod import Pod
        from ._settings import PodSettings
        from ._store import Store

        config = load_config(config_path)
        try:
            settings = config.section("pod", PodSettings)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        store = Store(settings.database_url(config.base_dir), schema=settings.db_schema)
        store.create()
        self.pod = Pod(store)

    def call(self, method: str, path: str, body: Any, direct: Any) -> Any:
        from plugyard.sdk.pod import PodError

        try:
            if self.http is not None:
                return self.http.request(method, path, body)
            return direct()
        except PodError as exc:
            raise click.ClickException(exc.message) from None

    def get_run(self, run_id: str) -> dict[str, Any]:
        from ._pod import OWNER

        run: dict[str, Any] = self.call(
            "GET", f"/runs/{run_id}", None, lambda: self.pod.get_run(OWNER, run_id)
        )
        return run


def _print_run(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(run, indent=2, sort_keys=True))
        return
    click.echo(f"run {run['id']}: {run.get('status')}")
    for key in (
        "plugin_module",
        "plugin_name",
        "launcher",
        "progress",
        "message",
        "error",
        "exit_code",
        "started_at",
        "ended_at",
    ):
        if run.get(key) is not None:
            click.echo(f"  {key}: {run[key]}")


@click.group("pod")
def pod_group() -> None:
    """Pod plugins: run, launch and abort PluginRuns; supply credentials."""


@pod_group.command("run-plugin")
@config_option
@click.option("--metadata", type=click.Path(), help="plugin.json: plugin_module, plugin_name.")
@click.option("--config-file", type=click.Path(), help="JSON object of __init__ arguments.")
@click.option("--pod", "pod_url", help="The pod's URL (token in $PLUGYARD_POD_TOKEN).")
@click.option("--run-id", help="Run an existing PluginRun instead of creating one.")
@click.option("--from-env", is_flag=True, help="Read PLUGYARD_POD_URL, _RUN_ID and _TOKEN.")
def run_plugin_command(
    config_path: str | None,
    metadata: str | None,
    config_file: str | None,
    pod_url: str | None,
    run_id: str | None,
    from_env: bool,
) -> None:
    """Run a plugin in this process (exit 0 done, 1 plugin error, 2 bad input, 3 aborted)."""
    from plugyard.sdk.pod import ENV_TOKEN, EXIT_BAD_INPUT, main

    argv = [
        *(["--metadata", metadata] if metadata else []),
        *(["--config-file", config_file] if config_file else []),
        *(["--run-id", run_id] if run_id else []),
        *(["--from-env"] if from_env else []),
    ]
    if from_env or pod_url:
        sys.exit(main([*argv, *(["--pod", pod_url] if pod_url else [])]))
    running = _running_pod(config_path)
    if running is not None:
        env = {**os.environ, ENV_TOKEN: running[1]}
        sys.exit(main([*argv, "--pod", running[0]], env))
    setup_logging("info")
    try:
        sys.exit(_run_direct(config_path, metadata, config_file, run_id))
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _run_direct(
    config_path: str | None, metadata: str | None, config_file: str | None, run_id: str | None
) -> int:
    """No host runs: open the pod's database here and run the plugin against it."""
    from plugyard.sdk.pod import PodClient, read_config_file, read_metadata, run_plugin, start_run

    from ._direct import DirectTransport

    meta = read_metadata(metadata) if metadata else None
    config = read_config_file(config_file) if config_file else None
    operator = _Operator(config_path)
    client = PodClient(transport=DirectTransport(operator.pod))
    run = start_run(client, metadata=meta, run_id=run_id, config=config)
    try:
        return run_plugin(client, run, config_file=config)
    finally:
        operator.pod.store.close()


@pod_group.command("launch")
@config_option
@click.option("--metadata", type=click.Path(), required=True, help="plugin.json.")
@click.option("--config-file", type=click.Path(), help="JSON object of __init__ arguments.")
@click.option(
    "--launcher",
    type=click.Choice(["inprocess", "process", "docker", "kubernetes"]),
    help="Where to run it (default: [pod] launcher).",
)
@click.option("--timeout", type=float, help="Seconds before the run is stopped as an error.")
@click.option(
    "--python",
    help="The interpreter to run the plugin with (its own environment; a Pymemri one works).",
)
@click.option("--wait", is_flag=True, help="Wait for the run to end; exit by its status.")
@click.option(
    "--watch", is_flag=True, help="Wait, showing the run's progress on a terminal (--wait too)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def launch_command(
    config_path: str | None,
    metadata: str,
    config_file: str | None,
    launcher: str | None,
    timeout: float | None,
    python: str | None,
    wait: bool,
    watch: bool,
    as_json: bool,
) -> None:
    """Create a PluginRun and have the host launch it (an embedded host if none runs)."""
    from plugyard.sdk.pod import BadInput, read_config_file, read_metadata

    try:
        meta = read_metadata(metadata)
        config = read_config_file(config_file) if config_file else {}
    except BadInput as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    fields: dict[str, Any] = {
        "plugin_module": meta["plugin_module"],
        "plugin_name": meta["plugin_name"],
        "config": json.dumps(config),
    }
    if timeout is not None:
        fields["timeout"] = timeout
    if python is not None:
        fields["python"] = python
    wait = wait or watch
    shown = _Watch(watch and not as_json and sys.stdout.isatty(), meta["plugin_name"])
    running = _running_pod(config_path)
    with shown:
        if running is None:
            run = _launch_embedded(config_path, fields, launcher, as_json, shown)
        else:
            run = _launch_remote(running, fields, launcher, wait, as_json, shown)
        if not wait:
            return
    _print_run(run, as_json)
    sys.exit(_EXIT_BY_STATUS.get(str(run.get("status")), 1))


class _Watch:
    """A progress bar of a run (its ``set_progress`` and message), when ``enabled``."""

    def __init__(self, enabled: bool, name: str) -> None:
        self.enabled = enabled
        self.progress: Any = None
        self.bar: Any = None
        self.name = name

    def __enter__(self) -> _Watch:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[message]}"),
            )
            self.bar = self.progress.add_task(self.name, total=1.0, message="created")
            self.progress.start()
        return self

    def update(self, run: dict[str, Any]) -> None:
        """Show the run as it is now."""
        if self.progress is None:
            return
        fraction = run.get("progress")
        if run.get("status") == "done":
            fraction = 1.0
        message = " ".join(str(x) for x in (run.get("status"), run.get("message")) if x)
        if isinstance(fraction, int | float):
            self.progress.update(self.bar, completed=float(fraction), message=message)
        else:
            self.progress.update(self.bar, message=message)

    def __exit__(self, *exc_info: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _launch_remote(
    running: tuple[str, str],
    fields: dict[str, Any],
    launcher: str | None,
    wait: bool,
    as_json: bool,
    shown: _Watch,
) -> dict[str, Any]:
    from plugyard.sdk.pod import TERMINAL, HttpTransport, PodError

    http = HttpTransport(*running)
    try:
        run = http.request("POST", "/runs", {**fields, "launch": launcher or True})["run"]
        if not as_json:
            click.echo(f"run {run['id']}: launched ({run.get('launcher')})", err=True)
        while wait and run.get("status") not in TERMINAL and run.get("status") != "daemon":
            shown.update(run)
            time.sleep(0.05)
            run = http.request("GET", f"/runs/{run['id']}")
        shown.update(run)
    except PodError as exc:
        raise click.ClickException(exc.message) from None
    if not wait:
        _print_run(run, as_json)
    result: dict[str, Any] = run
    return result


def _launch_embedded(
    config_path: str | None,
    fields: dict[str, Any],
    launcher: str | None,
    as_json: bool,
    shown: _Watch,
) -> dict[str, Any]:
    """Start a host just for this run (pod adapter only), launch, wait, stop."""
    import asyncio

    from plugyard.host import Config, Host
    from plugyard.sdk.pod import PodError

    from ._adapter import adapter
    from ._service import PodService

    config = load_config(config_path)
    raw = config.to_dict()
    host_table = dict(raw.get("host", {}))
    host_table["name"] = f"{config.host.name}-launch-{os.getpid()}"
    host_table.pop("runtime_dir", None)
    embedded = Config({"host": host_table, "pod": raw.get("pod", {})}, path=config.path)

    async def go() -> dict[str, Any]:
        async with Host(embedded, autoload=False, adapters={"pod": adapter}) as host:
            pod = PodService.of(host)
            run = await pod.launch(dict(fields), launcher)
            if not as_json:
                click.echo(f"run {run['id']}: launched ({run.get('launcher')})", err=True)
            if shown.enabled:
                from plugyard.sdk.pod import TERMINAL

                from ._pod import OWNER

                store = pod.require_pod()
                while run.get("status") not in TERMINAL and run.get("status") != "daemon":
                    shown.update(run)
                    await asyncio.sleep(0.05)
                    run = await asyncio.to_thread(store.get_run, OWNER, run["id"])
            result: dict[str, Any] = await pod.wait(run["id"])
            shown.update(result)
            return result

    try:
        return asyncio.run(go())
    except PodError as exc:
        raise click.ClickException(exc.message) from None


@pod_group.command("status")
@config_option
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
def status_command(config_path: str | None, run_id: str, as_json: bool) -> None:
    """Show a PluginRun."""
    _print_run(_Operator(config_path).get_run(run_id), as_json)


@pod_group.command("abort")
@config_option
@click.argument("run_id")
def abort_command(config_path: str | None, run_id: str) -> None:
    """Abort a run: the plugin is told (status aborted, SIGTERM), then stopped."""
    from ._pod import OWNER

    operator = _Operator(config_path)
    run = operator.call(
        "POST",
        f"/runs/{run_id}/abort",
        {},
        lambda: operator.pod.update_run(OWNER, run_id, {"status": "aborted"}),
    )
    click.echo(f"run {run['id']}: {run['status']}")


@pod_group.command("logs")
@config_option
@click.argument("run_id")
def logs_command(config_path: str | None, run_id: str) -> None:
    """Print a run's captured output (from the running host)."""
    operator = _Operator(config_path)
    lines = operator.call("GET", f"/runs/{run_id}/logs", None, lambda: {"lines": []})["lines"]
    for line in lines:
        click.echo(line)


@pod_group.command("credentials")
@config_option
@click.argument("run_id")
@click.option("--username", help="The account's user name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--code", help="An OAuth code (instead of a username and password).")
@click.option("--service", help="Which service the account is for.")
def credentials_command(
    config_path: str | None,
    run_id: str,
    username: str | None,
    password_stdin: bool,
    code: str | None,
    service: str | None,
) -> None:
    """Supply credentials to a run waiting for them; it becomes ready. Never echoed."""
    from ._pod import OWNER

    if not username and not code:
        raise click.UsageError("give --username (and a password) or --code")
    fields: dict[str, Any] = {}
    if username:
        if password_stdin:
            secret = sys.stdin.readline().rstrip("\n")
        else:
            secret = click.prompt("password", hide_input=True)
        fields.update(identifier=username, secret=secret)
    if code:
        fields["code"] = code
    if service:
        fields["service"] = service
    operator = _Operator(config_path)
    result = operator.call(
        "PUT",
        f"/runs/{run_id}/account",
        fields,
        lambda: {"run": operator.pod.set_account(OWNER, run_id, fields)},
    )
    click.echo(f"run {run_id}: credentials stored; status {result['run']['status']}")
