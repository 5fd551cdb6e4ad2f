"""The public names of each distribution, pinned so nothing leaks or vanishes by accident."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "plugyard.sdk": {"PROJECT_NAME", "Event", "EventFormatError", "__version__", "hookimpl"},
    "plugyard.host": {
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
        "ProcessInfo",
        "ProcessSpec",
        "ProcessState",
        "ResultMode",
        "RestartPolicy",
        "SourceKind",
        "Stats",
        "Supervisor",
        "SupervisorError",
        "__version__",
        "entry_points",
        "directory_spec",
        "default_runtime_dir",
        "ensure_private_dir",
        "import_target",
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
    },
    "plugyard.host.hookspecs": {
        "plugyard_addhooks",
        "plugyard_cli",
        "plugyard_commands",
        "plugyard_configure",
        "plugyard_event",
        "plugyard_load_plugin",
        "plugyard_routes",
        "plugyard_shutdown",
        "plugyard_startup",
    },
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_pinned_and_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == PUBLIC[module_name]
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_every_hook_spec_has_a_docstring() -> None:
    from plugyard.host import hookspecs

    for name in hookspecs.__all__:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "Called" in doc, f"{name} does not say when it is called"
