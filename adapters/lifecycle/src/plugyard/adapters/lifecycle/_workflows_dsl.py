"""A blueprint's ``workflows:`` section: each name mapped to a built-in workflow (Cloudify's
``default_workflows.cloudify.plugins.workflows.*`` names included) or to a workflow function
in a declared plugin, with typed parameters and their defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._datatypes import PROPERTY_KEYS
from ._imports import MappingError, did_you_mean, resolve_operation
from ._model import WorkflowSpec

if TYPE_CHECKING:
    from ._blueprint import _Parser

__all__ = ["BUILTIN_MAPPINGS", "parse_workflows"]

_CLOUDIFY_WORKFLOWS = "default_workflows.cloudify.plugins.workflows."
BUILTIN_MAPPINGS = {
    f"{_CLOUDIFY_WORKFLOWS}install": "install",
    f"{_CLOUDIFY_WORKFLOWS}uninstall": "uninstall",
    f"{_CLOUDIFY_WORKFLOWS}execute_operation": "execute_operation",
    f"{_CLOUDIFY_WORKFLOWS}scale_entity": "scale",
    f"{_CLOUDIFY_WORKFLOWS}scale": "scale",
    f"{_CLOUDIFY_WORKFLOWS}auto_heal_reinstall_node_subgraph": "heal",
    f"{_CLOUDIFY_WORKFLOWS}restart": "restart",
    f"{_CLOUDIFY_WORKFLOWS}start": "start",
    f"{_CLOUDIFY_WORKFLOWS}stop": "stop",
    f"{_CLOUDIFY_WORKFLOWS}reinstall": "reinstall",
}
"""Workflow mappings that name one of plugyard's built-in workflows."""


def parse_workflows(decls: dict[str, Any], parser: _Parser) -> dict[str, WorkflowSpec]:
    """Validate the ``workflows`` section; custom workflow functions are imported now."""
    workflows: dict[str, WorkflowSpec] = {}
    for name, decl in decls.items():
        path = f"workflows.{name}"
        if isinstance(decl, str):
            decl = {"mapping": decl}
        decl = parser.mapping(decl, path, "a mapping string or a mapping with 'mapping'")
        parser.check_keys(
            decl, ("mapping", "parameters", "is_cascading", "availability_rules"), path
        )
        mapping = decl.get("mapping")
        if not isinstance(mapping, str) or not mapping:
            parser.fail(f"{path}.mapping", "expected plugin_name.module.function")
        parameters = parser.mapping(decl.get("parameters"), f"{path}.parameters")
        for pname, pdecl in parameters.items():
            ppath = f"{path}.parameters.{pname}"
            pdecl = parser.mapping(pdecl, ppath)
            parser.check_keys(pdecl, PROPERTY_KEYS, ppath)
            if pdecl.get("type") is not None:
                parser.datatypes.check_kind(pdecl["type"], f"{ppath}.type")
            if "default" in pdecl:
                parser.datatypes.check(pdecl.get("type"), pdecl["default"], f"{ppath}.default")
        builtin = BUILTIN_MAPPINGS.get(mapping)
        plugin = None
        function = None
        if builtin is None:
            try:
                plugin, function = resolve_operation(mapping, parser.plugins)
            except MappingError as exc:
                parser.fail(f"{path}.mapping", str(exc) + did_you_mean(mapping, BUILTIN_MAPPINGS))
        workflows[str(name)] = WorkflowSpec(
            name=str(name),
            mapping=mapping,
            parameters={str(k): dict(v or {}) for k, v in parameters.items()},
            builtin=builtin,
            plugin=plugin,
            function=function,
            where=path,
        )
    return workflows
