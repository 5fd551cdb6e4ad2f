"""Run one PluginRun in this process (``python -m plugyard.sdk.pod``, ``plugyard pod run-plugin``).

Exit codes: 0 the run is ``done``, 1 the plugin raised (the run is ``error`` with the
traceback stored), 2 bad input (metadata, configuration, environment), 3 aborted (a daemon run
stays up in ``daemon`` until it is aborted, so it ends with 3).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .._versions import SPEC_VERSION, SPEC_VERSION_ATTR, spec_version_problem
from ._client import ENV_RUN_ID, ENV_SPEC_VERSION, ENV_TOKEN, ENV_URL, PodClient
from ._errors import PodError, Unauthorized
from ._item import PluginRun
from ._plugin import PluginAborted, PodPlugin, accepted_config
from ._status import TERMINAL, RunStatus

__all__ = [
    "EXIT_ABORTED",
    "EXIT_BAD_INPUT",
    "EXIT_DONE",
    "EXIT_PLUGIN_ERROR",
    "BadInput",
    "check_config",
    "load_plugin_class",
    "main",
    "read_config_file",
    "read_metadata",
    "resolve_config",
    "run_plugin",
    "start_run",
]

EXIT_DONE = 0
EXIT_PLUGIN_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_ABORTED = 3

_ALIASES = {"pluginModule": "plugin_module", "pluginName": "plugin_name"}
REQUIRED_METADATA = ("plugin_module", "plugin_name")


class BadInput(ValueError):
    """Metadata, configuration or environment a run cannot start with (exit code 2)."""


def _read_json_object(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadInput(f"{path}: the {what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: the {what} must be a JSON object, got {type(data).__name__}")
    return data


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read plugin metadata (``plugin_module``, ``plugin_name``; Pymemri's camelCase too)."""
    raw = _read_json_object(path, "plugin metadata")
    data = {_ALIASES.get(key, key): value for key, value in raw.items()}
    for key in REQUIRED_METADATA:
        if key not in data:
            raise BadInput(
                f"{path}: the metadata has no {key!r} key (required: plugin_module, plugin_name)"
            )
        if not isinstance(data[key], str) or not data[key]:
            raise BadInput(f"{path}: {key} must be a non-empty string, got {data[key]!r}")
    return data


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run configuration file: a JSON object of ``__init__`` keyword arguments."""
    return _read_json_object(path, "configuration")


def resolve_config(config_file: Mapping[str, Any] | None, run_config: str | None) -> dict[str, Any]:
    """The configuration to use: the file if given, else the run's ``config``, else ``{}``."""
    if config_file is not None:
        return dict(config_file)
    if not run_config:
        return {}
    try:
        data = json.loads(run_config)
    except ValueError as exc:
        raise BadInput(f"the run's config is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"the run's config must be a JSON object, got {type(data).__name__}")
    return data


def load_plugin_class(module: str | None, name: str | None) -> type[PodPlugin]:
    """Import ``module`` and return its PodPlugin subclass ``name``."""
    if not module or not name:
        raise BadInput("the run names no plugin (plugin_module and plugin_name are required)")
    try:
        mod = importlib.import_module(module)
    except Exception as exc:
        raise BadInput(
            f"cannot import plugin_module {module!r}: {type(exc).__name__}: {exc}"
        ) from None
    cls = getattr(mod, name, None)
    if cls is None:
        raise BadInput(f"module {module!r} has no plugin_name {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, PodPlugin)):
        raise BadInput(f"{module}.{name} is not a PodPlugin subclass")
    return cls


def check_config(cls: type[PodPlugin], config: Mapping[str, Any]) -> None:
    """Refuse config keys the plugin's ``__init__`` does not take, listing those it does."""
    accepted = accepted_config(cls)
    if accepted is None:
        return
    unknown = sorted(key for key in config if key not in accepted)
    if unknown:
        raise BadInput(
            f"{cls.__name__} does not accept configuration key(s) {', '.join(map(repr, unknown))} "
            f"(accepted: {', '.join(accepted) or 'none'})"
        )


def _record_failure(client: PodClient, run_id: str, status: RunStatus, **fields: Any) -> None:
    """Write an ending the run may already have (aborted, token revoked): never raise."""
    try:
        if client.get_run(run_id).status in TERMINAL:
            return
        client.update_run(run_id, status=status.value, **fields)
    except PodError:
        pass


@contextlib.contextmanager
def _abort_on_sigterm(plugin_box: list[PodPlugin]) -> Iterator[None]:
    """Turn SIGTERM (how a launcher stops a run) into PluginAborted inside ``run()``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        for plugin in plugin_box:
            plugin.abort()
        raise PluginAborted("the run was aborted (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


DAEMON_POLL = 0.5
"""Seconds between a daemon run's checks of its status while it stays up."""


def _stay_up(client: PodClient, plugin: PodPlugin, run_id: str) -> None:
    """Keep a daemon run's process up until the run is aborted (or its token revoked).

    SIGTERM, how a launcher stops a run, interrupts the wait with ``PluginAborted``.
    """
    while not plugin._aborted.wait(DAEMON_POLL):
        try:
            status = client.get_run(run_id).status
        except Unauthorized:
            break
        except PodError:
            continue
        if status in TERMINAL:
            break
    plugin.abort()
    sys.stderr.write(f"the daemon run {run_id} was stopped\n")


def check_spec_version(cls: type[Any], host_version: str) -> None:
    """Refuse a plugin class that declares a hook spec version the host cannot serve: the
    handshake of a run, whose host passes its version in ``PLUGYARD_SPEC_VERSION``."""
    declared = getattr(cls, SPEC_VERSION_ATTR, None)
    if declared is None:
        return
    problem = spec_version_problem(str(declared), host_version)
    if problem is not None:
        raise BadInput(f"plugin {cls.__module__}.{cls.__qualname__} was {problem}")


def run_plugin(
    client: PodClient, run: PluginRun, *, config_file: Mapping[str, Any] | None = None
) -> int:
    """Build the run's plugin, register its schema, run it; returns the exit code."""
    run_id = str(run.id)
    try:
        cls = load_plugin_class(run.plugin_module, run.plugin_name)
        check_spec_version(cls, os.environ.get(ENV_SPEC_VERSION, SPEC_VERSION))
        config = resolve_config(config_file, run.config)
        check_config(cls, config)
    except BadInput as exc:
        _record_failure(client, run_id, RunStatus.ERROR, error=str(exc))
        raise
    box: list[PodPlugin] = []
    try:
        with _abort_on_sigterm(box):
            plugin = cls(plugin_run=run, client=client, **config)
            box.append(plugin)
            plugin.add_to_schema()
            if plugin._run() is RunStatus.DAEMON:
                _stay_up(client, plugin, run_id)
                return EXIT_ABORTED
    except PluginAborted as exc:
        _record_failure(client, run_id, RunStatus.ABORTED, message=str(exc))
        return EXIT_ABORTED
    except Unauthorized:
        sys.stderr.write("the run's token was revoked: the run was ended by the pod\n")
        return EXIT_ABORTED
    except Exception as exc:
        text = traceback.format_exc()
        sys.stderr.write(text)
        _record_failure(
            client, run_id, RunStatus.ERROR, error=f"{type(exc).__name__}: {exc}", traceback=text
        )
        return EXIT_PLUGIN_ERROR
    return EXIT_DONE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m plugyard.sdk.pod", description="Run one pod plugin in this process."
    )
    parser.add_argument("--metadata", help="plugin.json: plugin_module and plugin_name")
    parser.add_argument("--config-file", help="JSON object of the plugin's __init__ arguments")
    parser.add_argument("--pod", help=f"the pod's URL (default ${ENV_URL})")
    parser.add_argument("--run-id", help="run an existing PluginRun instead of creating one")
    parser.add_argument(
        "--from-env",
        action="store_true",
        help=f"read {ENV_URL}, {ENV_RUN_ID} and {ENV_TOKEN} (what launchers set)",
    )
    return parser


def _from_env(environ: Mapping[str, str]) -> tuple[str, str, str]:
    missing = [name for name in (ENV_URL, ENV_RUN_ID, ENV_TOKEN) if not environ.get(name)]
    if missing:
        raise BadInput(f"--from-env: environment variable {missing[0]} is not set")
    return environ[ENV_URL], environ[ENV_RUN_ID], environ[ENV_TOKEN]


def start_run(
    client: PodClient,
    *,
    metadata: Mapping[str, Any] | None,
    run_id: str | None,
    config: Mapping[str, Any] | None,
    launcher: str = "cli",
) -> PluginRun:
    """The run to execute: ``run_id``'s, or a new one made from ``metadata``."""
    if run_id is not None:
        return client.get_run(run_id)
    if metadata is None:
        raise BadInput("give --metadata (a new run), --run-id or --from-env")
    run, _token = client.create_run(
        plugin_module=metadata["plugin_module"],
        plugin_name=metadata["plugin_name"],
        config=json.dumps(dict(config or {})),
        launcher=launcher,
    )
    return run


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``python -m plugyard.sdk.pod``: run a plugin against a pod over HTTP."""
    args = _parser().parse_args(argv)
    env = os.environ if environ is None else environ
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        metadata = read_metadata(args.metadata) if args.metadata else None
        config_file = read_config_file(args.config_file) if args.config_file else None
        if args.from_env:
            url, run_id, token = _from_env(env)
            url = args.pod or url
        else:
            url = args.pod or env.get(ENV_URL, "")
            run_id, token = args.run_id, env.get(ENV_TOKEN, "")
            if not url:
                raise BadInput(f"no pod: give --pod URL or set {ENV_URL}")
        with PodClient(url, token=token) as client:
            run = start_run(client, metadata=metadata, run_id=run_id, config=config_file)
            return run_plugin(client, run, config_file=config_file)
    except BadInput as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except PodError as exc:
        sys.stderr.write(f"error: the pod refused: {exc}\n")
        return EXIT_BAD_INPUT
