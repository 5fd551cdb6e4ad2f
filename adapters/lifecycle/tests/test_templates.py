"""Templates see data, not actions, and cannot build huge values.

A hostile resource template (the blueprint's author is not trusted with the host) tries to
write a file through ``ctx``, change stored state, read the host's paths, or allocate
gigabytes; each attempt fails the operation with a clear error and changes nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle import init_env
from plugyard.sdk.lifecycle import NonRecoverableError, WorkflowFailed, render_template
from plugyard.sdk.lifecycle.testing import MockContext

BLUEPRINT = """
node_types:
  t:
    properties:
      port: {default: 81}
node_templates:
  web:
    type: t
    interfaces:
      lifecycle:
        create: test.ops.render
"""


def _install_with_template(
    write_blueprint: Callable[[str], Path], tmp_path: Path, template: str
) -> tuple[Any, WorkflowFailed | None]:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "conf.txt").write_text(template)
    env = init_env(write_blueprint(BLUEPRINT), name="dep-t")
    try:
        env.execute("install", task_retries=0)
    except WorkflowFailed as exc:
        return env, exc
    return env, None


def test_a_template_reads_the_context_data(
    calls: Any, write_blueprint: Callable[[str], Path], tmp_path: Path
) -> None:
    template = (
        "{{ ctx.deployment.id }} {{ ctx.node.id }} {{ ctx.node.properties.port }} "
        "{{ ctx.operation.name }} {{ ctx.instance.id == ctx.instance['id'] }} {{ hello }}"
    )
    env, failed = _install_with_template(write_blueprint, tmp_path, template)
    assert failed is None
    (web,) = env.storage.get_node_instances()
    assert web.runtime_properties["rendered"] == ("dep-t web 81 create True world")
    env.close()


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ ctx.download_resource('templates/conf.txt', '/tmp/x') }}", "download_resource"),
        ("{{ ctx.instance.runtime_properties.update({'owned': 1}) }}", "unsafe"),
        ("{{ ctx.instance.runtime_properties.__setitem__('owned', 1) }}", "unsafe"),
    ],
)
def test_a_template_cannot_act_through_ctx(
    calls: Any,
    write_blueprint: Callable[[str], Path],
    tmp_path: Path,
    template: str,
    message: str,
) -> None:
    env, failed = _install_with_template(write_blueprint, tmp_path, template)
    assert failed is not None, "the hostile template rendered"
    assert "rendering 'templates/conf.txt'" in str(failed) and message in str(failed)
    (web,) = env.storage.get_node_instances()
    assert "owned" not in web.runtime_properties
    env.close()


def test_a_template_does_not_see_the_hosts_prefix_or_workdir() -> None:
    mock = MockContext(node_id="n", plugin_name="web", resources={"t": "{{ ctx.plugin }}"})
    shown = mock.get_resource_and_render("t")
    assert sys.prefix not in shown and "'name': 'web'" in shown
    for attribute in ("prefix", "workdir"):
        mock = MockContext(node_id="n", resources={"t": f"[{{{{ ctx.plugin.{attribute} }}}}]"})
        assert mock.get_resource_and_render("t") == "[]"


def test_a_download_through_the_template_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "written"
    mock = MockContext(
        node_id="n",
        resources={"t": f"{{{{ ctx.download_resource('t', '{target}') }}}}", "x": "x"},
    )
    with pytest.raises(NonRecoverableError, match="rendering 't'"):
        mock.get_resource_and_render("t")
    assert not target.exists()


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'A' * 4000000000 }}",
        "{{ 4000000000 * 'A' }}",
        "{{ ['A'] * 4000000000 }}",
        "{{ 10 ** 100000000 }}",
        "{{ '%4000000000s' % 'x' }}",
        "{{ '%4000000000d'|format(1) }}",
        "{{ 'x'|center(4000000000) }}",
        "{{ 'x'|indent(4000000000, true) }}",
        "{{ '{:4000000000}'.format(1) }}",
    ],
)
def test_a_huge_literal_is_refused_before_it_is_built(template: str) -> None:
    mock = MockContext(node_id="n", resources={"t": template})
    started = time.monotonic()
    with pytest.raises(NonRecoverableError, match="rendering 't'"):
        mock.get_resource_and_render("t")
    assert time.monotonic() - started < 5, "the value was built before being refused"


def test_the_output_size_is_bounded() -> None:
    text = "{% for i in range(100) %}{{ 'A' * 1000 }}{% endfor %}"
    assert len(render_template(text, None, None, "t", max_size=100_000)) == 100_000
    with pytest.raises(NonRecoverableError, match=r"output passes 99999 characters"):
        render_template(text, None, None, "t", max_size=99_999)
    with pytest.raises(NonRecoverableError, match="max_template_size"):
        render_template("{{ 'A' * 2000 }}", None, None, "t", max_size=1024)


def test_the_host_setting_bounds_operations_templates(
    calls: Any, write_blueprint: Callable[[str], Path], tmp_path: Path
) -> None:
    from plugyard.adapters.lifecycle._settings import set_template_limit

    set_template_limit(1024)
    try:
        env, failed = _install_with_template(write_blueprint, tmp_path, "{{ 'A' * 2000 }}")
    finally:
        set_template_limit(16 * 1024 * 1024)
    assert failed is not None and "max_template_size" in str(failed)
    env.close()
