"""Plugins the two-process bridge tests and the benchmark run on their hosts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugyard.sdk import hookimpl
from plugyard.sdk.events import EventPlugin


@dataclass
class Tick:
    """The payload of ``tick`` events."""

    n: int


class Burst:
    """Once the host has started, publish ``count`` ``events.tick`` events (``n`` from
    ``start``), write the host's id to ``$BRIDGE_TEST_ORIGIN``, then stop the host."""

    def __init__(self, count: int = 1000, start: int = 0) -> None:
        self.count = count
        self.start = start

    @hookimpl
    def plugyard_started(self, host: Any) -> None:
        Path(os.environ["BRIDGE_TEST_ORIGIN"]).write_text(host.id, encoding="utf-8")
        for n in range(self.start, self.start + self.count):
            host.publish("events.tick", n=n)
        host.request_stop()


class TickRecorder(EventPlugin):
    """Appends ``ORIGIN N`` for every ``tick`` it handles to ``$BRIDGE_TEST_OUT``."""

    event_name = "tick"

    async def handle_event(self, n: int, origin: str) -> None:  # type: ignore[override]
        _append(Path(os.environ["BRIDGE_TEST_OUT"]), f"{origin} {n}\n")


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line)
