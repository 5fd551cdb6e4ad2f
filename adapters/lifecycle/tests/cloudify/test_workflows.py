"""Custom workflows (a blueprint's ``workflows:`` section and ``@workflow`` functions written
against cloudify-common), compared with cloudify-common's local workflows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cloudify.workflows.local", reason="cloudify-common is not installed")

BLUEPRINT = Path(__file__).parent / "blueprints" / "workflows.yaml"
Runner = Callable[..., Any]
WORKFLOWS = [
    ("install", {}),
    ("touch", {"label": "graph"}),
    ("one_by_one", {}),
    ("fail_in_graph", {}),
    ("restart", {"run_by_dependency_order": True}),
]


@pytest.mark.usefixtures("cloudify_plugins")
def test_custom_workflows_give_what_cloudify_gives(
    run_cloudify: Runner, run_plugyard: Runner
) -> None:
    theirs = run_cloudify(BLUEPRINT, WORKFLOWS, task_retries=0)
    ours = run_plugyard(BLUEPRINT, WORKFLOWS, task_retries=0)
    assert ours.failed == theirs.failed == [False, False, False, True, False]
    assert ours.runtime_properties == theirs.runtime_properties
    assert ours.runtime_properties["second"] == [
        {"labels": ["start", "graph", "second", "stop", "start"], "workflow": "restart"}
    ]
    assert ours.states == theirs.states


@pytest.mark.usefixtures("cloudify_plugins")
def test_workflow_parameters_are_checked_and_events_recorded(tmp_path: Path) -> None:
    from plugyard.adapters.lifecycle.local import init_env

    env = init_env(BLUEPRINT, workdirs=tmp_path)
    events: list[tuple[str, dict[str, Any]]] = []
    env.subscribe(lambda topic, data: events.append((topic, data)))
    try:
        with pytest.raises(ValueError, match="parameter 'label' is required"):
            env.execute("touch")
        with pytest.raises(ValueError, match="unknown parameter 'lable'"):
            env.execute("touch", {"lable": "x"})
        result = env.execute("touch", {"label": "x"}, task_retries=0)
        ids = [i.id for i in env.storage.get_node_instances()]
    finally:
        env.close()
    assert result["status"] == "succeeded"
    assert result["succeeded"] == 2
    messages = [d["message"] for t, d in events if t.endswith(".touch.event")]
    assert sorted(messages) == sorted([f"touching {i}" for i in ids] + ["touched", "touched"])
