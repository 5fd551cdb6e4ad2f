"""hello-hooks tested with plugyard-sdk alone: no host is installed to run these."""

from __future__ import annotations

import importlib.util
from typing import Any

from hello_hooks import HelloPlugin

from plugyard.sdk import Command, Event


class FakeHost:
    name = "test"

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, **data: Any) -> None:
        self.published.append((topic, data))


def test_the_host_is_not_installed() -> None:
    assert importlib.util.find_spec("plugyard.host") is None


def test_startup_greets_and_the_command_counts_events() -> None:
    plugin, host = HelloPlugin(greeting="Hi"), FakeHost()
    plugin.plugyard_startup(host)
    assert host.published == [("hello.greeted", {"greeting": "Hi"})]
    for seq in (1, 2):
        plugin.plugyard_event(Event("x", {}, "test", 0.0, f"t-{seq}", seq))
    (command,) = plugin.plugyard_commands(host)
    assert isinstance(command, Command)
    assert command.name == "hello"
    assert command.params["name"].default == "world"
    assert command.handler(name="you") == {"message": "Hi, you!", "events_seen": 2}
