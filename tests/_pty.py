"""Run a command on a pseudo-terminal and collect what it wrote, for the progress tests."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Mapping, Sequence


def run_on_a_terminal(
    command: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[int, str]:
    """Run ``command`` with its stdout and stderr on a new pseudo-terminal; return its exit
    status and everything it wrote."""
    main, secondary = pty.openpty()
    environ = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", **(env or {})}
    environ.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                raise TimeoutError(f"{command[0]} did not finish in {timeout}s")
            ready, _, _ = select.select([main], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(main)
    return proc.wait(timeout), b"".join(chunks).decode("utf-8", "replace")
