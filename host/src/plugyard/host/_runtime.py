"""The per-host runtime folder (mode 0700) and the ``host.json`` file clients read.

Everything here trusts a path only after checking it from the root down: every folder on the
way belongs to root or to us, and none lets another user rename or replace what it holds
(group- or world-writable without the sticky bit). The runtime folder and the files read from
it belong to us and are writable by nobody else. A folder another user created first (say
``/tmp/plugyard-UID`` made with mode 0777 before the host ever ran) is refused, never used.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from ._owners import process_exists

__all__ = [
    "HostInfoError",
    "UnsafePathError",
    "check_private_path",
    "default_runtime_dir",
    "ensure_private_dir",
    "read_host_info",
    "read_private_file",
    "write_host_info",
]

HOST_INFO = "host.json"


class HostInfoError(RuntimeError):
    """No running host could be found, or its ``host.json`` cannot be read."""


class UnsafePathError(HostInfoError, PermissionError):
    """A runtime folder or file that another user could have created, replaced or written."""


_LOOSE = stat.S_IWGRP | stat.S_IWOTH


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.getuid())


def _check_component(path: Path, info: os.stat_result) -> None:
    if not _trusted_owner(info.st_uid):
        raise UnsafePathError(
            f"{path} belongs to uid {info.st_uid}, neither to us (uid {os.getuid()}) nor to "
            "root: another user could replace what it holds; refusing to use it"
        )
    if stat.S_ISDIR(info.st_mode) and info.st_mode & _LOOSE and not info.st_mode & stat.S_ISVTX:
        raise UnsafePathError(
            f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):04o}) "
            "without the sticky bit; refusing to use what it holds"
        )


def _check_chain(path: Path) -> None:
    """Every folder from ``/`` down to ``path`` (inclusive), symbolic links included."""
    path = Path(os.path.abspath(path))
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        info = os.lstat(current)
        _check_component(current, info)
        if stat.S_ISLNK(info.st_mode):
            _check_chain(Path(os.path.realpath(current)))
            current = Path(os.path.realpath(current))


def check_private_path(path: Path) -> None:
    """Refuse ``path`` unless it and every folder above it are safe from other users.

    The folders above belong to root or to us and are not writable by others (a sticky
    folder such as ``/tmp`` is fine); ``path`` itself belongs to us and nobody else can
    write it. Raises :class:`UnsafePathError` (a missing path is a ``FileNotFoundError``).
    """
    path = Path(os.path.abspath(path))
    _check_chain(path.parent)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(f"{path} is a symbolic link; refusing to follow it")
    if info.st_uid != os.getuid():
        raise UnsafePathError(
            f"{path} belongs to uid {info.st_uid}, not to us (uid {os.getuid()}); "
            "refusing to use it"
        )
    if info.st_mode & _LOOSE:
        raise UnsafePathError(
            f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
            "refusing to use it"
        )


def read_private_file(path: Path) -> str:
    """The text of a file only we could have written (a token, ``host.json``).

    The file is opened without following a symbolic link, and checked, together with every
    folder above it, as :func:`check_private_path` says; anything else is an
    :class:`UnsafePathError`.
    """
    path = Path(os.path.abspath(path))
    _check_chain(path.parent)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{path} is not a regular file; refusing to read it")
        if info.st_uid != os.getuid() or info.st_mode & _LOOSE:
            raise UnsafePathError(
                f"{path} belongs to uid {info.st_uid} with mode "
                f"{stat.S_IMODE(info.st_mode):04o}: another user could have written it; "
                "refusing to read it"
            )
        return handle.read()


def default_runtime_dir(name: str) -> Path:
    """``$XDG_RUNTIME_DIR/plugyard/NAME``, else ``$TMPDIR/plugyard-UID/NAME``."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / "plugyard" / name
    return Path(tempfile.gettempdir()) / f"plugyard-{os.getuid()}" / name


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parent with mode 0700, and check it from ``/`` down.

    A folder on the way that another user owns, or could rename entries in, is an
    :class:`UnsafePathError` (a ``PermissionError``); so is ``path`` itself if it belongs to
    someone else. Our own ``path`` with a looser mode is tightened to 0700.
    """
    path = Path(os.path.abspath(path))
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass  # made at the same time by another of our processes; checked below
    _check_chain(path.parent)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"runtime folder {path} is not a folder (or is a symbolic link)")
    if info.st_uid != os.getuid():
        raise UnsafePathError(
            f"runtime folder {path} belongs to uid {info.st_uid}, not to us "
            f"(uid {os.getuid()}); refusing to use it"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def ensure_runtime_dir(path: Path, where: str) -> Path:
    """:func:`ensure_private_dir` for a host's runtime folder: a folder that cannot be made,
    or is unsafe, is a ``ConfigError`` naming ``where`` (the configuration file)."""
    from ._config import ConfigError

    try:
        return ensure_private_dir(path)
    except UnsafePathError as exc:
        raise ConfigError(f"{where}: host.runtime_dir: {exc}") from None
    except OSError as exc:
        raise ConfigError(
            f"{where}: host.runtime_dir: cannot create {path}: {exc.strerror or exc}"
        ) from None


def write_host_info(folder: Path, info: dict[str, Any]) -> Path:
    """Write ``host.json`` atomically (readers never see half a file)."""
    target = folder / HOST_INFO
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".host-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2, sort_keys=True, default=str)
    os.replace(tmp, target)
    return target


def read_host_info(folder: Path) -> dict[str, Any]:
    """Read ``host.json``; a missing file or a dead pid is a :class:`HostInfoError`.

    The folder and the file are checked first (:func:`check_private_path`): a ``host.json``
    another user could have written is an :class:`UnsafePathError`, never trusted.
    """
    target = folder / HOST_INFO
    try:
        check_private_path(folder)
        info = json.loads(read_private_file(target))
    except FileNotFoundError:
        raise HostInfoError(f"no host is running here ({target} does not exist)") from None
    except UnsafePathError:
        raise
    except (OSError, ValueError) as exc:
        raise HostInfoError(f"{target}: unreadable: {exc}") from exc
    if not isinstance(info, dict):
        raise HostInfoError(f"{target}: expected a JSON object")
    pid = info.get("pid")
    if isinstance(pid, int) and not process_exists(pid):
        raise HostInfoError(f"the host that wrote {target} (pid {pid}) is gone")
    return info
