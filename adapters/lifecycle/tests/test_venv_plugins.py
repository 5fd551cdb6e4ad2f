"""Plugins declared with ``install: true`` and a ``source`` run in virtual environments of
their own, so two plugins needing different versions of one package share a deployment."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from plugyard.adapters.lifecycle import BlueprintError, load_blueprint
from plugyard.adapters.lifecycle.local import init_env
from plugyard.sdk.lifecycle import WorkflowFailed

pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv on PATH")

BUILD = """
[build-system]
requires = ["uv_build>=0.5,<1"]
build-backend = "uv_build"

[tool.uv.build-backend]
module-root = ""
"""


def _package(root: Path, name: str, version: str, files: dict[str, str], deps: str = "") -> Path:
    folder = root / f"{name}-{version}"
    (folder / name).mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n' + BUILD
    )
    for file, text in files.items():
        (folder / name / file).write_text(textwrap.dedent(text))
    return folder


def _dependency_wheels(root: Path) -> Path:
    """``pyd_dep`` 1.0 and 2.0 as wheels in one folder (the plugins' only index)."""
    links = root / "links"
    for version in ("1.0", "2.0"):
        folder = _package(root, "pyd_dep", version, {"__init__.py": f'__version__ = "{version}"\n'})
        subprocess.run(
            ["uv", "build", "--quiet", "--wheel", "--out-dir", str(links), str(folder)],
            check=True,
            capture_output=True,
        )
    return links


OPS = """
import os
import sys
import time
from pathlib import Path

import pyd_dep

from plugyard.sdk.lifecycle import operation


@operation
def create(ctx, **kwargs):
    ctx.instance.runtime_properties["pyd_dep"] = pyd_dep.__version__
    ctx.instance.runtime_properties["python"] = sys.executable
    ctx.instance.runtime_properties["path"] = sys.path


@operation
def hang(ctx, marker, **kwargs):
    Path(marker).write_text(str(os.getpid()))
    time.sleep(120)
"""


def _plugin(root: Path, name: str, version: str) -> Path:
    return _package(
        root, name, "0.1", {"__init__.py": "", "ops.py": OPS}, deps=f'"pyd_dep=={version}"'
    )


def _conflicting(tmp_path: Path) -> Path:
    """A blueprint whose nodes ``a`` and ``b`` use plugins needing pyd_dep 1.0 and 2.0."""
    links = _dependency_wheels(tmp_path)
    old = _plugin(tmp_path, "plug_old", "1.0")
    new = _plugin(tmp_path, "plug_new", "2.0")
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(
        textwrap.dedent(
            f"""
            plugins:
              old:
                package: plug_old
                install: true
                source: {old.name}
                install_arguments: --no-index --find-links {links}
              new:
                package: plug_new
                install: true
                source: {new}
                install_arguments: [--no-index, --find-links, {links}]
            node_templates:
              a:
                type: plugyard.nodes.Root
                interfaces:
                  lifecycle:
                    create: old.ops.create
              b:
                type: plugyard.nodes.Root
                interfaces:
                  lifecycle:
                    create: new.ops.create
            outputs:
              versions:
                value: [{{get_attribute: [a, pyd_dep]}}, {{get_attribute: [b, pyd_dep]}}]
            """
        )
    )
    return blueprint


def test_two_plugins_with_conflicting_dependencies_run_in_one_deployment(
    tmp_path: Path,
) -> None:
    blueprint = _conflicting(tmp_path)
    env = init_env(blueprint, storage=tmp_path / "store.db", workdirs=tmp_path / "work")
    try:
        result = env.execute("install", task_retries=0)
        assert result["status"] == "succeeded", result
        (a,) = env.storage.get_node_instances(node_id="a")
        (b,) = env.storage.get_node_instances(node_id="b")
        assert a.runtime_properties["pyd_dep"] == "1.0"
        assert b.runtime_properties["pyd_dep"] == "2.0"
        venvs = tmp_path / "work" / env.name / "venvs"
        pythons = {a.runtime_properties["python"], b.runtime_properties["python"]}
        assert len(pythons) == 2
        assert all(Path(p).is_relative_to(venvs) for p in pythons)
        # The plugin's own packages come first, the host's (plugyard itself) after them.
        path = a.runtime_properties["path"]
        own = next(i for i, p in enumerate(path) if Path(p).is_relative_to(venvs))
        host = path.index(site.getsitepackages()[0])
        assert own < host
        assert "" not in path and str(tmp_path) not in path  # nor the working folder
        # The host's own environment never had either version.
        with pytest.raises(ImportError):
            __import__("pyd_dep")
        # A second run reuses the environments instead of installing again.
        made = sorted(p.name for p in venvs.iterdir())
        assert (
            env.execute("execute_operation", {"operation": "lifecycle.create"})["status"]
            == "succeeded"
        )
        assert sorted(p.name for p in venvs.iterdir()) == made
    finally:
        env.close()
    assert "pyd_dep" not in sys.modules


def test_the_command_line_installs_both_plugins_and_reports_their_versions(
    tmp_path: Path,
) -> None:
    blueprint = _conflicting(tmp_path)
    plugyard = str(Path(sys.executable).parent / "plugyard")
    done = subprocess.run(
        [plugyard, "lifecycle", "install", str(blueprint), "-d", "pair", "--task-retries", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = subprocess.run(
        [plugyard, "lifecycle", "outputs", "-d", "pair"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(outputs.stdout)["versions"] == ["1.0", "2.0"]


def test_an_installed_plugins_operation_is_killed_at_its_timeout(tmp_path: Path) -> None:
    links = _dependency_wheels(tmp_path)
    plugin = _plugin(tmp_path, "plug_slow", "1.0")
    marker = tmp_path / "pid"
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(
        textwrap.dedent(
            f"""
            plugins:
              slow:
                package: plug_slow
                install: true
                source: {plugin}
                install_arguments: --no-index --find-links {links}
            node_templates:
              a:
                type: plugyard.nodes.Root
                interfaces:
                  lifecycle:
                    create:
                      implementation: slow.ops.hang
                      inputs: {{marker: {marker}}}
                      timeout: 1
            """
        )
    )
    env = init_env(blueprint, storage=tmp_path / "store.db", workdirs=tmp_path / "work")
    try:
        with pytest.raises(WorkflowFailed, match="timed out after 1s"):
            env.execute("install", task_retries=0)
    finally:
        env.close()
    pid = int(marker.read_text())
    # The workflow waits for the killed child, so it is gone (reaped) by now.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_failed_install_names_the_plugin_and_the_command(tmp_path: Path) -> None:
    plugin = _plugin(tmp_path, "plug_missing", "9.9")
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(
        textwrap.dedent(
            f"""
            plugins:
              broken:
                package: plug_missing
                install: true
                source: {plugin}
                install_arguments: --no-index --find-links {tmp_path / "empty"}
            node_templates:
              a:
                type: plugyard.nodes.Root
                interfaces:
                  lifecycle:
                    create: broken.ops.create
            """
        )
    )
    (tmp_path / "empty").mkdir()
    env = init_env(blueprint, storage=tmp_path / "store.db", workdirs=tmp_path / "work")
    events: list[str] = []
    env.subscribe(lambda topic, data: events.append(topic))
    try:
        with pytest.raises(WorkflowFailed) as failed:
            env.execute("install", task_retries=3, task_retry_interval=0)
        error = str(failed.value)
        assert failed.value.error_type == "PluginInstallError"
        assert "plugin 'broken'" in error
        assert "pip install" in error and "exit code" in error
        assert "pyd-dep" in error or "pyd_dep" in error  # the tail of uv's stderr
        # Failed once, for good: installing again would fail the same way.
        assert [t.rsplit(".", 1)[1] for t in events if ".create." in t] == ["started", "failed"]
    finally:
        env.close()


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ("install_arguments: 7", "plugins.iso.install_arguments", "a string or a list"),
        (
            "",
            "workflows.go.mapping",
            "installed in an environment of its own",
        ),
    ],
)
def test_blueprint_mistakes_with_installed_plugins_name_where(
    tmp_path: Path, extra: str, where: str, message: str
) -> None:
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(
        "plugins:\n  iso:\n    package: iso_pkg\n    install: true\n    source: iso_pkg==1.0\n"
        + (f"    {extra}\n" if extra else "")
        + "workflows:\n  go: iso.flows.go\n"
        + "node_templates:\n  a:\n    type: plugyard.nodes.Root\n"
    )
    with pytest.raises(BlueprintError) as refused:
        load_blueprint(blueprint)
    assert where in str(refused.value)
    assert message in str(refused.value)
