"""Running one blueprint and plugin under cloudify-common's own local workflows and under
plugyard, to compare what a user sees."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle._imports_dsl import STANDARD_TYPES

HERE = Path(__file__).parent
PLUGINS = HERE / "plugins"


def _offline_resolver(folder: Path) -> Any:
    """An import resolver for cloudify's parser: the standard types URL read offline, and
    ``plugin:NAME`` read from ``plugins/NAME/plugin.yaml`` beside the blueprint."""
    from cloudify.exceptions import InvalidBlueprintImport
    from dsl_parser.import_resolver.abstract_import_resolver import AbstractImportResolver

    class OfflineTypes(AbstractImportResolver):  # type: ignore[misc]
        def resolve(self, import_url: str) -> str:
            if import_url.startswith("plugin:"):
                name = import_url.split(":", 1)[1]
                return (folder / "plugins" / name / "plugin.yaml").read_text(encoding="utf-8")
            if import_url.endswith("/types.yaml") and "cloudify" in import_url:
                return STANDARD_TYPES.read_text(encoding="utf-8")
            raise InvalidBlueprintImport(f"no network here: {import_url}")

        def retrieve_plugin(self, import_url: str, **kwargs: Any) -> Any:
            raise InvalidBlueprintImport(import_url)

    return OfflineTypes()


@dataclass
class Outcome:
    """What a user sees after running workflows: per-node runtime properties and states,
    and the blueprint's outputs."""

    runtime_properties: dict[str, list[dict[str, Any]]]
    states: dict[str, list[str]]
    outputs: dict[str, Any]
    failed: list[bool]
    """For each workflow run, whether it failed."""
    capabilities: dict[str, Any]


def _by_node(instances: list[Any]) -> tuple[dict[str, list[Any]], dict[str, list[str]]]:
    props: dict[str, list[Any]] = {}
    states: dict[str, list[str]] = {}
    for instance in sorted(instances, key=lambda i: (i.node_id, i.id)):
        props.setdefault(instance.node_id, []).append(dict(instance.runtime_properties))
        states.setdefault(instance.node_id, []).append(instance.state)
    return props, states


Runner = Callable[..., Outcome]


def _failed(
    execute: Callable[..., Any], workflow: str, parameters: dict[str, Any], options: Any
) -> bool:
    try:
        execute(workflow, parameters=parameters, **options)
    except Exception:
        return True
    return False


@pytest.fixture
def run_cloudify() -> Runner:
    """Run workflows with cloudify-common's ``cloudify.workflows.local``."""
    from cloudify.workflows import local
    from dsl_parser import functions as dsl_functions

    def run(
        blueprint: Path,
        workflows: list[tuple[str, dict[str, Any]]],
        inputs: dict[str, Any] | None = None,
        **execute: Any,
    ) -> Outcome:
        env = local.init_env(
            str(blueprint), inputs=inputs or {}, resolver=_offline_resolver(blueprint.parent)
        )
        failed = [_failed(env.execute, w, p, execute) for w, p in workflows]
        props, states = _by_node(env.storage.get_node_instances())
        capabilities = dsl_functions.evaluate_outputs(
            outputs_def=env.plan.get("capabilities") or {}, storage=env.storage
        )
        return Outcome(props, states, env.outputs(), failed, capabilities)

    return run


@pytest.fixture
def run_plugyard(tmp_path: Path) -> Runner:
    """Run workflows with plugyard's local environment."""
    from plugyard.adapters.lifecycle.local import init_env

    def run(
        blueprint: Path,
        workflows: list[tuple[str, dict[str, Any]]],
        inputs: dict[str, Any] | None = None,
        **execute: Any,
    ) -> Outcome:
        env = init_env(blueprint, inputs=inputs or {}, workdirs=tmp_path / "work")
        try:
            failed = [_failed(env.execute, w, p, execute) for w, p in workflows]
            props, states = _by_node(env.storage.get_node_instances())
            return Outcome(props, states, env.outputs(), failed, env.capabilities())
        finally:
            env.close()

    return run


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def cloudify_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test plugins importable, as an installed Cloudify plugin would be."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    yield PLUGINS
    for name in [m for m in sys.modules if m.split(".")[0] in _plugin_packages()]:
        sys.modules.pop(name, None)


def _plugin_packages() -> set[str]:
    return {p.name for p in PLUGINS.iterdir() if p.is_dir() and not p.name.startswith("_")}


@pytest.fixture
def python2_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Python 2's names for a plugin written for it: ``urllib2`` importable, and
    ``python -m SimpleHTTPServer`` runnable from a shell."""
    shims = HERE / "py2shims"
    monkeypatch.syspath_prepend(str(shims))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("PYTHONPATH", str(shims))
    return shims
