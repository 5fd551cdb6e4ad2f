"""A watcher process for the circus tests: records the signals it gets, one line each.

``python circus_watcher_child.py OUT`` appends ``PID started`` to OUT, then ``PID SIGNUM`` for
each SIGUSR1, SIGUSR2 or SIGHUP it receives; SIGTERM ends it.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def main() -> None:
    out = sys.argv[1]

    def record(text: str) -> None:
        with open(out, "a") as handle:
            handle.write(f"{os.getpid()} {text}\n")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        record(str(signum))

    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP):
        signal.signal(sig, on_signal)
    record("started")
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
