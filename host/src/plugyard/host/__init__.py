"""The plugyard host: a pluggy plugin manager with plugyard's hooks, and what runs around it.

Embed it with ``async with Host.from_file("plugyard.toml") as host: ...``. Adapters, found
through the ``plugyard.adapters`` entry-point group, map each plugin model onto the hooks in
:mod:`plugyard.host.hookspecs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._commands import Command, CommandError, CommandPlane, Errno, Param
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
    from ._policy import ErrorMode, HookPolicy, ResultMode, hookspec, policy
    from ._registry import PluginHandle, PluginRecord, PluginState
    from ._runtime import (
        HostInfoError,
        UnsafePathError,
        check_private_path,
        default_runtime_dir,
        ensure_private_dir,
        read_host_info,
        read_private_file,
    )
    from ._stats import PluginStats, Stats
    from ._supervisor import (
        ProcessInfo,
        ProcessSpec,
        ProcessState,
        RestartPolicy,
        Supervisor,
        SupervisorError,
    )

__all__ = [
    "ensure_private_dir",
    "default_runtime_dir",
    "import_target",
    "directory_spec",
    "SupervisorError",
    "Supervisor",
    "RestartPolicy",
    "ProcessState",
    "ProcessSpec",
    "ProcessInfo",
    "Command",
    "CommandError",
    "CommandPlane",
    "Config",
    "ConfigError",
    "EntryPointInfo",
    "Errno",
    "ErrorMode",
    "HookFailure",
    "HookPolicy",
    "HookResult",
    "HookTimeout",
    "Host",
    "HostInfoError",
    "HostSettings",
    "Outcome",
    "Param",
    "PluginConfig",
    "PluginHandle",
    "PluginLoadError",
    "PluginRecord",
    "PluginSpec",
    "PluginState",
    "PluginStats",
    "ResultMode",
    "SourceKind",
    "Stats",
    "__version__",
    "entry_points",
    "hookspec",
    "policy",
    "read_host_info",
    "read_private_file",
    "check_private_path",
    "BodyLimit",
    "HttpLimits",
    "uvicorn_config",
    "UnsafePathError",
    "refresh_entry_points",
]

_EXPORTS = {
    "ensure_private_dir": "._runtime",
    "default_runtime_dir": "._runtime",
    "import_target": "._discovery",
    "directory_spec": "._discovery",
    "SupervisorError": "._supervisor",
    "Supervisor": "._supervisor",
    "RestartPolicy": "._supervisor",
    "ProcessState": "._supervisor",
    "ProcessSpec": "._supervisor",
    "ProcessInfo": "._supervisor",
    "Command": "._commands",
    "CommandError": "._commands",
    "CommandPlane": "._commands",
    "Config": "._config",
    "ConfigError": "._config",
    "EntryPointInfo": "._discovery",
    "Errno": "._commands",
    "ErrorMode": "._policy",
    "HookFailure": "._dispatch",
    "HookPolicy": "._policy",
    "HookResult": "._dispatch",
    "HookTimeout": "._dispatch",
    "Host": "._host",
    "HostInfoError": "._runtime",
    "HostSettings": "._config",
    "Outcome": "._dispatch",
    "Param": "._commands",
    "PluginConfig": "._config",
    "PluginHandle": "._registry",
    "PluginLoadError": "._discovery",
    "PluginRecord": "._registry",
    "PluginSpec": "._discovery",
    "PluginState": "._registry",
    "PluginStats": "._stats",
    "ResultMode": "._policy",
    "SourceKind": "._discovery",
    "Stats": "._stats",
    "entry_points": "._discovery",
    "hookspec": "._policy",
    "policy": "._policy",
    "read_host_info": "._runtime",
    "read_private_file": "._runtime",
    "BodyLimit": "._http",
    "HttpLimits": "._http",
    "uvicorn_config": "._http",
    "check_private_path": "._runtime",
    "UnsafePathError": "._runtime",
    "refresh_entry_points": "._discovery",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use, so that ``plugyard --help`` stays fast."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("plugyard-host")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0.0.0"
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'plugyard.host' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
