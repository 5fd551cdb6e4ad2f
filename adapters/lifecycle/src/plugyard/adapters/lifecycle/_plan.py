"""The deployment plan: node instances made from node templates, and their relationships."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from ._model import Blueprint, NodeSpec

__all__ = ["DEFAULT_MAX_INSTANCES", "NodeInstance", "plan_instances", "set_max_instances"]

DEFAULT_MAX_INSTANCES = 10_000
"""Node instances one deployment may have, all nodes together."""
_max_instances = [DEFAULT_MAX_INSTANCES]


def set_max_instances(count: int) -> None:
    """The limit on a deployment's node instances (a host sets it from ``[lifecycle]``)."""
    _max_instances[0] = count


def max_instances() -> int:
    """The limit on a deployment's node instances now in force."""
    return _max_instances[0]


@dataclass(slots=True)
class NodeInstance:
    """One node instance as stored: its node, host, relationships, state and properties."""

    id: str
    node_id: str
    deployment_id: str
    index: int = 0
    host_id: str | None = None
    relationships: list[dict[str, Any]] = field(default_factory=list)
    state: str = "uninitialized"
    runtime_properties: dict[str, Any] = field(default_factory=dict)
    version: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The instance as plain data."""
        return {
            "id": self.id,
            "node_id": self.node_id,
            "deployment_id": self.deployment_id,
            "index": self.index,
            "host_id": self.host_id,
            "relationships": list(self.relationships),
            "state": self.state,
            "runtime_properties": dict(self.runtime_properties),
            "version": self.version,
        }


def _order(nodes: dict[str, NodeSpec]) -> list[NodeSpec]:
    """Nodes with every relationship target before its source."""
    ordered: list[NodeSpec] = []
    seen: set[str] = set()

    def visit(node: NodeSpec) -> None:
        if node.id in seen:
            return
        seen.add(node.id)
        for rel in node.relationships:
            visit(nodes[rel.target])
        ordered.append(node)

    for node in nodes.values():
        visit(node)
    return ordered


def plan_instances(blueprint: Blueprint, deployment_id: str) -> list[NodeInstance]:
    """Node instances for a new deployment.

    A node ``contained_in`` another gets ``deploy`` instances inside each instance of its
    host; other relationships connect each source instance to every target instance.
    """
    taken: set[str] = set()
    by_node: dict[str, list[NodeInstance]] = {}

    def new_id(node_id: str) -> str:
        while True:
            candidate = f"{node_id}_{secrets.token_hex(3)}"
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    limit = max_instances()
    total = 0
    for node in _order(blueprint.nodes):
        hosts: list[NodeInstance | None] = list(by_node[node.host]) if node.host else [None]
        total += len(hosts) * node.deploy
        if total > limit:
            from ._errors import BlueprintError

            raise BlueprintError(
                str(blueprint.path),
                f"node_templates.{node.id}.instances",
                f"the deployment would have {total} node instances or more, over the limit "
                f"of {limit} ([lifecycle] max_instances)",
            )
        created: list[NodeInstance] = []
        for host in hosts:
            for _ in range(node.deploy):
                created.append(
                    NodeInstance(
                        new_id(node.id),
                        node.id,
                        deployment_id,
                        index=len(created),
                        host_id=host.id if host else None,
                    )
                )
        for instance in created:
            for rel in node.relationships:
                if rel.kind == "contained_in":
                    targets = [instance.host_id] if instance.host_id else []
                else:
                    targets = [t.id for t in by_node[rel.target]]
                for target_id in targets:
                    instance.relationships.append(
                        {"type": rel.type, "target_id": rel.target, "target_instance_id": target_id}
                    )
        by_node[node.id] = created
    return [instance for node in blueprint.nodes for instance in by_node[node]]
