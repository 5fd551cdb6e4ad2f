"""Owner marks: which process started a piece of stored work, so that a host starting later
can tell work whose process died (and will never finish it) from work still under way."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Literal

__all__ = ["OwnerState", "owner_mark", "owner_state", "process_exists"]

OwnerState = Literal["this process", "alive", "gone", "unknown"]
"""What :func:`owner_state` says of a mark."""

_PROCESS_TOKEN = uuid.uuid4().hex[:12]


def owner_mark() -> str:
    """A mark naming this process (machine, pid and a token of this process's own), to be
    stored with work it starts."""
    return f"{socket.gethostname()}/{os.getpid()}/{_PROCESS_TOKEN}"


def owner_state(mark: str | None) -> OwnerState:
    """Whether the process a mark names is this one, still alive, or gone.

    ``unknown`` for a mark from another machine, or none at all: nothing here can tell
    whether that process still runs.
    """
    if not mark:
        return "unknown"
    machine, _, rest = mark.partition("/")
    pid_text, _, token = rest.partition("/")
    if machine != socket.gethostname() or not pid_text.isdigit():
        return "unknown"
    pid = int(pid_text)
    if pid == os.getpid():
        return "this process" if token == _PROCESS_TOKEN else "gone"
    return "alive" if process_exists(pid) else "gone"


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs.

    A zombie does not: a process killed with SIGKILL whose parent died too waits, as a
    zombie, for the machine's init to reap it, which can take a while (some container inits
    reap late), and meanwhile ``kill(pid, 0)`` still finds it. A process of another user
    counts as running.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc (or it just went): kill() found it
    return not fields or fields[0] not in (b"Z", b"X")
