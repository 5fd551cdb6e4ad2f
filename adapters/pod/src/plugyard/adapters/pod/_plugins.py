"""Pod plugins and pod runs as host plugins: every plugin class a run can launch is one
registry record (``plugyard.pods`` entry points, ``[plugins.NAME] use = ...`` tables, or the
plugin a run's metadata names), and every run is a record that names its plugin."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from plugyard.host import PluginSpec
from plugyard.sdk import HandleBase

if TYPE_CHECKING:
    from ._service import PodService

__all__ = ["PODS_GROUP", "PodPluginHandle", "PodRunHandle", "handle_for", "is_pod_plugin"]

PODS_GROUP = "plugyard.pods"
"""Distributions that provide pod plugins: ``NAME = "module:PluginClass"``."""

MODEL = "pod"


def is_pod_plugin(obj: Any) -> bool:
    """Whether ``obj`` is a pod plugin class (a ``PodPlugin`` subclass)."""
    from plugyard.sdk.pod import PodPlugin

    return inspect.isclass(obj) and issubclass(obj, PodPlugin) and obj is not PodPlugin


class PodPluginHandle(HandleBase):
    """A pod plugin class. Each run launches it afresh, so starting and stopping the plugin
    allows or refuses new runs: a stopped, failed or disabled pod plugin cannot be launched."""

    model = MODEL

    def __init__(self, module: str, cls: str, source: str) -> None:
        self.module = module
        self.cls = cls
        self.source = source
        self.launches = 0

    @property
    def target(self) -> tuple[str, str]:
        """``(plugin_module, plugin_name)`` as a run's metadata names the plugin."""
        return self.module, self.cls

    def describe(self) -> Mapping[str, Any]:
        """The class runs launch, and how many runs this host launched."""
        return {"plugin_module": self.module, "plugin_name": self.cls, "launches": self.launches}


class PodRunHandle(HandleBase):
    """One PluginRun while the host follows it; stopping it aborts the run."""

    model = MODEL

    def __init__(self, service: PodService, run_id: str, plugin: str, launcher: str) -> None:
        self.service = service
        self.run_id = run_id
        self.plugin = plugin
        self.launcher = launcher

    async def stop(self) -> None:
        """Abort the run if it is still going (its plugin is told, then stopped)."""
        runs = self.service.runs
        if runs is not None and self.run_id in runs.active:
            await runs.abort(self.run_id)

    def describe(self) -> Mapping[str, Any]:
        """The run's id, its plugin and its launcher."""
        return {"run_id": self.run_id, "plugin": self.plugin, "launcher": self.launcher}


def handle_for(spec: PluginSpec, obj: Any) -> PodPluginHandle | None:
    """A handle if ``spec`` names a pod plugin class."""
    if not is_pod_plugin(obj):
        return None
    return PodPluginHandle(obj.__module__, obj.__qualname__, spec.source)
