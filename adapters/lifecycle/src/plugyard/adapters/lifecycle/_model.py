"""The parsed blueprint: plugins, nodes with their operations and relationships, outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "INSTALL_STEPS",
    "LIFECYCLE",
    "LIFECYCLE_OPERATIONS",
    "RELATIONSHIP_LIFECYCLE",
    "RELATIONSHIP_OPERATIONS",
    "UNINSTALL_STEPS",
    "Blueprint",
    "NodeSpec",
    "OperationSpec",
    "PluginDecl",
    "RelationshipSpec",
    "WorkflowSpec",
]

LIFECYCLE = "lifecycle"
RELATIONSHIP_LIFECYCLE = "relationship_lifecycle"
INTERFACE_ALIASES = {
    "cloudify.interfaces.lifecycle": LIFECYCLE,
    "plugyard.interfaces.lifecycle": LIFECYCLE,
    "cloudify.interfaces.relationship_lifecycle": RELATIONSHIP_LIFECYCLE,
    "plugyard.interfaces.relationship_lifecycle": RELATIONSHIP_LIFECYCLE,
}
LIFECYCLE_OPERATIONS = (
    "precreate",
    "create",
    "configure",
    "start",
    "poststart",
    "prestop",
    "stop",
    "delete",
    "postdelete",
)
RELATIONSHIP_OPERATIONS = ("preconfigure", "postconfigure", "establish", "unlink")

# A workflow step is a node operation (name) or a relationship operation ("rel:<name>"),
# with the node instance state set once it is done.
INSTALL_STEPS: tuple[tuple[str, str | None], ...] = (
    ("precreate", None),
    ("create", "created"),
    ("rel:preconfigure", None),
    ("configure", "configured"),
    ("rel:postconfigure", None),
    ("start", None),
    ("poststart", None),
    ("rel:establish", "started"),
)
UNINSTALL_STEPS: tuple[tuple[str, str | None], ...] = (
    ("prestop", None),
    ("stop", "stopped"),
    ("rel:unlink", None),
    ("delete", None),
    ("postdelete", "deleted"),
)


@dataclass(frozen=True, slots=True)
class PluginDecl:
    """One entry of the blueprint's ``plugins``: the Python package behind a plugin name."""

    name: str
    package: str
    package_name: str | None = None
    package_version: str | None = None
    source: Path | None = None
    install: bool = False
    """Install ``requirement`` into a virtual environment of the plugin's own."""
    requirement: str | None = None
    """What ``uv pip install`` installs: a folder or wheel (absolute) or a requirement."""
    install_arguments: tuple[str, ...] = ()

    @property
    def isolated(self) -> bool:
        """Whether the plugin runs in a virtual environment of its own."""
        return self.install and self.requirement is not None


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One mapped operation: the function to call and how to retry it."""

    name: str
    implementation: str
    plugin: str
    function: Callable[..., Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    max_retries: int | None = None
    retry_interval: float | None = None
    timeout: float | None = None
    timeout_recoverable: bool = False
    where: str = ""


@dataclass(frozen=True, slots=True)
class RelationshipSpec:
    """A relationship from a node template to ``target``, with its operations on each end."""

    type: str
    kind: str
    target: str
    type_hierarchy: tuple[str, ...]
    source_operations: dict[str, OperationSpec] = field(default_factory=dict)
    target_operations: dict[str, OperationSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node template with its type's defaults applied."""

    id: str
    type: str
    type_hierarchy: tuple[str, ...]
    properties: dict[str, Any]
    operations: dict[str, OperationSpec]
    relationships: tuple[RelationshipSpec, ...]
    deploy: int = 1

    @property
    def host(self) -> str | None:
        """The node this one is ``contained_in``, if any."""
        for rel in self.relationships:
            if rel.kind == "contained_in":
                return rel.target
        return None

    def find_operation(self, name: str) -> OperationSpec | None:
        """An operation by full name (``lifecycle.start``) or unique short name (``start``)."""
        interface, _, op = name.rpartition(".")
        full = f"{INTERFACE_ALIASES.get(interface, interface)}.{op}" if interface else name
        if full in self.operations:
            return self.operations[full]
        matches = [spec for key, spec in self.operations.items() if key.rsplit(".", 1)[1] == name]
        return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """One entry of the blueprint's ``workflows``: a built-in workflow or a function."""

    name: str
    mapping: str
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    builtin: str | None = None
    plugin: str | None = None
    function: Callable[..., Any] | None = None
    where: str = ""


@dataclass(frozen=True, slots=True)
class Blueprint:
    """A validated blueprint: where it lives, its inputs' values, nodes, plugins and outputs."""

    id: str
    path: Path
    inputs: dict[str, Any]
    plugins: dict[str, PluginDecl]
    nodes: dict[str, NodeSpec]
    outputs: dict[str, Any]
    description: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    workflows: dict[str, WorkflowSpec] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The folder resources are read from."""
        return self.path.parent
