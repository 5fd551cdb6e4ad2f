"""The per-host runtime folder (mode 0700) and the ``host.json`` file clients read."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "HostInfoError",
    "default_runtime_dir",
    "ensure_private_dir",
    "read_host_info",
    "write_host_info",
]

HOST_INFO = "host.json"


class HostInfoError(RuntimeError):
    """No running host could be found, or its ``host.json`` cannot be read."""


def default_runtime_dir(name: str) -> Path:
    """``$XDG_RUNTIME_DIR/plugyard/NAME``, else ``$TMPDIR/plugyard-UID/NAME``."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / "plugyard" / name
    return Path(tempfile.gettempdir()) / f"plugyard-{os.getuid()}" / name


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and a private parent) with mode 0700; refuse one owned by someone else."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(f"runtime folder {path} belongs to uid {info.st_uid}, not to us")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def write_host_info(folder: Path, info: dict[str, Any]) -> Path:
    """Write ``host.json`` atomically (readers never see half a file)."""
    target = folder / HOST_INFO
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".host-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2, sort_keys=True, default=str)
    os.replace(tmp, target)
    return target


def read_host_info(folder: Path) -> dict[str, Any]:
    """Read ``host.json``; a missing file or a dead pid is a :class:`HostInfoError`."""
    target = folder / HOST_INFO
    try:
        info = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HostInfoError(f"no host is running here ({target} does not exist)") from None
    except (OSError, ValueError) as exc:
        raise HostInfoError(f"{target}: unreadable: {exc}") from exc
    if not isinstance(info, dict):
        raise HostInfoError(f"{target}: expected a JSON object")
    pid = info.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise HostInfoError(f"the host that wrote {target} (pid {pid}) is gone") from None
        except PermissionError:
            pass
    return info
