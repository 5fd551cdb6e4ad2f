"""Tasks for the adapter's tests."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from plugyard.sdk.tasks import CancelableTask, app

IMPORTS = Path(os.environ.get("CELERY_SAMPLE_IMPORTS", os.devnull))
with IMPORTS.open("a") as _log:
    _log.write(f"{os.getpid()}\n")


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task(bind=True)
def countdown(self: Any, n: int, step: float = 0.02) -> str:
    """Counts down, checking ``canceled`` each step (the cancelable loop)."""
    for i in range(n):
        if self.canceled:
            return "canceled"
        self.update_progress(i + 1, n, f"step {i + 1}")
        time.sleep(step)
    return "done"


@app.task(bind=True)
def until_canceled(self: Any, step: float = 0.01, limit: float = 120.0) -> str:
    """Reports progress each step until canceled: a cancel test can never lose the race to it.

    ``limit`` only bounds a test that forgets to cancel; it returns "not canceled" then.
    """
    deadline = time.monotonic() + limit
    total = max(1, round(limit / step))
    done = 0
    while time.monotonic() < deadline:
        if self.canceled:
            return "canceled"
        done += 1
        self.update_progress(done, total, f"step {done}")
        time.sleep(step)
    return "not canceled"


@app.task(time_limit=3)
def overrun(seconds: float) -> float:
    """A task with its own 3 s time limit, for the time-limit tests."""
    time.sleep(seconds)
    return seconds


@app.task(base=CancelableTask)
def sleeper(seconds: float) -> float:
    """A plain task that never looks at ``canceled``."""
    time.sleep(seconds)
    return seconds


@app.task
def fail(message: str) -> None:
    raise ValueError(message)


@app.task(bind=True, acks_late=True)
def once(self: Any, path: str, seconds: float) -> int:
    """Appends a line per run to ``path``, sleeps, returns how many runs there were."""
    with open(path, "a") as out:
        out.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return len(Path(path).read_text().splitlines())


@app.task(base=CancelableTask)
def counted(path: str, seconds: float) -> int:
    """As ``once``, for a task that acknowledges early (at most one run)."""
    with open(path, "a") as out:
        out.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return len(Path(path).read_text().splitlines())


@app.task(bind=True)
def reporter(self: Any, name: str) -> str:
    """Prints, logs and reports through its job manager (girder_worker's API)."""
    import logging
    import sys

    print(f"hello {name}")
    sys.stderr.write("half a line")
    sys.stderr.write(" on stderr\n")
    logging.getLogger("celery_sample.reporter").warning("careful, %s", name)
    self.job_manager.updateProgress(total=10, current=7, message="seven")
    self.job_manager.updateProgress(current=8)
    self.job_manager.write("from the job manager\n")
    print("no newline at the end", end="")
    return name
