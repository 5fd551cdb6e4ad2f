"""Lifecycle plugins as host plugins: a blueprint's ``plugins:`` entries and the
distributions of the ``plugyard.lifecycle`` entry-point group, each one registry record."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any

from plugyard.host import PluginSpec, SourceKind, entry_points
from plugyard.sdk import HandleBase

from ._model import PluginDecl

__all__ = ["LIFECYCLE_GROUP", "LifecyclePluginHandle", "installed_plugin", "plugin_spec"]

LIFECYCLE_GROUP = "plugyard.lifecycle"
"""Distributions that provide lifecycle plugins: ``NAME = "package"``. A blueprint maps
operations to ``NAME.module.function`` without declaring the plugin under ``plugins:``."""

MODEL = "lifecycle"


class LifecyclePluginHandle(HandleBase):
    """A package of lifecycle operations. Its operations run inside workflows, so starting
    and stopping it only allows or refuses them: a stopped, failed or disabled lifecycle
    plugin fails every workflow that needs it, before any operation runs."""

    model = MODEL

    def __init__(self, decl: PluginDecl, where: str) -> None:
        self.decl = decl
        self.where = where

    def describe(self) -> Mapping[str, Any]:
        """The package behind the plugin and where it was declared."""
        return {
            "package": self.decl.package,
            "package_name": self.decl.package_name,
            "package_version": self.decl.package_version,
            "source": str(self.decl.source) if self.decl.source else None,
            "declared_in": self.where,
        }


def _requires(package_name: str | None) -> tuple[str | None, str | None, tuple[str, ...]]:
    if not package_name:
        return None, None, ()
    try:
        dist = distribution(package_name)
    except PackageNotFoundError:
        return None, None, ()
    return dist.metadata["Name"], dist.version, tuple(dist.requires or ())


def plugin_spec(decl: PluginDecl, where: str) -> PluginSpec:
    """The host's spec for a blueprint's plugin entry (loading it yields the declaration)."""
    spec = PluginSpec.for_object(decl.name, decl)
    spec.target = decl.package
    name, version, requires = _requires(decl.package_name)
    spec.distribution = name or decl.package_name
    spec.version = version or decl.package_version
    spec.requires = requires
    spec.where = f"{where} plugins.{decl.name}"
    spec.model = MODEL
    return spec


def installed_plugin(name: str) -> PluginDecl | None:
    """The lifecycle plugin ``name`` provided by an installed distribution, if any."""
    for info in entry_points(LIFECYCLE_GROUP):
        if info.name == name:
            package = info.value.partition(":")[0]
            return PluginDecl(name, package, info.distribution, info.version)
    return None


def handle_for(spec: PluginSpec, obj: Any) -> LifecyclePluginHandle | None:
    """A handle if ``spec`` is a lifecycle plugin (a declaration, or the group's module)."""
    if isinstance(obj, PluginDecl):
        return LifecyclePluginHandle(obj, spec.where or spec.source)
    if spec.group == LIFECYCLE_GROUP and spec.kind is SourceKind.ENTRY_POINT:
        decl = PluginDecl(spec.name, spec.target.partition(":")[0], spec.distribution, spec.version)
        return LifecyclePluginHandle(decl, spec.source)
    return None
