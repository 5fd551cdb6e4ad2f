"""Sockets the host binds for its watchers (circus's ``[socket:NAME]``), and the
``$(circus.sockets.NAME)`` placeholders that hand their descriptors to the processes."""

from __future__ import annotations

import contextlib
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any

from ._options import OptionError, to_bool

__all__ = ["BoundSocket", "SocketOptions", "substitute_sockets"]

_PLACEHOLDER = re.compile(r"\$\(circus\.sockets\.([\w.-]+)\)", re.IGNORECASE)
_FAMILIES = {"AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6, "AF_UNIX": socket.AF_UNIX}
_TYPES = {"SOCK_STREAM": socket.SOCK_STREAM, "SOCK_DGRAM": socket.SOCK_DGRAM}


@dataclass
class SocketOptions:
    """One socket's settings, with circus's names and defaults."""

    name: str
    host: str = "localhost"
    port: int = 8080
    family: str = "AF_INET"
    type: str = "SOCK_STREAM"
    backlog: int = 2048
    path: str | None = None
    umask: int = 8
    so_reuseport: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, name: str, values: dict[str, Any]) -> SocketOptions:
        """Options from a ``[socket:NAME]`` section or a ``[sockets.NAME]`` table."""
        options = cls(name=name)
        for key, value in values.items():
            try:
                if key in ("port", "backlog"):
                    setattr(options, key, int(value))
                elif key == "umask":
                    options.umask = int(str(value), 8) if isinstance(value, str) else int(value)
                elif key == "so_reuseport":
                    options.so_reuseport = to_bool(value, key)
                elif key in ("family", "type"):
                    text = str(value).upper()
                    if text not in (_FAMILIES if key == "family" else _TYPES):
                        raise OptionError(f"{key}: unknown value {value!r}")
                    setattr(options, key, text)
                elif key in ("host", "path"):
                    setattr(options, key, str(value))
                else:
                    options.extra[key] = value
            except ValueError as exc:
                raise OptionError(f"{key}: {exc}") from None
        if options.path is not None:
            options.family = "AF_UNIX"
        return options


class BoundSocket:
    """A socket the host has bound; its descriptor is passed to the watchers that use it."""

    def __init__(self, options: SocketOptions) -> None:
        self.options = options
        self.socket: socket.socket | None = None

    @property
    def name(self) -> str:
        """The socket's name."""
        return self.options.name

    def bind(self) -> None:
        """Bind (and listen, for a stream socket); errors name the socket."""
        opts = self.options
        sock = socket.socket(_FAMILIES[opts.family], _TYPES[opts.type])
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if opts.so_reuseport and hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if opts.family == "AF_UNIX":
                assert opts.path is not None
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(opts.path)
                old = os.umask(opts.umask)
                try:
                    sock.bind(opts.path)
                finally:
                    os.umask(old)
            else:
                sock.bind((opts.host, opts.port))
            if opts.type == "SOCK_STREAM":
                sock.listen(opts.backlog)
        except OSError as exc:
            sock.close()
            where = opts.path if opts.family == "AF_UNIX" else f"{opts.host}:{opts.port}"
            raise OSError(f"socket {opts.name!r}: cannot bind {where}: {exc.strerror}") from None
        sock.set_inheritable(True)
        self.socket = sock

    def close(self) -> None:
        """Close the socket (and remove a Unix socket's file)."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None
            if self.options.family == "AF_UNIX" and self.options.path:
                with contextlib.suppress(OSError):
                    os.unlink(self.options.path)

    def fileno(self) -> int:
        """The descriptor; a socket not bound yet is an error naming it."""
        if self.socket is None:
            raise OptionError(f"socket {self.name!r} is not bound")
        return self.socket.fileno()

    def info(self) -> dict[str, Any]:
        """The entry ``listsockets`` gives: ``fd``, ``name``, ``backlog``, and ``host`` and
        ``port`` or ``path``."""
        data: dict[str, Any] = {
            "fd": self.fileno(),
            "name": self.name,
            "backlog": self.options.backlog,
        }
        if self.options.family == "AF_UNIX":
            data["path"] = self.options.path
        else:
            assert self.socket is not None
            data["host"] = self.options.host
            data["port"] = self.socket.getsockname()[1]
        return data


def substitute_sockets(text: str, sockets: dict[str, BoundSocket]) -> tuple[str, list[int]]:
    """``text`` with each ``$(circus.sockets.NAME)`` replaced by the socket's descriptor, and
    the descriptors it used."""
    used: list[int] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        found = sockets.get(name) or next(
            (s for n, s in sockets.items() if n.lower() == name.lower()), None
        )
        if found is None:
            raise OptionError(f"$(circus.sockets.{name}): no socket called {name!r}")
        fd = found.fileno()
        used.append(fd)
        return str(fd)

    return _PLACEHOLDER.sub(replace, text), used
