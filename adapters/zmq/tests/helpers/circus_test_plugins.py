"""A plugin written for circus itself (circus.plugins.CircusPlugin), used against plugyard."""

from __future__ import annotations

import json
from typing import Any

from circus.plugins import CircusPlugin


class Probe(CircusPlugin):
    """Records the watcher events it gets; on the target's first ``start`` it calls the host."""

    name = "probe"

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.out = config["out"]
        self.target = config["target"]
        self.called = False

    def write(self, record: dict[str, Any]) -> None:
        with open(self.out, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def handle_recv(self, data: list[bytes]) -> None:
        watcher_name, action, msg = self.split_data(data)
        self.write(
            {
                "topic": data[0].decode(),
                "watcher": watcher_name,
                "action": action,
                "msg": self.load_message(msg),
            }
        )
        if action == "start" and watcher_name == self.target and not self.called:
            self.called = True
            self.write(
                {
                    "calls": {
                        "list": self.call("list"),
                        "list_name": self.call("list", name=self.target),
                        "status": self.call("status", name=self.target),
                        "stats": self.call("stats", name=self.target),
                        "unknown": self.call("nosuchcommand", name=self.target),
                        "incr": self.call("incr", name=self.target),
                        "stop": self.call("stop", name=self.target),
                    }
                }
            )
