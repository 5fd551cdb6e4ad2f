"""A watcher process that leaves a child of its own in a new session (out of its process
group, so that a group signal misses it), as daemonising programs do.

``python circus_forking_child.py OUT`` writes the grandchild's pid to OUT, then waits.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main() -> None:
    kid = os.fork()
    if kid == 0:
        os.setsid()
        while True:
            time.sleep(60)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(str(kid))
    os.replace(tmp, sys.argv[1])
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
