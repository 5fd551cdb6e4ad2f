"""A plugyard subscriber plugin that logs every host event to a file (the circus tutorial's
``Logger``, ported)."""

from __future__ import annotations

from typing import IO, Any

from plugyard.sdk.subscriber import SubscriberPlugin

__all__ = ["Logger"]


class Logger(SubscriberPlugin):
    """Append ``ACTION NAME::DATA`` for every event to the file named by ``filename``."""

    name = "logger"

    def __init__(self, *args: Any, **config: Any) -> None:
        super().__init__(*args, **config)
        self.filename = str(config.get("filename", "plugyard-events.log"))
        self.file: IO[str] | None = None

    def handle_init(self) -> None:
        self.file = open(self.filename, "a+", buffering=1)  # noqa: SIM115 - closed in handle_stop

    def handle_stop(self) -> None:
        if self.file is not None:
            self.file.close()

    def handle_recv(self, data: tuple[bytes, bytes]) -> None:
        name, action, msg = self.split_data(data)
        msg_dict = self.load_message(msg)
        assert self.file is not None
        self.file.write(f"{action} {name}::{msg_dict!r}\n")
