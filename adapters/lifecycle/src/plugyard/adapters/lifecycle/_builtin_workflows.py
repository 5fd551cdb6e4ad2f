"""Built-in workflows written as workflow functions: ``start``, ``stop`` and ``restart`` run
one lifecycle operation on the chosen instances (all at once, or in relationship order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._workflow_context import WorkflowContext, WorkflowNodeInstance, WorkflowTask

__all__ = ["FUNCTIONS", "restart", "start", "stop"]

_SELECTION = ("run_by_dependency_order", "type_names", "node_ids", "node_instance_ids")


def _chosen(
    ctx: WorkflowContext,
    type_names: list[str] | None,
    node_ids: list[str] | None,
    node_instance_ids: list[str] | None,
) -> list[WorkflowNodeInstance]:
    chosen = []
    for instance in ctx.node_instances:
        if node_ids and instance.node_id not in node_ids:
            continue
        if node_instance_ids and instance.id not in node_instance_ids:
            continue
        if type_names and not set(type_names) & set(instance.node.type_hierarchy):
            continue
        chosen.append(instance)
    return chosen


def _run_operation(
    ctx: WorkflowContext,
    operation: str,
    kwargs: dict[str, Any] | None,
    run_by_dependency_order: bool | None = False,
    type_names: list[str] | None = None,
    node_ids: list[str] | None = None,
    node_instance_ids: list[str] | None = None,
) -> None:
    graph = ctx.graph_mode()
    tasks: dict[str, WorkflowTask] = {}
    for instance in _chosen(ctx, type_names, node_ids, node_instance_ids):
        if not instance.node.has_operation(operation):
            continue
        sequence = graph.sequence()
        first = instance.send_event(f"Starting operation {operation}")
        sequence.add(
            first,
            instance.execute_operation(operation, kwargs=kwargs or {}),
            instance.send_event(f"Finished operation {operation}"),
        )
        tasks[instance.id] = first
    if run_by_dependency_order:
        for instance in ctx.node_instances:
            for rel in instance.relationships:
                source, target = tasks.get(instance.id), tasks.get(rel["target_instance_id"])
                if source is not None and target is not None:
                    graph.add_dependency(source, target)
    graph.execute()


def start(
    ctx: WorkflowContext, operation_parms: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Run ``lifecycle.start`` on the chosen instances."""
    selection: dict[str, Any] = {k: kwargs.get(k) for k in _SELECTION}
    _run_operation(ctx, "cloudify.interfaces.lifecycle.start", operation_parms, **selection)


def stop(
    ctx: WorkflowContext, operation_parms: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Run ``lifecycle.stop`` on the chosen instances."""
    selection: dict[str, Any] = {k: kwargs.get(k) for k in _SELECTION}
    _run_operation(ctx, "cloudify.interfaces.lifecycle.stop", operation_parms, **selection)


def restart(
    ctx: WorkflowContext,
    stop_parms: dict[str, Any] | None = None,
    start_parms: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """``stop`` then ``start`` on the chosen instances."""
    stop(ctx, stop_parms, **kwargs)
    start(ctx, start_parms, **kwargs)


FUNCTIONS: dict[str, Callable[..., None]] = {"start": start, "stop": stop, "restart": restart}
"""Built-in workflows that run as workflow functions."""
