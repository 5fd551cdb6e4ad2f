"""Reading blueprints: what a valid one becomes, and how each kind of mistake is reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plugyard.adapters.lifecycle import BlueprintError, load_blueprint

BLUEPRINTS = Path(__file__).parent / "blueprints"

Write = Callable[..., Path]


def test_a_valid_blueprint_resolves_types_inputs_and_references() -> None:
    bp = load_blueprint(BLUEPRINTS / "app.yaml", {"port": 9000})
    app = bp.nodes["app"]
    assert app.properties == {"port": 9000, "name": 5432}
    assert app.deploy == 2
    assert app.type_hierarchy == ("plugyard.nodes.Root", "test.Base", "test.Server")
    assert app.operations["lifecycle.create"].implementation == "test.ops.record"
    assert app.operations["lifecycle.configure"].inputs["fixed"] == 7
    assert app.host == "host"
    connected = app.relationships[1]
    assert connected.kind == "connected_to"
    assert set(connected.source_operations) == {
        "relationship_lifecycle.preconfigure",
        "relationship_lifecycle.establish",
        "relationship_lifecycle.unlink",
    }
    assert bp.nodes["host"].operations["lifecycle.create"].implementation == "test.ops.set_ip"
    assert bp.outputs["app_port"] == 9000
    assert bp.outputs["host_ip"] == {"get_attribute": ["host", "ip"]}


def test_long_form_operation_options(write_blueprint: Write) -> None:
    path = write_blueprint(
        """
        node_templates:
          web:
            type: plugyard.nodes.Root
            interfaces:
              cloudify.interfaces.lifecycle:
                start:
                  implementation: test.ops.record
                  inputs: {a: 1}
                  max_retries: 2
                  retry_interval: 0.5
                  timeout: 3
        """
    )
    op = load_blueprint(path).nodes["web"].operations["lifecycle.start"]
    assert (op.max_retries, op.retry_interval, op.timeout, op.inputs) == (2, 0.5, 3.0, {"a": 1})


def test_imports_merge_plugin_yaml(write_blueprint: Write, tmp_path: Path) -> None:
    write_blueprint(
        """
        node_types:
          test.Thing:
            derived_from: cloudify.nodes.Root
            interfaces:
              lifecycle:
                create: test.ops.record
        """,
        name="plugin.yaml",
    )
    (tmp_path / "main.yaml").write_text(
        "imports: [plugin.yaml]\nnode_templates:\n  thing:\n    type: test.Thing\n"
    )
    bp = load_blueprint(tmp_path / "main.yaml")
    assert "lifecycle.create" in bp.nodes["thing"].operations


MALFORMED = [
    ("node_templatez: {}\n", "node_templatez", "did you mean 'node_templates'?"),
    (
        "node_templates:\n  web:\n    type: web.Srver\nnode_types:\n  web.Server: {}\n",
        "node_templates.web.type",
        "unknown node type 'web.Srver'; did you mean 'web.Server'?",
    ),
    (
        "node_templates:\n  web:\n    properties: {}\n",
        "node_templates.web",
        "'type' is required",
    ),
    (
        "node_types:\n  a: {derived_from: b}\n  b: {derived_from: a}\n",
        "node_types.b.derived_from",
        "derived_from forms a cycle: a -> b -> a",
    ),
    (
        "node_types:\n  t:\n    properties:\n      port: {type: integer}\n"
        "node_templates:\n  web: {type: t}\n",
        "node_templates.web.properties.port",
        "required property of type 't' is missing",
    ),
    (
        "node_types:\n  t:\n    properties:\n      port: {type: integer}\n"
        "node_templates:\n  web: {type: t, properties: {port: eighty}}\n",
        "node_templates.web.properties.port",
        "expected integer, got 'eighty'",
    ),
    (
        "node_types:\n  t:\n    properties:\n      port: {default: 1}\n"
        "node_templates:\n  web: {type: t, properties: {prot: 2}}\n",
        "node_templates.web.properties.prot",
        "did you mean 'port'?",
    ),
    (
        "inputs:\n  port: {type: integer}\nnode_templates: {}\n",
        "inputs.port",
        "required input is missing",
    ),
    (
        "inputs:\n  port: {default: 1}\nnode_types:\n  t:\n    properties:\n      p: {}\n"
        "node_templates:\n  web: {type: t, properties: {p: {get_input: prot}}}\n",
        "node_templates.web.properties.p",
        "unknown input 'prot'",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    interfaces:\n"
        "      lifecycle:\n        start: test.ops.recrod\n",
        "node_templates.web.interfaces.lifecycle.start",
        "operation 'test.ops.recrod' not found; did you mean 'test.ops.record'?",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    interfaces:\n"
        "      lifecycle:\n        start: test.opz.record\n",
        "node_templates.web.interfaces.lifecycle.start",
        "no module 'lc_testplugin.opz'; did you mean 'test.ops.record'?",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    interfaces:\n"
        "      lifecycle:\n        start: tset.ops.record\n",
        "node_templates.web.interfaces.lifecycle.start",
        "plugin 'tset' is not declared under 'plugins'",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    interfaces:\n"
        "      lifecycle:\n        strat: test.ops.record\n",
        "node_templates.web.interfaces.lifecycle.strat",
        "did you mean 'start'?",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    interfaces:\n"
        "      lifecycle:\n        start: {implementation: test.ops.record, max_retries: -5}\n",
        "node_templates.web.interfaces.lifecycle.start.max_retries",
        "expected a whole number >= -1",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    relationships:\n"
        "      - {type: contained_in, target: hots}\n  host: {type: plugyard.nodes.Root}\n",
        "node_templates.web.relationships[0].target",
        "unknown node template 'hots'; did you mean 'host'?",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    relationships:\n"
        "      - {type: contained_inn, target: host}\n  host: {type: plugyard.nodes.Root}\n",
        "node_templates.web.relationships[0].type",
        "did you mean 'contained_in'?",
    ),
    (
        "node_templates:\n  a:\n    type: plugyard.nodes.Root\n    relationships:\n"
        "      - {target: b}\n  b:\n    type: plugyard.nodes.Root\n    relationships:\n"
        "      - {target: a}\n",
        "node_templates.a.relationships",
        "relationships form a cycle: a -> b -> a",
    ),
    (
        "node_templates:\n  web:\n    type: plugyard.nodes.Root\n    instances: {deploy: -1}\n",
        "node_templates.web.instances.deploy",
        "expected a whole number >= 0",
    ),
    (
        "node_templates: {}\noutputs:\n  ip: {value: {get_attribute: [wbe, ip]}}\n",
        "outputs.ip.value",
        "unknown node template 'wbe'",
    ),
    (
        "node_templates: {}\noutputs:\n  ip: {valeu: 1}\n",
        "outputs.ip.valeu",
        "did you mean 'value'?",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), MALFORMED)
def test_malformed_blueprints_name_the_yaml_path(
    write_blueprint: Write, text: str, path: str, message: str
) -> None:
    file = write_blueprint(text)
    with pytest.raises(BlueprintError) as info:
        load_blueprint(file)
    assert info.value.path == path
    assert message in info.value.message
    assert str(file) in str(info.value)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("node_templates: [unclosed", "line 1, column 26", "not valid YAML"),
        ("- a\n- b\n", "", "expected a mapping at the top, got a list"),
    ],
)
def test_files_that_are_not_a_yaml_mapping(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(BlueprintError) as info:
        load_blueprint(file)
    assert info.value.path == where
    assert message in info.value.message


def test_unknown_given_input_is_refused(write_blueprint: Write) -> None:
    file = write_blueprint("inputs:\n  port: {default: 1}\nnode_templates: {}\n")
    with pytest.raises(BlueprintError, match=r"inputs\.prot: unknown input given.*'port'"):
        load_blueprint(file, {"prot": 2})


def test_input_of_the_wrong_type_is_refused(write_blueprint: Write) -> None:
    file = write_blueprint("inputs:\n  port: {type: integer}\nnode_templates: {}\n")
    with pytest.raises(BlueprintError, match="expected integer"):
        load_blueprint(file, {"port": "80"})


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BlueprintError, match="cannot read blueprint"):
        load_blueprint(tmp_path / "nope.yaml")
