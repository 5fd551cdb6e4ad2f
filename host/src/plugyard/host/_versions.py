"""Versioned hook specifications: when each hook came, changed, was deprecated or removed,
and the checks the host makes at load against the version a plugin declares."""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import pluggy

from plugyard.sdk import (
    PROJECT_NAME,
    SPEC_VERSION,
    SPEC_VERSION_ATTR,
    parse_spec_version,
    spec_version_problem,
)

__all__ = [
    "VERSION_ATTR",
    "HookSpecWarning",
    "HookVersion",
    "version_of",
    "version_problem",
    "version_warnings",
    "versioned",
]

logger = logging.getLogger("plugyard.host")

VERSION_ATTR: Final = f"{PROJECT_NAME}_version"

_F = TypeVar("_F", bound=Callable[..., Any])


class HookSpecWarning(UserWarning):
    """A plugin uses a deprecated hook, or was written against an older hook spec than one
    of its hooks has since changed in. Given once per plugin and hook."""


@dataclass(frozen=True, slots=True)
class HookVersion:
    """One hook's history in the hook spec's versions (``MAJOR.MINOR``)."""

    since: str
    changed: tuple[tuple[str, str], ...] = ()
    deprecated: tuple[str, str] | None = None
    removed: tuple[str, str] | None = None
    removed_args: tuple[tuple[str, str, str], ...] = ()
    """``(argument, version, note)`` for each argument the hook no longer passes."""

    def history(self) -> list[tuple[str, str]]:
        """``(version, what happened)`` in version order, as the hook reference shows it."""
        found = [(self.since, "added")]
        found += [(version, note) for version, note in self.changed]
        for arg, version, note in self.removed_args:
            found.append((version, f"argument `{arg}` removed: {note}"))
        if self.deprecated is not None:
            found.append((self.deprecated[0], f"deprecated: {self.deprecated[1]}"))
        if self.removed is not None:
            found.append((self.removed[0], f"removed: {self.removed[1]}"))
        return sorted(found, key=lambda entry: parse_spec_version(entry[0]))


def versioned(
    *,
    since: str,
    changed: Mapping[str, str] | None = None,
    deprecated: tuple[str, str] | None = None,
    removed: tuple[str, str] | None = None,
    removed_args: Mapping[str, tuple[str, str]] | None = None,
) -> Callable[[_F], _F]:
    """Record a hook specification's history: the spec version it came in (``since``),
    what ``changed`` in later versions (``{"1.1": "what"}``), and ``deprecated``,
    ``removed`` (``("version", "what to use instead")``) and ``removed_args``
    (``{"arg": ("version", "note")}``). A removed hook keeps its specification, so that
    an implementation of it is refused at load with this history."""
    version = HookVersion(
        since,
        tuple(sorted((changed or {}).items(), key=lambda kv: parse_spec_version(kv[0]))),
        deprecated,
        removed,
        tuple((arg, ver, note) for arg, (ver, note) in (removed_args or {}).items()),
    )
    for text, _ in version.history():
        parse_spec_version(text)

    def mark(func: _F) -> _F:
        setattr(func, VERSION_ATTR, version)
        return func

    return mark


def version_of(caller: pluggy.HookCaller) -> HookVersion | None:
    """The history recorded on ``caller``'s specification, if any."""
    if caller.spec is None:
        return None
    found = getattr(caller.spec.function, VERSION_ATTR, None)
    return found if isinstance(found, HookVersion) else None


def _implementations(
    pm: pluggy.PluginManager, obj: object
) -> list[tuple[str, Callable[..., Any], HookVersion]]:
    """``obj``'s implementations of hooks that have a history past ``since`` (only those
    can refuse or warn), looked up by hook name."""
    found = []
    for hook in dir(pm.hook):
        caller = getattr(pm.hook, hook, None)
        version = version_of(caller) if isinstance(caller, pluggy.HookCaller) else None
        if version is None or version.history() == [(version.since, "added")]:
            continue
        if pm.parse_hookimpl_opts(obj, hook) is not None:
            found.append((hook, getattr(obj, hook), version))
    return found


def declared_version(obj: object) -> str | None:
    """The hook spec version ``obj`` declares (``plugyard_spec_version``), if any."""
    declared = getattr(obj, SPEC_VERSION_ATTR, None)
    return None if declared is None else str(declared)


def version_problem(pm: pluggy.PluginManager, name: str, obj: object) -> str | None:
    """Why plugin ``name`` cannot be registered against this host's hook spec, or ``None``:
    a declared version the host cannot serve, a removed hook, or a removed argument."""
    declared = declared_version(obj)
    if declared is not None:
        problem = spec_version_problem(declared, SPEC_VERSION)
        if problem is not None:
            return f"plugin {name!r} was {problem}"
    for hook, function, version in _implementations(pm, obj):
        if version.removed is not None:
            removed_in, note = version.removed
            return (
                f"plugin {name!r} implements {hook}, which was removed in hook spec "
                f"{removed_in}: {note}"
            )
        try:
            params = set(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            continue
        for arg, removed_in, note in version.removed_args:
            if arg in params:
                return (
                    f"plugin {name!r}: {hook} no longer passes argument {arg!r} (removed in "
                    f"hook spec {removed_in}: {note})"
                )
    return None


def version_warnings(pm: pluggy.PluginManager, name: str, obj: object) -> list[str]:
    """What plugin ``name`` should hear about: deprecated hooks it implements, and hooks
    that changed after the spec version it declares."""
    declared = declared_version(obj)
    since = parse_spec_version(declared) if declared is not None else None
    found = []
    for hook, _, version in _implementations(pm, obj):
        if version.deprecated is not None:
            when, note = version.deprecated
            found.append(
                f"plugin {name!r} implements {hook}, deprecated since hook spec {when}: {note}"
            )
        if since is not None:
            later = [(v, note) for v, note in version.changed if parse_spec_version(v) > since]
            if later:
                changes = "; ".join(f"{v}: {note}" for v, note in later)
                found.append(
                    f"plugin {name!r} was written against hook spec {declared}, and {hook} "
                    f"has changed since ({changes})"
                )
    return found


def warn_once(pm: pluggy.PluginManager, name: str, obj: object) -> None:
    """Give each of :func:`version_warnings` once per plugin manager, as a
    :class:`HookSpecWarning` and in the log."""
    given: set[str] = pm.__dict__.setdefault("_plugyard_warned", set())
    for message in version_warnings(pm, name, obj):
        if message in given:
            continue
        given.add(message)
        logger.warning("%s", message, extra={"plugin": name})
        warnings.warn(message, HookSpecWarning, stacklevel=3)
