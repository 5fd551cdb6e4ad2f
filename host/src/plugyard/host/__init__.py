"""The plugyard host: a pluggy plugin manager with plugyard's hooks, and what runs around it.

Embed it with ``async with Host.from_file("plugyard.toml") as host: ...``. Adapters, found
through the ``plugyard.adapters`` entry-point group, map each plugin model onto the hooks in
:mod:`plugyard.host.hookspecs`. ``Command``, ``Param``, ``CommandError``, ``Errno``,
``PluginHandle``, ``HandleBase`` and ``StopPhase`` are the SDK's, re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugyard.sdk import lazy_exports

if TYPE_CHECKING:
    from plugyard.sdk import (
        Command,
        CommandError,
        Errno,
        HandleBase,
        Param,
        PluginHandle,
        StopPhase,
    )

    from ._callers import FirstResultCaller, HookCaller, HookRelay, HostHooks, typed_hook
    from ._commands import CommandPlane
    from ._config import Config, ConfigError, HostSettings, PluginConfig
    from ._discovery import (
        EntryPointInfo,
        PluginLoadError,
        PluginSpec,
        SourceKind,
        directory_spec,
        entry_points,
        import_target,
        refresh_entry_points,
    )
    from ._dispatch import HookFailure, HookResult, HookTimeout, Outcome
    from ._host import Host
    from ._http import BodyLimit, HttpLimits, uvicorn_config
    from ._ordering import CallPosition, OrderError
    from ._owners import OwnerState, owner_mark, owner_state, process_exists
    from ._phases import Phase, PhaseError
    from ._policy import ErrorMode, HookPolicy, ResultMode, hookspec, policy
    from ._redact import redact_secrets
    from ._registry import TRANSITIONS, InvalidTransition, PluginRecord, PluginState
    from ._runtime import (
        HostInfoError,
        UnsafePathError,
        check_private_path,
        default_runtime_dir,
        ensure_private_dir,
        read_host_info,
        read_private_file,
    )
    from ._services import Service, ServiceError, Services
    from ._stats import PluginStats, Stats
    from ._supervisor import (
        ProcessInfo,
        ProcessSpec,
        ProcessState,
        RestartPolicy,
        Supervisor,
        SupervisorError,
    )
    from ._versions import HookSpecWarning, HookVersion, versioned

__all__ = [
    "TRANSITIONS",
    "BodyLimit",
    "CallPosition",
    "Command",
    "CommandError",
    "CommandPlane",
    "Config",
    "ConfigError",
    "EntryPointInfo",
    "Errno",
    "ErrorMode",
    "FirstResultCaller",
    "HandleBase",
    "HookCaller",
    "HookFailure",
    "HookPolicy",
    "HookRelay",
    "HookResult",
    "HookTimeout",
    "Host",
    "HostHooks",
    "HostInfoError",
    "HostSettings",
    "HttpLimits",
    "InvalidTransition",
    "OrderError",
    "Outcome",
    "OwnerState",
    "Param",
    "Phase",
    "PhaseError",
    "PluginConfig",
    "PluginHandle",
    "PluginLoadError",
    "PluginRecord",
    "PluginSpec",
    "PluginState",
    "PluginStats",
    "ProcessInfo",
    "ProcessSpec",
    "ProcessState",
    "RestartPolicy",
    "ResultMode",
    "Service",
    "ServiceError",
    "Services",
    "SourceKind",
    "Stats",
    "StopPhase",
    "Supervisor",
    "SupervisorError",
    "UnsafePathError",
    "__version__",
    "check_private_path",
    "default_runtime_dir",
    "directory_spec",
    "ensure_private_dir",
    "entry_points",
    "hookspec",
    "import_target",
    "owner_mark",
    "owner_state",
    "policy",
    "process_exists",
    "read_host_info",
    "read_private_file",
    "redact_secrets",
    "refresh_entry_points",
    "typed_hook",
    "uvicorn_config",
    "HookSpecWarning",
    "HookVersion",
    "versioned",
]

_SDK = "plugyard.sdk"
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TRANSITIONS": "._registry",
        "OwnerState": "._owners",
        "owner_mark": "._owners",
        "owner_state": "._owners",
        "process_exists": "._owners",
        "BodyLimit": "._http",
        "HookSpecWarning": "._versions",
        "HookVersion": "._versions",
        "versioned": "._versions",
        "FirstResultCaller": "._callers",
        "HookCaller": "._callers",
        "HookRelay": "._callers",
        "HostHooks": "._callers",
        "typed_hook": "._callers",
        "CallPosition": "._ordering",
        "OrderError": "._ordering",
        "HttpLimits": "._http",
        "uvicorn_config": "._http",
        "UnsafePathError": "._runtime",
        "check_private_path": "._runtime",
        "read_private_file": "._runtime",
        "Command": _SDK,
        "CommandError": _SDK,
        "CommandPlane": "._commands",
        "Config": "._config",
        "ConfigError": "._config",
        "EntryPointInfo": "._discovery",
        "Errno": _SDK,
        "ErrorMode": "._policy",
        "HandleBase": _SDK,
        "HookFailure": "._dispatch",
        "HookPolicy": "._policy",
        "HookResult": "._dispatch",
        "HookTimeout": "._dispatch",
        "Host": "._host",
        "HostInfoError": "._runtime",
        "HostSettings": "._config",
        "InvalidTransition": "._registry",
        "Outcome": "._dispatch",
        "Param": _SDK,
        "Phase": "._phases",
        "PhaseError": "._phases",
        "PluginConfig": "._config",
        "PluginHandle": _SDK,
        "PluginLoadError": "._discovery",
        "PluginRecord": "._registry",
        "PluginSpec": "._discovery",
        "PluginState": "._registry",
        "PluginStats": "._stats",
        "ProcessInfo": "._supervisor",
        "ProcessSpec": "._supervisor",
        "ProcessState": "._supervisor",
        "RestartPolicy": "._supervisor",
        "ResultMode": "._policy",
        "Service": "._services",
        "ServiceError": "._services",
        "Services": "._services",
        "SourceKind": "._discovery",
        "Stats": "._stats",
        "StopPhase": _SDK,
        "Supervisor": "._supervisor",
        "SupervisorError": "._supervisor",
        "default_runtime_dir": "._runtime",
        "directory_spec": "._discovery",
        "ensure_private_dir": "._runtime",
        "entry_points": "._discovery",
        "hookspec": "._policy",
        "import_target": "._discovery",
        "policy": "._policy",
        "read_host_info": "._runtime",
        "redact_secrets": "._redact",
        "refresh_entry_points": "._discovery",
    },
    public=__all__,
    distribution="plugyard-host",
)
