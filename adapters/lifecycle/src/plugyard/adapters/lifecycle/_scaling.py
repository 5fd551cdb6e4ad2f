"""What the ``scale`` and ``heal`` workflows change: instances added or removed with what
they contain, and the relationships of the instances that stay."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plugyard.sdk import did_you_mean

from ._model import Blueprint, NodeSpec
from ._plan import NodeInstance, _order

__all__ = ["ScalePlan", "plan_scale", "scale_target", "subgraph", "touching"]


@dataclass(slots=True)
class ScalePlan:
    """Instances a scale adds or removes, and the relationship changes it makes."""

    added: list[NodeInstance] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    relationships: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """The new relationship lists of instances that stay (stored with the change)."""
    links: dict[str, set[str]] = field(default_factory=dict)
    """Instances that stay -> the added or removed targets whose relationship operations
    run (establish on the way up, unlink on the way down)."""

    @property
    def changed(self) -> set[str]:
        """The instances whose own lifecycle runs (added or removed)."""
        return {i.id for i in self.added} | self.removed


def subgraph(instances: Mapping[str, NodeInstance], root: str) -> set[str]:
    """``root`` and every instance contained in it, however deep."""
    found = {root}
    grew = True
    while grew:
        grew = False
        for instance in instances.values():
            if instance.host_id in found and instance.id not in found:
                found.add(instance.id)
                grew = True
    return found


def touching(instances: Mapping[str, NodeInstance], chosen: set[str]) -> dict[str, set[str]]:
    """Instances outside ``chosen`` -> their relationship targets inside it."""
    links: dict[str, set[str]] = {}
    for instance in instances.values():
        if instance.id in chosen:
            continue
        targets = {
            rel["target_instance_id"]
            for rel in instance.relationships
            if rel["target_instance_id"] in chosen
        }
        if targets:
            links[instance.id] = targets
    return links


def scale_target(blueprint: Blueprint, name: str, scale_compute: bool) -> NodeSpec:
    """The node a ``scale`` of ``name`` changes; with ``scale_compute``, the nearest host
    of ``name`` that is a Compute node (as Cloudify does), if there is one."""
    node = blueprint.nodes.get(name)
    if node is None:
        raise ValueError(
            f"scale: no node {name!r} (nodes: {', '.join(blueprint.nodes)})"
            + did_you_mean(name, list(blueprint.nodes))
        )
    if scale_compute:
        current: NodeSpec | None = node
        while current is not None:
            if any(t.endswith("nodes.Compute") for t in current.type_hierarchy):
                return current
            current = blueprint.nodes[current.host] if current.host else None
    return node


def plan_scale(
    blueprint: Blueprint,
    instances: Mapping[str, NodeInstance],
    node: NodeSpec,
    delta: int,
    deployment_id: str,
) -> ScalePlan:
    """Add ``delta`` instances of ``node`` per instance of its host (with what they contain
    and their relationships), or remove ``-delta`` of them (the highest indexes first)."""
    by_node: dict[str, list[NodeInstance]] = defaultdict(list)
    for instance in instances.values():
        by_node[instance.node_id].append(instance)
    plan = ScalePlan()
    if delta > 0:
        _grow(blueprint, instances, by_node, node, delta, deployment_id, plan)
    elif delta < 0:
        have = sorted(by_node[node.id], key=lambda i: i.index, reverse=True)
        if -delta > len(have):
            raise ValueError(
                f"scale: node {node.id!r} has {len(have)} instance(s); cannot remove {-delta}"
            )
        for victim in have[:-delta]:
            plan.removed |= subgraph(instances, victim.id)
        plan.links = touching(instances, plan.removed)
        for source in plan.links:
            plan.relationships[source] = [
                rel
                for rel in instances[source].relationships
                if rel["target_instance_id"] not in plan.removed
            ]
    return plan


def _grow(
    blueprint: Blueprint,
    instances: Mapping[str, NodeInstance],
    by_node: dict[str, list[NodeInstance]],
    node: NodeSpec,
    delta: int,
    deployment_id: str,
    plan: ScalePlan,
) -> None:
    taken = set(instances)

    def new_id(node_id: str) -> str:
        while True:
            candidate = f"{node_id}_{secrets.token_hex(3)}"
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    new: dict[str, list[NodeInstance]] = defaultdict(list)

    def add(spec: NodeSpec, host: NodeInstance | None, count: int) -> None:
        index = max((i.index for i in by_node[spec.id] + new[spec.id]), default=-1) + 1
        for offset in range(count):
            instance = NodeInstance(
                new_id(spec.id),
                spec.id,
                deployment_id,
                index=index + offset,
                host_id=host.id if host else None,
            )
            new[spec.id].append(instance)

    hosts: list[NodeInstance | None] = list(by_node[node.host]) if node.host else [None]
    for host in hosts:
        add(node, host, delta)
    for spec in _order(blueprint.nodes):
        if spec.id != node.id and spec.host in new:
            for host in list(new[spec.host]):
                add(spec, host, spec.deploy)
    for spec_id, created in new.items():
        spec = blueprint.nodes[spec_id]
        for instance in created:
            for rel in spec.relationships:
                if rel.kind == "contained_in":
                    targets = [instance.host_id] if instance.host_id else []
                else:
                    targets = [t.id for t in by_node[rel.target] + new[rel.target]]
                instance.relationships.extend(
                    {"type": rel.type, "target_id": rel.target, "target_instance_id": target}
                    for target in targets
                )
        plan.added.extend(created)
    for instance in instances.values():
        spec = blueprint.nodes[instance.node_id]
        extra = [
            {"type": rel.type, "target_id": rel.target, "target_instance_id": target.id}
            for rel in spec.relationships
            if rel.kind != "contained_in"
            for target in new.get(rel.target, [])
        ]
        if extra:
            plan.relationships[instance.id] = [*instance.relationships, *extra]
            plan.links[instance.id] = {rel["target_instance_id"] for rel in extra}
