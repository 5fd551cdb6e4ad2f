"""The script plugin: ``create: scripts/create.sh`` and ``script_runner.tasks.run`` running
bash and Python scripts from the blueprint's folder, with the ``ctx`` command and ``process``
options, compared with cloudify-common's local workflows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.lifecycle import load_blueprint

pytest.importorskip("script_runner.tasks", reason="cloudify-common is not installed")

BLUEPRINT = Path(__file__).parent / "blueprints" / "scripts" / "blueprint.yaml"
Runner = Callable[..., Any]
WORKFLOWS = [
    ("install", {}),
    ("execute_operation", {"operation": "custom.ops.broken"}),
]


def test_scripts_give_what_cloudify_gives(run_cloudify: Runner, run_plugyard: Runner) -> None:
    theirs = run_cloudify(BLUEPRINT, WORKFLOWS, task_retries=0)
    ours = run_plugyard(BLUEPRINT, WORKFLOWS, task_retries=0)
    assert ours.failed == theirs.failed == [False, True]
    assert ours.runtime_properties == theirs.runtime_properties
    assert ours.runtime_properties["app"] == [
        {
            "port_seen": "8080",
            "nested": {"level": "deep"},
            "config_text": "listen = 8080",
            "greeting": "hello",
            "node_type": "cloudify.nodes.WebServer",
            "start_args": "one two",
            "start_colour": "blue",
            "start_cwd": "/",
        }
    ]
    assert ours.states == theirs.states


def test_a_failing_script_is_an_operation_error_with_its_stderr(tmp_path: Path) -> None:
    from plugyard.adapters.lifecycle.local import init_env
    from plugyard.sdk.lifecycle import WorkflowFailed

    env = init_env(BLUEPRINT, workdirs=tmp_path)
    try:
        env.execute("install", task_retries=0)
        with pytest.raises(WorkflowFailed) as failure:
            env.execute("execute_operation", {"operation": "custom.ops.broken"}, task_retries=0)
    finally:
        env.close()
    assert "exit_code: 3" in str(failure.value)
    assert "stderr: about to fail" in str(failure.value)


def test_the_shorthand_maps_to_the_script_runner() -> None:
    operations = load_blueprint(BLUEPRINT).nodes["app"].operations
    create = operations["lifecycle.create"]
    assert create.implementation == "script.script_runner.tasks.run"
    assert create.inputs == {"script_path": "scripts/create.sh"}
    assert operations["lifecycle.configure"].inputs == {
        "script_path": "scripts/configure.py",
        "greeting": {"get_input": "greeting"},
    }
