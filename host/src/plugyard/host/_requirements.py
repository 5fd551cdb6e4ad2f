"""Whether a plugin's distribution can run with the installed plugyard-sdk."""

from __future__ import annotations

import functools

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ._discovery import PluginSpec, SourceKind

__all__ = ["sdk_conflict"]


@functools.cache
def _installed_sdk() -> str | None:
    """The installed plugyard-sdk version (read once per process: what a process has
    imported does not change when the environment does)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("plugyard-sdk")
    except PackageNotFoundError:
        return None


def _requires_of(spec: PluginSpec) -> tuple[tuple[str, ...], str | None, str | None]:
    if spec.kind is SourceKind.ENTRY_POINT or spec.requires:
        return spec.requires, spec.distribution, spec.version
    if spec.kind is not SourceKind.CONFIG:
        return (), None, None
    from importlib.metadata import PackageNotFoundError, distribution, packages_distributions

    top = spec.target.partition(":")[0].split(".")[0]
    for dist_name in packages_distributions().get(top, []):
        try:
            dist = distribution(dist_name)
        except PackageNotFoundError:
            continue
        return tuple(dist.requires or ()), dist.metadata["Name"], dist.version
    return (), None, None


def sdk_conflict(spec: PluginSpec) -> str | None:
    """Why a plugin's distribution cannot run with the installed plugyard-sdk, or ``None``."""
    requires, dist, version = _requires_of(spec)
    installed = None
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != "plugyard-sdk":
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        installed = installed or _installed_sdk()
        if installed is None:
            return f"plugin {spec.name!r} ({dist} {version}) requires {req}, which is not installed"
        if not req.specifier.contains(installed, prereleases=True):
            return (
                f"plugin {spec.name!r} ({dist} {version}) requires {req}, "
                f"but plugyard-sdk {installed} is installed"
            )
    return None
