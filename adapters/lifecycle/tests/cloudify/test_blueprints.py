"""Blueprints as Cloudify users write them: the standard types imported by URL, plugin:NAME
imports, data types, intrinsic functions, contained_in and connected_to with source and
target operations, outputs and capabilities; and the imports plugyard refuses."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle import BlueprintError, load_blueprint

BLUEPRINTS = Path(__file__).parent / "blueprints"
APP = BLUEPRINTS / "app" / "blueprint.yaml"
Runner = Callable[..., Any]
TYPES_URL = "http://cloudify.co/spec/cloudify/6.4.0/types.yaml"


@pytest.mark.usefixtures("cloudify_plugins")
def test_app_blueprint_gives_what_cloudify_gives(
    run_cloudify: Runner, run_plugyard: Runner
) -> None:
    pytest.importorskip("cloudify.workflows.local", reason="cloudify-common is not installed")
    theirs = run_cloudify(APP, [("install", {})], task_retries=0)
    ours = run_plugyard(APP, [("install", {})], task_retries=0)
    assert ours.failed == [False]
    assert ours.runtime_properties == theirs.runtime_properties
    assert ours.states == theirs.states
    assert ours.states == {
        "cache": ["started", "started"],
        "db": ["started"],
        "host": ["started"],
        "server": ["started"],
    }
    assert ours.outputs == theirs.outputs
    assert (
        ours.capabilities
        == theirs.capabilities
        == {
            "server_name": "frontend",
            "greeting": "hi dev",
        }
    )
    (server,) = ours.runtime_properties["server"]
    assert server["host_ip"] == "10.0.0.5"
    assert server["link_inputs"] == {
        "source_name": "frontend",
        "source_tier": "web",
        "target_ip": "db://10.0.0.5:5432",
    }


@pytest.mark.usefixtures("cloudify_plugins")
def test_standard_types_come_with_their_hierarchy_and_defaults() -> None:
    blueprint = load_blueprint(APP)
    host = blueprint.nodes["host"]
    assert host.type_hierarchy == (
        "cloudify.nodes.Root",
        "cloudify.nodes.Compute",
        "app.nodes.Host",
    )
    assert host.properties["os_family"] == "linux"
    server = blueprint.nodes["server"]
    assert server.properties["endpoint"] == {
        "host": "127.0.0.1",
        "port": 8080,
        "tags": {"tier": "web"},
    }
    assert set(blueprint.workflows) >= {"install", "uninstall", "execute_operation", "scale"}
    assert blueprint.workflows["install"].builtin == "install"


def _write(folder: Path, text: str, name: str = "blueprint.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("../outside.yaml", "leaves the blueprint's folder"),
        ("/etc/hostname", "is an absolute path"),
        ("sub/../../outside.yaml", "leaves the blueprint's folder"),
        ("https://example.com/types.yaml", "only Cloudify's standard types.yaml"),
        ("plugin:no-such-plugin", "plugin 'no-such-plugin' not found"),
    ],
)
def test_imports_outside_the_blueprint_folder_are_refused(
    tmp_path: Path, item: str, expected: str
) -> None:
    (tmp_path / "outside.yaml").write_text("node_types: {}\n")
    path = _write(tmp_path / "bp", f"imports: [{item!r}]\n")
    with pytest.raises(BlueprintError) as error:
        load_blueprint(path)
    assert error.value.path == "imports[0]"
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_an_unknown_dsl_version_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "tosca_definitions_version: cloudify_dsl_1_9\n")
    with pytest.raises(BlueprintError, match="unsupported version 'cloudify_dsl_1_9'"):
        load_blueprint(path)


DATA_BLUEPRINT = f"""
    tosca_definitions_version: cloudify_dsl_1_3
    imports: [{TYPES_URL}]
    data_types:
      my.Port:
        properties:
          number: {{type: integer}}
          protocol: {{type: string, default: tcp}}
    inputs:
      size:
        type: string
        default: small
        constraints:
          - valid_values: [small, large]
    node_types:
      my.Node:
        derived_from: cloudify.nodes.Root
        properties:
          port: {{type: my.Port}}
    node_templates:
      n:
        type: my.Node
        properties:
          port: PORT
"""


def test_data_types_fill_defaults_and_name_what_is_missing(tmp_path: Path) -> None:
    ok = _write(tmp_path, DATA_BLUEPRINT.replace("PORT", "{number: 80}"))
    assert load_blueprint(ok).nodes["n"].properties["port"] == {"number": 80, "protocol": "tcp"}
    missing = _write(tmp_path, DATA_BLUEPRINT.replace("PORT", "{protocol: udp}"), "b2.yaml")
    with pytest.raises(BlueprintError) as error:
        load_blueprint(missing)
    assert error.value.path == "node_templates.n.properties.port.number"
    assert "required property of data type 'my.Port' is missing" in str(error.value)
    wrong = _write(tmp_path, DATA_BLUEPRINT.replace("PORT", "{number: eighty}"), "b3.yaml")
    with pytest.raises(BlueprintError, match="expected integer, got 'eighty'"):
        load_blueprint(wrong)


def test_input_constraints_are_checked(tmp_path: Path) -> None:
    path = _write(tmp_path, DATA_BLUEPRINT.replace("PORT", "{number: 80}"))
    assert load_blueprint(path, {"size": "large"}).inputs["size"] == "large"
    with pytest.raises(BlueprintError) as error:
        load_blueprint(path, {"size": "huge"})
    assert error.value.path == "inputs.size"
    assert "does not meet constraint valid_values" in str(error.value)


@pytest.mark.usefixtures("cloudify_plugins")
def test_plugin_import_reads_the_plugin_yaml_beside_the_blueprint() -> None:
    blueprint = load_blueprint(APP)
    plugin = blueprint.plugins["app"]
    assert (plugin.package_name, plugin.package_version) == ("cfy-app", "1.0")
    assert blueprint.nodes["server"].operations["lifecycle.configure"].implementation == (
        "app.cfy_app.ops.configure"
    )


@pytest.mark.usefixtures("cloudify_plugins")
def test_the_context_surface_matches_cloudify(run_cloudify: Runner, run_plugyard: Runner) -> None:
    pytest.importorskip("cloudify.workflows.local", reason="cloudify-common is not installed")
    blueprint = BLUEPRINTS / "surface" / "blueprint.yaml"
    theirs = run_cloudify(blueprint, [("install", {})], task_retries=0)
    ours = run_plugyard(blueprint, [("install", {})], task_retries=0)
    assert ours.failed == theirs.failed == [False]
    assert ours.runtime_properties == theirs.runtime_properties
    (greeter,) = ours.runtime_properties["greeter"]
    assert greeter["set_property_error"] == "NonRecoverableError"
    assert greeter["described"]["rendered"] == "hello world from greeter in local"
