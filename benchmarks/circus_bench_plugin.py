"""The circus side of bench_zmq.py: a CircusPlugin that decodes and counts, as circus's own
plugins do (``split_data`` + ``load_message``)."""

from __future__ import annotations

import time
from typing import Any

from circus.plugins import CircusPlugin


class CircusCounter(CircusPlugin):
    name = "bench_counter"

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.count = 0
        self.last = 0.0
        self.ready = False
        self.done = False

    def handle_recv(self, data: list[bytes]) -> None:
        watcher, action, msg = self.split_data(data)
        self.load_message(msg)
        if watcher == "bench":
            self.count += 1
            self.last = time.perf_counter()
        elif action == "ping" and not self.ready:
            self.ready = True
            self.cast("bench_ready")
        elif action == "end" and not self.done:
            self.done = True
            self.call("bench_result", count=self.count, last=self.last)
            self.loop.stop()
