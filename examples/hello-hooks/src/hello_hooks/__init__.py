"""A plugyard plugin made of plain hook implementations. It depends on ``plugyard-sdk``
alone: the contracts it implements (hook markers, events, commands) all live there."""

from __future__ import annotations

import logging
from typing import Any

from plugyard.sdk import Command, Event, Param, hookimpl

__all__ = ["HelloPlugin"]

logger = logging.getLogger(__name__)


class HelloPlugin:
    """Greets when the host starts, counts events, and answers the ``hello`` command."""

    def __init__(self, greeting: str = "Hello") -> None:
        self.greeting = greeting
        self.seen = 0

    @hookimpl
    def plugyard_startup(self, host: Any) -> None:
        logger.info("%s from hello-hooks, on host %r", self.greeting, host.name)
        host.publish("hello.greeted", greeting=self.greeting)

    @hookimpl
    def plugyard_event(self, event: Event) -> None:
        self.seen += 1

    @hookimpl
    def plugyard_commands(self, host: Any) -> list[Command]:
        def hello(name: str = "world") -> dict[str, Any]:
            return {"message": f"{self.greeting}, {name}!", "events_seen": self.seen}

        return [Command("hello", hello, "Greet someone", {"name": Param(str, default="world")})]

    @hookimpl
    def plugyard_shutdown(self) -> None:
        logger.info("goodbye from hello-hooks after %d events", self.seen)
