"""Read the parts of a circus.ini that plugyard runs itself: ``[circus]``, ``[watcher:NAME]``
and ``[env:NAME]`` sections (``[plugin:NAME]`` sections are read by the adapter's INI reader).
"""

from __future__ import annotations

import configparser
import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._settings import check_endpoint
from ._options import OptionError, WatcherOptions, parse_env
from ._sockets import SocketOptions

__all__ = [
    "CircusIni",
    "circus_endpoints",
    "read_circus_ini",
    "read_socket_tables",
    "read_watcher_tables",
]


@dataclass
class CircusIni:
    """What a circus.ini asks for, with the file it came from for error messages."""

    path: Path
    circus: dict[str, str] = field(default_factory=dict)
    watchers: dict[str, WatcherOptions] = field(default_factory=dict)
    sockets: dict[str, SocketOptions] = field(default_factory=dict)


def _parser(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(default_section="\x00none")
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise OptionError(f"{path}: cannot read: {exc.strerror}") from None
    except configparser.Error as exc:
        raise OptionError(f"{path}: not a valid INI file: {exc}") from None
    return parser


def read_circus_ini(path: str | os.PathLike[str]) -> CircusIni:
    """The ``[circus]`` options and the watchers of ``path``; errors name the section."""
    file = Path(path)
    parser = _parser(file)
    found = CircusIni(path=file)
    if parser.has_section("circus"):
        found.circus = dict(parser.items("circus"))
    envs: list[tuple[list[str], dict[str, str]]] = []
    for section in parser.sections():
        kind, sep, names = section.partition(":")
        if kind.strip() == "env" and sep:
            patterns = [n.strip() for n in names.split(",") if n.strip()]
            try:
                envs.append((patterns, parse_env(dict(parser.items(section)))))
            except OptionError as exc:
                raise OptionError(f"{file}: [{section}]: {exc}") from None
    for section in parser.sections():
        kind, sep, name = section.partition(":")
        if kind.strip() == "socket" and sep:
            try:
                found.sockets[name.strip()] = SocketOptions.from_mapping(
                    name.strip(), dict(parser.items(section))
                )
            except OptionError as exc:
                raise OptionError(f"{file}: [{section}]: {exc}") from None
        if kind.strip() != "watcher" or not sep:
            continue
        name = name.strip()
        if not name:
            raise OptionError(f"{file}: [{section}]: the watcher needs a name ([watcher:NAME])")
        values: dict[str, Any] = dict(parser.items(section))
        try:
            options = WatcherOptions.from_mapping(name, values)
        except OptionError as exc:
            raise OptionError(f"{file}: [{section}]: {exc}") from None
        for patterns, env in envs:
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns):
                options.env.update(env)
        options.extra["__name__"] = section
        if name.lower() in (n.lower() for n in found.watchers):
            raise OptionError(f"{file}: [{section}]: a watcher called {name!r} is already defined")
        found.watchers[name] = options
    return found


def circus_endpoints(path: str | os.PathLike[str], *, allow_tcp: bool) -> dict[str, str]:
    """The ``endpoint`` and ``pubsub_endpoint`` that the ``[circus]`` section of ``path``
    names; a ``tcp://`` one is refused unless ``allow_tcp``."""
    file = Path(path)
    parser = _parser(file)
    if not parser.has_section("circus"):
        return {}
    found: dict[str, str] = {}
    for key in ("endpoint", "pubsub_endpoint"):
        value = parser.get("circus", key, fallback="").strip()
        if not value:
            continue
        if value.startswith("tcp://") and not allow_tcp:
            raise OptionError(
                f"{file}: [circus] {key} = {value}: plugyard does not listen unauthenticated "
                "on TCP, where every local account can send commands; use an ipc:// endpoint, "
                "or set [zmq] circus_allow_tcp = true (PLUGYARD_ZMQ__CIRCUS_ALLOW_TCP=true "
                "for plugyard run -c circus.ini) to bind it anyway"
            )
        try:
            check_endpoint(value)
        except ValueError as exc:
            raise OptionError(f"{file}: [circus] {key}: {exc}") from None
        found[key] = value
    return found


def read_watcher_tables(tables: Any, where: str) -> dict[str, WatcherOptions]:
    """Watchers from ``[watchers.NAME]`` tables of plugyard.toml (circus's option names)."""
    if not isinstance(tables, dict):
        raise OptionError(f"{where}: watchers: expected tables [watchers.NAME]")
    found: dict[str, WatcherOptions] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise OptionError(f"{where}: watchers.{name}: expected a table, got {table!r}")
        try:
            found[name] = WatcherOptions.from_mapping(name, dict(table))
        except OptionError as exc:
            raise OptionError(f"{where}: watchers.{name}: {exc}") from None
    return found


def read_socket_tables(tables: Any, where: str) -> dict[str, SocketOptions]:
    """Sockets from ``[sockets.NAME]`` tables of plugyard.toml (circus's option names)."""
    if not isinstance(tables, dict):
        raise OptionError(f"{where}: sockets: expected tables [sockets.NAME]")
    found: dict[str, SocketOptions] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise OptionError(f"{where}: sockets.{name}: expected a table, got {table!r}")
        try:
            found[name] = SocketOptions.from_mapping(name, dict(table))
        except OptionError as exc:
            raise OptionError(f"{where}: sockets.{name}: {exc}") from None
    return found
