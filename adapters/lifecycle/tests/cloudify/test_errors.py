"""Cloudify's exceptions keep their meaning: RecoverableError and ctx.operation.retry()
retry after ``retry_after``, NonRecoverableError is never retried. Compared with
cloudify-common's own local workflows on the same plugin and blueprint."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cloudify.workflows.local", reason="cloudify-common is not installed")

BLUEPRINT = Path(__file__).parent / "blueprints" / "errors.yaml"
Runner = Callable[..., Any]
WORKFLOWS = [
    ("install", {}),
    ("execute_operation", {"operation": "test.ops.fail_hard", "node_ids": ["broken"]}),
]


@pytest.mark.usefixtures("cloudify_plugins")
def test_retries_and_failures_match_cloudify(run_cloudify: Runner, run_plugyard: Runner) -> None:
    # A 30 s retry interval: only retry_after (0.05 s) lets the install end quickly.
    options = {"task_retries": 5, "task_retry_interval": 30}
    theirs = run_cloudify(BLUEPRINT, WORKFLOWS, **options)
    started = time.monotonic()
    ours = run_plugyard(BLUEPRINT, WORKFLOWS, **options)
    assert time.monotonic() - started < 20
    assert ours.failed == theirs.failed == [False, True]
    assert ours.runtime_properties == theirs.runtime_properties
    assert ours.runtime_properties["broken"] == [{"attempts": 1, "retry_numbers": [0]}]
    assert ours.runtime_properties["flaky"][0]["retry_numbers"] == [0, 1, 2]
    assert ours.states == theirs.states
    assert ours.outputs == theirs.outputs == {"flaky_attempts": 3, "patient_done": True}


@pytest.mark.usefixtures("cloudify_plugins")
def test_non_recoverable_error_fails_the_workflow_with_its_message(tmp_path: Path) -> None:
    from plugyard.adapters.lifecycle.local import init_env
    from plugyard.sdk.lifecycle import WorkflowFailed

    env = init_env(BLUEPRINT, workdirs=tmp_path)
    try:
        env.execute("install", task_retries=5, task_retry_interval=0)
        with pytest.raises(WorkflowFailed) as failure:
            env.execute(
                "execute_operation",
                {"operation": "test.ops.fail_hard", "node_ids": ["broken"]},
                task_retries=5,
                task_retry_interval=0,
            )
    finally:
        env.close()
    assert failure.value.error_type == "NonRecoverableError"
    assert "cannot continue" in str(failure.value)
    assert "cfy_errors/ops.py" in failure.value.causes[0]["traceback"]


@pytest.mark.usefixtures("cloudify_plugins")
def test_a_resumed_execution_says_so_to_cloudify_plugins(tmp_path: Path) -> None:
    from plugyard.adapters.lifecycle.local import init_env
    from plugyard.sdk.lifecycle import WorkflowFailed

    env = init_env(BLUEPRINT, workdirs=tmp_path)
    parameters = {"operation": "test.ops.fail_unless_resumed", "node_ids": ["broken"]}
    try:
        with pytest.raises(WorkflowFailed) as failure:
            env.execute("execute_operation", parameters, task_retries=0)
        result = env.resume(failure.value.execution_id or "")
        (broken,) = env.storage.get_node_instances(node_id="broken")
    finally:
        env.close()
    assert result["status"] == "succeeded"
    assert broken.runtime_properties["seen_resume"] == [False, True]
