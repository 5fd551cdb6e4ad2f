"""The lifecycle-operations adapter: blueprints, local workflows and their storage.

Plugins are modules of operation functions written against :mod:`plugyard.sdk.lifecycle`;
a YAML blueprint maps node lifecycle operations to them; :func:`init_env` (also in
:mod:`plugyard.adapters.lifecycle.local`) makes a deployment whose workflows run them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from ._blueprint import load_blueprint
    from ._environment import Environment, ExecutionResult, init_env, load_env
    from ._errors import BlueprintError, StorageError
    from ._model import Blueprint, NodeSpec, OperationSpec, PluginDecl, RelationshipSpec
    from ._plan import NodeInstance
    from ._runner import OperationCall
    from ._service import DeploymentHandle, LifecycleService
    from ._settings import DeploymentSettings, LifecycleSettings
    from ._storage import Execution, Storage

__all__ = [
    "Blueprint",
    "BlueprintError",
    "DeploymentHandle",
    "DeploymentSettings",
    "Environment",
    "Execution",
    "ExecutionResult",
    "LifecycleService",
    "LifecycleSettings",
    "NodeInstance",
    "NodeSpec",
    "OperationCall",
    "OperationSpec",
    "PluginDecl",
    "RelationshipSpec",
    "Storage",
    "StorageError",
    "init_env",
    "load_blueprint",
    "load_env",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Blueprint": "._model",
        "BlueprintError": "._errors",
        "DeploymentHandle": "._service",
        "DeploymentSettings": "._settings",
        "Environment": "._environment",
        "Execution": "._storage",
        "ExecutionResult": "._environment",
        "LifecycleService": "._service",
        "LifecycleSettings": "._settings",
        "NodeInstance": "._plan",
        "NodeSpec": "._model",
        "OperationCall": "._runner",
        "OperationSpec": "._model",
        "PluginDecl": "._model",
        "RelationshipSpec": "._model",
        "Storage": "._storage",
        "StorageError": "._errors",
        "init_env": "._environment",
        "load_blueprint": "._blueprint",
        "load_env": "._environment",
    },
    public=__all__,
)
