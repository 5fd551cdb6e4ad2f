"""Discovery: entry points (read once per process, cached per environment), config entries
and plugin directories."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import Config

__all__ = [
    "EntryPointInfo",
    "PluginLoadError",
    "PluginSpec",
    "SourceKind",
    "directory_spec",
    "discover",
    "entry_points",
    "environment_fingerprint",
    "find_in_dirs",
    "import_target",
    "refresh_entry_points",
]


logger = logging.getLogger("plugyard.host")


class PluginLoadError(ImportError):
    """A plugin's target could not be imported or resolved; the message names it and why."""


class SourceKind(StrEnum):
    """Where a plugin was found."""

    ENTRY_POINT = "entry point"
    CONFIG = "config"
    DIRECTORY = "directory"
    OBJECT = "object"


@dataclass(frozen=True, slots=True)
class EntryPointInfo:
    """One entry point, with the distribution that declares it (read without importing)."""

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None
    requires: tuple[str, ...] = ()


_lock = threading.Lock()
_cache: dict[str, tuple[EntryPointInfo, ...]] | None = None
_other: dict[str, tuple[EntryPointInfo, ...]] = {}


def _scan(
    path: list[str] | None = None, group: str | None = None
) -> dict[str, tuple[EntryPointInfo, ...]]:
    """Entry points of every ``plugyard*`` group, or of ``group`` alone."""
    import importlib_metadata

    groups: dict[str, dict[str, EntryPointInfo]] = {}
    found_dists = (
        importlib_metadata.distributions()
        if path is None
        else importlib_metadata.distributions(path=path)
    )
    for dist in found_dists:
        found = [
            ep
            for ep in dist.entry_points
            if (ep.group == group if group else ep.group.startswith("plugyard"))
        ]
        if not found:
            continue
        meta_name = dist.metadata["Name"] if dist.metadata else None
        requires = tuple(dist.requires or ())
        for ep in found:
            # "module:attr [extra]": the extras name optional dependencies, not a target.
            value = ep.value.partition("[")[0].strip()
            info = EntryPointInfo(ep.group, ep.name, value, meta_name, dist.version, requires)
            groups.setdefault(ep.group, {}).setdefault(ep.name, info)
    return {group: tuple(by_name.values()) for group, by_name in groups.items()}


CACHE_DIR_ENV = "PLUGYARD_CACHE_DIR"
"""Where the discovery cache lives (default ``$XDG_CACHE_HOME/plugyard``, else
``~/.cache/plugyard``)."""
NO_CACHE_ENV = "PLUGYARD_NO_DISCOVERY_CACHE"
"""Set to ``1`` to read every installed distribution at each start, as without a cache."""
_CACHE_FORMAT = 1
_METADATA_FILES = ("entry_points.txt", "METADATA", "PKG-INFO")


def environment_fingerprint(path: Sequence[str] | None = None) -> str:
    """A digest of what decides the installed entry points, read without opening a file.

    It covers the interpreter, every entry of ``path`` (``sys.path``), and in each folder the
    name of every ``*.dist-info`` / ``*.egg-info`` with the size and modification time of its
    entry points and metadata: installing, removing, upgrading or editing a distribution
    changes it; other files coming and going in a folder (a script's own) do not.
    """
    digest = hashlib.sha256(sys.executable.encode(errors="surrogateescape"))
    for entry in sys.path if path is None else path:
        folder = entry or os.getcwd()
        digest.update(b"\0" + folder.encode(errors="surrogateescape"))
        try:
            found = os.stat(folder)
        except OSError:
            digest.update(b"-")
            continue
        if not stat.S_ISDIR(found.st_mode):  # a zip file: its own size and time
            digest.update(f"{found.st_mtime_ns}:{found.st_size}".encode())
            continue
        try:
            with os.scandir(folder) as entries:
                names = sorted(
                    e.name for e in entries if e.name.endswith((".dist-info", ".egg-info"))
                )
        except OSError:
            continue
        for name in names:
            digest.update(b"\1" + name.encode(errors="surrogateescape"))
            for meta in _METADATA_FILES:
                try:
                    info = os.stat(os.path.join(folder, name, meta))
                except OSError:
                    digest.update(b"-")
                else:
                    digest.update(f"{info.st_mtime_ns}:{info.st_size}".encode())
    return digest.hexdigest()


def _cache_file() -> Path | None:
    if os.environ.get(NO_CACHE_ENV, "") not in ("", "0"):
        return None
    base = os.environ.get(CACHE_DIR_ENV)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "plugyard")
    interpreter = hashlib.sha256(sys.executable.encode(errors="surrogateescape")).hexdigest()
    return Path(base) / f"entry-points-{interpreter[:16]}.json"


def _read_cache(file: Path, fingerprint: str) -> dict[str, tuple[EntryPointInfo, ...]] | None:
    try:
        with open(file, "rb") as handle:
            if hasattr(os, "getuid") and os.fstat(handle.fileno()).st_uid != os.getuid():
                return None  # written by someone else: not trusted
            data = json.load(handle)
        if data.get("format") != _CACHE_FORMAT or data.get("fingerprint") != fingerprint:
            return None
        return {
            group: tuple(
                EntryPointInfo(group, name, value, dist, version, tuple(requires))
                for name, value, dist, version, requires in rows
            )
            for group, rows in data["groups"].items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _write_cache(
    file: Path, fingerprint: str, groups: Mapping[str, tuple[EntryPointInfo, ...]]
) -> None:
    data = {
        "format": _CACHE_FORMAT,
        "fingerprint": fingerprint,
        "groups": {
            group: [[i.name, i.value, i.distribution, i.version, list(i.requires)] for i in infos]
            for group, infos in groups.items()
        },
    }
    partial = file.with_name(f"{file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, file)
    except OSError as exc:
        logger.debug("discovery cache %s not written: %s", file, exc)
        with contextlib.suppress(OSError):
            partial.unlink()


def _cached_scan() -> dict[str, tuple[EntryPointInfo, ...]]:
    """:func:`_scan` of ``sys.path``, answered from the cache file while the environment's
    fingerprint is the one it was written for."""
    file = _cache_file()
    if file is None:
        return _scan()
    fingerprint = environment_fingerprint()
    found = _read_cache(file, fingerprint)
    if found is None:
        found = _scan()
        _write_cache(file, fingerprint, found)
    return found


def entry_points(group: str) -> tuple[EntryPointInfo, ...]:
    """The entry points of a group, de-duplicated by name (first on the path wins).

    Every installed distribution is read once per process, for every ``plugyard*`` group at
    once, and the result is cached on disk for the next process until what is installed
    changes (:func:`environment_fingerprint`); another group (an original's, such as
    ``girder_worker_plugins``) is read once on its first lookup. Nothing is imported.
    """
    global _cache
    with _lock:
        if not group.startswith("plugyard"):
            if group not in _other:
                _other[group] = _scan(group=group).get(group, ())
            return _other[group]
        if _cache is None:
            _cache = _cached_scan()
        return _cache.get(group, ())


def refresh_entry_points() -> None:
    """Forget the entry-point scan, so the next lookup reads installed distributions again."""
    global _cache
    with _lock:
        _cache = None
        _other.clear()


def import_target(target: str, *, where: str) -> Any:
    """Import ``pkg.mod:attr.sub``, ``pkg.mod.Class`` or ``pkg.mod``; errors name ``where``."""
    module_name, _, attr_path = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if attr_path or "." not in module_name:
            raise PluginLoadError(f"{where}: cannot import {module_name!r}: {exc}") from exc
        parent, _, attr_path = module_name.rpartition(".")
        try:
            module = importlib.import_module(parent)
        except ImportError:
            raise PluginLoadError(f"{where}: cannot import {target!r}: {exc}") from exc
    obj: Any = module
    for part in attr_path.split(".") if attr_path else ():
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginLoadError(
                f"{where}: {target!r}: module {module.__name__!r} has no attribute {part!r}"
            ) from None
    return obj


def _import_file(name: str, path: Path) -> Any:
    module_name = f"plugyard_plugin_{name}"
    location = path / "__init__.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location(
        module_name, location, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, Exception):
            raise PluginLoadError(f"{path}: import failed: {type(exc).__name__}: {exc}") from exc
        raise
    return module


@dataclass(slots=True, eq=False)
class PluginSpec:
    """A plugin the host has found but not necessarily imported.

    ``target`` is what to import (``pkg.mod:attr``, or a file for directory plugins);
    ``group`` is the entry-point group it came from, if any, which tells adapters what kind of
    plugin it is meant to be; ``model`` says so directly when an adapter made the spec
    itself; ``options`` are its configuration.
    """

    name: str
    target: str
    kind: SourceKind
    options: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    distribution: str | None = None
    version: str | None = None
    requires: tuple[str, ...] = ()
    path: Path | None = None
    where: str = ""
    model: str | None = None
    _obj: Any = None
    _loaded: bool = False

    @classmethod
    def for_object(cls, name: str, obj: Any, options: dict[str, Any] | None = None) -> PluginSpec:
        """A spec for an object handed to the host directly (tests, embedding applications)."""
        target = getattr(obj, "__module__", None) or getattr(obj, "__name__", repr(obj))
        spec = cls(name, str(target), SourceKind.OBJECT, dict(options or {}), where="object")
        spec._obj, spec._loaded = obj, True
        return spec

    @property
    def source(self) -> str:
        """Where the plugin came from, for people: a distribution, a file or a config table."""
        if self.kind is SourceKind.ENTRY_POINT:
            dist = f"{self.distribution} {self.version}" if self.distribution else "unknown"
            return f"{dist} (entry point {self.group}:{self.name})"
        if self.kind is SourceKind.DIRECTORY:
            return str(self.path)
        if self.kind is SourceKind.CONFIG:
            return f"{self.where} use = {self.target!r}"
        if self.where and self.where != "object":
            return self.where
        return f"object {self.target}"

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has already imported the target."""
        return self._loaded

    def load(self) -> Any:
        """Import the target once and return it; raises :class:`PluginLoadError`."""
        if not self._loaded:
            if self.kind is SourceKind.DIRECTORY and self.path is not None:
                self._obj = _import_file(self.name, self.path)
            else:
                self._obj = import_target(self.target, where=self.where or self.source)
            self._loaded = True
        return self._obj


def find_in_dirs(name: str, dirs: Iterable[Path]) -> Path | None:
    """The first ``NAME.py`` file or ``NAME/`` package in ``dirs``; a name with a path in it
    (``../evil``) is in no folder."""
    from ._config import check_plugin_file_name

    try:
        check_plugin_file_name(name)
    except ValueError:
        return None
    for folder in dirs:
        for candidate in (folder / f"{name}.py", folder / name):
            if candidate.is_file() or (candidate / "__init__.py").is_file():
                return candidate
    return None


def directory_spec(name: str, dirs: Sequence[Path], where: str) -> PluginSpec:
    """A spec for plugin ``name`` looked up by file name in ``dirs`` (as ``active_plugins``).

    A name that is in none of the folders gives a spec without ``path``; loading it fails with
    the folders that were searched.
    """
    path = find_in_dirs(name, dirs)
    searched = ", ".join(str(d) for d in dirs) or "no folders"
    return PluginSpec(
        name, str(path) if path else searched, SourceKind.DIRECTORY, path=path, where=where
    )


def discover(
    config: Config,
    *,
    objects: Mapping[str, Any],
    added: Sequence[PluginSpec],
    groups: Iterable[str],
    autoload: bool,
    taken: Container[str],
) -> list[PluginSpec]:
    """Every plugin a host should load, in loading order, one spec per name.

    Sources: ``[plugins.NAME] use = ...`` tables, objects handed to the host, specs adapters
    added (``host.add_plugin_spec``), entry points of ``groups`` (with ``autoload``) and
    ``[host] active_plugins`` in ``plugin_dirs``. A name already in ``taken`` (an adapter),
    or found twice, is logged and skipped: the first source wins. Installed (entry-point)
    plugins come first, so that what the configuration names explicitly loads later and has
    the last word on shared settings.
    """
    settings = config.host
    specs: list[PluginSpec] = []
    for name, entry in config.plugins.items():
        if entry.use is not None:
            where = f"{config.where} [plugins.{name}]"
            specs.append(PluginSpec(name, entry.use, SourceKind.CONFIG, entry.options, where=where))
    for name, obj in objects.items():
        options = config.plugins[name].options if name in config.plugins else {}
        specs.append(PluginSpec.for_object(name, obj, options))
    specs.extend(added)
    if autoload:
        for group in groups:
            for info in entry_points(group):
                specs.append(
                    PluginSpec(
                        info.name,
                        info.value,
                        SourceKind.ENTRY_POINT,
                        dict(config.plugins[info.name].options)
                        if info.name in config.plugins
                        else {},
                        group=group,
                        distribution=info.distribution,
                        version=info.version,
                        requires=info.requires,
                    )
                )
    for name in settings.active_plugins:
        specs.append(
            directory_spec(name, settings.plugin_dirs, f"{config.where} [host] active_plugins")
        )
    options_only = {n for n, e in config.plugins.items() if e.use is None}
    for spec in specs:
        if spec.kind is SourceKind.DIRECTORY and spec.name in config.plugins:
            spec.options = {**config.plugins[spec.name].options, **spec.options}
    for name in sorted(options_only - {spec.name for spec in specs}):
        specs.append(
            PluginSpec(name, name, SourceKind.CONFIG, where=f"{config.where} [plugins.{name}]")
        )
    unique: dict[str, PluginSpec] = {}
    for spec in specs:
        if spec.name in unique or spec.name in taken:
            other = unique.get(spec.name)
            logger.warning(
                "plugin %r from %s ignored: the name is taken by %s",
                spec.name,
                spec.source,
                other.source if other else "an adapter",
            )
            continue
        unique[spec.name] = spec
    ordered = list(unique.values())
    return [s for s in ordered if s.kind is SourceKind.ENTRY_POINT] + [
        s for s in ordered if s.kind is not SourceKind.ENTRY_POINT
    ]
