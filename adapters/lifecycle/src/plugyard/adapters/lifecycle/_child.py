"""The child-process side of the ``process`` executor: ``ctx`` over a pipe to the engine."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from plugyard.sdk.lifecycle import VersionConflict

from ._remote import OPERATIONS_LOGGER, run_request

__all__ = ["PipeBackend", "main", "main_over"]


class PipeBackend:
    """A context backend whose every call is answered by the engine's process."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def _call(self, method: str, *args: Any) -> Any:
        with self.lock:
            self.conn.send(("call", method, args))
            kind, value = self.conn.recv()
        if kind == "ok":
            return value
        if kind == "conflict":
            raise VersionConflict(*value)
        raise value

    def send(self, message: tuple[Any, ...]) -> None:
        """Send one message that needs no answer (a log record, the outcome)."""
        with self.lock:
            self.conn.send(message)

    def load_runtime_properties(self, instance_id: str) -> tuple[dict[str, Any], int]:
        data, version = self._call("load_runtime_properties", instance_id)
        return dict(data), int(version)

    def save_runtime_properties(
        self, instance_id: str, properties: dict[str, Any], version: int
    ) -> int:
        return int(self._call("save_runtime_properties", instance_id, properties, version))

    def read_resource(self, path: str) -> bytes:
        return bytes(self._call("read_resource", path))

    def workdir(self, plugin_name: str) -> Path | None:
        value = self._call("workdir", plugin_name)
        return Path(value) if value is not None else None


def main(conn: Any, request: dict[str, Any]) -> None:
    """Run one operation and send its outcome; the process's entry point."""
    backend = PipeBackend(conn)
    # ctx.logger's records go to the engine, which logs them; not to this process's stderr.
    logging.getLogger(OPERATIONS_LOGGER).propagate = False
    try:
        outcome = run_request(
            request,
            backend,
            lambda record: backend.send(("log", record)),
            lambda: backend.send(("started",)),
        )
        backend.send(("result", outcome))
    finally:
        conn.close()


def main_over(fd: int) -> None:
    """Run one operation for an engine that started this Python on its own (a plugin's
    virtual environment): ``fd`` is a socket whose first message is the request."""
    from multiprocessing.connection import Connection

    connection = Connection(fd)
    main(connection, connection.recv())
