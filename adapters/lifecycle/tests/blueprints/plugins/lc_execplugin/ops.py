"""Operations that show where they ran: pids in runtime properties and files, sleeps, crashes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from plugyard.sdk.lifecycle import RecoverableError, ctx, operation


def _note(path: str | None) -> None:
    if path:
        with Path(path).open("a") as out:
            out.write(f"{os.getpid()}\n")


@operation
def record_pid(**kwargs: Any) -> None:
    """Record this process's pid; log a line."""
    ctx.instance.runtime_properties["pid"] = os.getpid()
    ctx.instance.runtime_properties["seen"] = kwargs.get("value")
    ctx.logger.info("ran in %s", os.getpid())


@operation
def link(**kwargs: Any) -> None:
    """A relationship operation: each end learns the other's id."""
    ctx.source.instance.runtime_properties["target"] = ctx.target.instance.id
    ctx.target.instance.runtime_properties["source"] = ctx.source.instance.id


@operation
def sleep(seconds: float = 60.0, pids: str | None = None, **kwargs: Any) -> None:
    """Save the pid now (``update()``, over the pipe), note it in a file, then sleep."""
    ctx.instance.runtime_properties["sleeper"] = os.getpid()
    ctx.instance.update()
    _note(pids)
    time.sleep(seconds)
    ctx.instance.runtime_properties["woke"] = True


@operation
def flaky(pids: str | None = None, **kwargs: Any) -> None:
    """Fail the first attempt, with a retry_after; succeed on the next."""
    _note(pids)
    if ctx.operation.retry_number == 0:
        raise RecoverableError("not yet", retry_after=0)
    ctx.instance.runtime_properties["attempts"] = ctx.operation.retry_number + 1


@operation
def crash(pids: str | None = None, **kwargs: Any) -> None:
    """Die without a word."""
    _note(pids)
    os._exit(3)


@operation
def broken(**kwargs: Any) -> None:
    """An ordinary exception from plugin code."""
    raise KeyError("missing-thing")


@operation
def resource(**kwargs: Any) -> None:
    """Read a resource of the blueprint's folder through ctx."""
    ctx.instance.runtime_properties["text"] = ctx.get_resource("data.txt").decode()


def _hold(pids: str, release: str) -> None:
    _note(pids)
    ctx.logger.info("holding in %s", os.getpid())
    deadline = time.monotonic() + 120
    while not Path(release).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{release} did not appear within 120s")
        time.sleep(0.05)
    ctx.instance.runtime_properties["held_by"] = os.getpid()


@operation(resumable=True)
def hold(pids: str, release: str, **kwargs: Any) -> None:
    """Note the pid, then wait for the release file (safe to run again)."""
    _hold(pids, release)


@operation(resumable=False)
def hold_once(pids: str, release: str, **kwargs: Any) -> None:
    """Like ``hold``, but not safe to run twice."""
    _hold(pids, release)
