"""A blueprint's ``workflows:`` section: each name mapped to a built-in workflow (Cloudify's
``default_workflows.cloudify.plugins.workflows.*`` names included) or to a workflow function
in a declared plugin, with typed parameters and their defaults."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._datatypes import PROPERTY_KEYS
from ._imports import IsolatedFunction, MappingError, did_you_mean, resolve_operation
from ._model import WorkflowSpec

if TYPE_CHECKING:
    from ._blueprint import _Parser

__all__ = ["BUILTIN_MAPPINGS", "SUPPORTED_BUILTINS", "check_workflow_parameters", "parse_workflows"]

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
SUPPORTED_BUILTINS = (
    "install",
    "uninstall",
    "execute_operation",
    "start",
    "stop",
    "restart",
    "scale",
    "heal",
)
"""The built-in workflows plugyard runs today."""
_CONVERTERS: dict[str, Any] = {
    "integer": int,
    "float": float,
    "boolean": lambda v: {"true": True, "false": False}[v.strip().lower()],
}


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
            if isinstance(function, IsolatedFunction):
                parser.fail(
                    f"{path}.mapping",
                    f"workflow {mapping!r}: plugin {plugin!r} is installed in an environment of "
                    "its own ('install: true'), where only its operations can run",
                )
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


def check_workflow_parameters(
    spec: WorkflowSpec, given: Mapping[str, Any], allow_custom: bool
) -> dict[str, Any]:
    """The parameters to run ``spec`` with: declared defaults, then ``given`` (strings of
    declared integer, float and boolean parameters converted); ValueError names what is
    wrong."""
    if spec.builtin is not None and spec.builtin not in SUPPORTED_BUILTINS:
        raise ValueError(
            f"workflow {spec.name!r} ({spec.mapping}) is not supported yet; supported: "
            f"{', '.join(SUPPORTED_BUILTINS)} and workflow functions"
        )
    params: dict[str, Any] = {}
    for key, value in given.items():
        decl = spec.parameters.get(key)
        if decl is None and not allow_custom:
            raise ValueError(
                f"workflow {spec.name!r}: unknown parameter {key!r} (known: "
                f"{', '.join(spec.parameters) or 'none'})" + did_you_mean(key, spec.parameters)
            )
        kind = (decl or {}).get("type")
        if isinstance(value, str) and kind in _CONVERTERS:
            try:
                value = _CONVERTERS[kind](value)
            except (ValueError, KeyError):
                raise ValueError(
                    f"workflow {spec.name!r}: parameter {key!r} expects {kind}, got {value!r}"
                ) from None
        params[key] = value
    for key, decl in spec.parameters.items():
        if key in params:
            continue
        if "default" in decl:
            params[key] = copy.deepcopy(decl["default"])
        elif decl.get("required", True):
            raise ValueError(f"workflow {spec.name!r}: parameter {key!r} is required")
    return params
