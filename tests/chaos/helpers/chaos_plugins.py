"""Plugins the chaos tests run in a real host: a pod plugin that writes numbered items for as
long as it lives, and an event subscriber that records what it receives."""

from __future__ import annotations

import json
import os
from typing import Any

from plugyard.sdk.pod import Item, PodPlugin
from plugyard.sdk.subscriber import SubscriberPlugin


class Tick(Item):
    n: int | None


class Ticker(PodPlugin):
    """Writes ``Tick(n)`` items 0, 1, 2 ... one request each, until it is stopped."""

    schema_classes = [Tick]

    def __init__(self, count: int = 1_000_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = count

    def run(self) -> None:
        for n in range(self.count):
            self.client.create(Tick(n=n))


class Journal(SubscriberPlugin):
    """Appends one JSON line per event (with this process's pid) to ``out``."""

    name = "journal"

    def handle_init(self) -> None:
        self.out = open(self.config["out"], "a", buffering=1)  # noqa: SIM115
        self.out.write(json.dumps({"init": os.getpid()}) + "\n")

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        topic, body = data
        message = self.load_message(body)
        line = {"topic": topic.decode(), "seq": message.get("seq"), "pid": os.getpid()}
        self.out.write(json.dumps(line) + "\n")

    def handle_stop(self) -> None:
        self.out.close()
