"""Test helpers for plugin authors that need no host, and a pytest plugin (``pytest11``).

* :class:`EventRecorder` keeps every event a host publishes and waits for the ones a test
  expects.
* :func:`require_service` makes sure a local server (PostgreSQL, Redis, RabbitMQ) answers.
* The ``mock_ctx`` fixture sets a lifecycle ``MockContext`` as the current ``ctx``.

Helpers that run a host (``run_host``, ``HostRunner`` and the ``plugyard_host`` fixture) are
in :mod:`plugyard.host.testing`: the SDK never imports the host.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ._events import Event

__all__ = ["SERVICES", "EventRecorder", "mock_ctx", "require_service"]

_MOVED = {"run_host", "HostRunner", "plugyard_host"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        raise AttributeError(
            f"plugyard.sdk.testing.{name} has moved to plugyard.host.testing (the SDK never "
            "imports the host): from plugyard.host.testing import " + name
        )
    raise AttributeError(f"module 'plugyard.sdk.testing' has no attribute {name!r}")


def _fixture(func: Callable[..., Any]) -> Any:
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is not installed
        return func
    return pytest.fixture(func)


class EventRecorder:
    """Records the events of a host (all, or those matching a glob pattern).

    Example::

        recorder = EventRecorder.attach(host, "plugin.*")
        ...
        recorder.wait_for("plugin.web.started", timeout=5)
    """

    def __init__(self, pattern: str = "*") -> None:
        self.pattern = pattern
        self.events: list[Event] = []
        self._cond = threading.Condition()

    @classmethod
    def attach(cls, host: Any, pattern: str = "*") -> EventRecorder:
        """A recorder subscribed to ``host``'s events."""
        recorder = cls(pattern)
        host.subscribe(pattern, recorder, name="EventRecorder")
        return recorder

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    @property
    def topics(self) -> list[str]:
        """The topics recorded so far, in order."""
        with self._cond:
            return [event.topic for event in self.events]

    def matching(self, pattern: str) -> list[Event]:
        """The events recorded so far whose topic matches the glob ``pattern``."""
        with self._cond:
            return [e for e in self.events if fnmatch.fnmatchcase(e.topic, pattern)]

    def clear(self) -> None:
        """Forget what was recorded."""
        with self._cond:
            self.events.clear()

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 5.0) -> list[Event]:
        """Block until ``count`` events match ``pattern``; ``TimeoutError`` names what arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self.events if fnmatch.fnmatchcase(e.topic, pattern)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(e.topic for e in self.events[-10:]) or "nothing"
                    raise TimeoutError(
                        f"waited {timeout:g}s for {count} event(s) matching {pattern!r}; "
                        f"got {len(found)} (last events: {seen})"
                    )
                self._cond.wait(remaining)

    async def await_for(self, pattern: str, *, count: int = 1, timeout: float = 5.0) -> list[Event]:
        """:meth:`wait_for` for async tests (polls without blocking the loop)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.matching(pattern)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                return self.wait_for(pattern, count=count, timeout=0)
            await asyncio.sleep(0.005)


SERVICES: dict[str, tuple[str, int, str]] = {
    "postgresql": (
        "127.0.0.1",
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "redis": (
        "127.0.0.1",
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    ),
    "rabbitmq": ("127.0.0.1", 5672, "rabbitmq-server -detached"),
}
"""The local servers tests may use: address, port, and the command that starts each."""


def _answers(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, *, wait: float = 30.0) -> tuple[str, int]:
    """Make sure a local server answers, starting it if it is down; returns its address.

    If it cannot be had, the test is skipped with a reason naming the service, or fails
    when ``PLUGYARD_REQUIRE_SERVICES=1`` (as in CI).
    """
    import os
    import subprocess

    import pytest

    host, port, start = SERVICES[name]
    if not _answers(host, port):
        try:
            subprocess.run(start, shell=True, capture_output=True, timeout=wait, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
        deadline = time.monotonic() + wait
        while not _answers(host, port) and time.monotonic() < deadline:
            time.sleep(0.5)
    if not _answers(host, port):
        reason = f"{name} is not reachable on {host}:{port} and could not be started"
        if os.environ.get("PLUGYARD_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (PLUGYARD_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return host, port


@_fixture
def mock_ctx(request: Any) -> Iterator[Any]:
    """A lifecycle ``MockContext`` set as the current ``ctx`` for the test, cleared after.

    Options come from indirect parametrization:
    ``@pytest.mark.parametrize("mock_ctx", [{"properties": {"port": 8000}}], indirect=True)``.
    """
    from plugyard.sdk.lifecycle import current_ctx
    from plugyard.sdk.lifecycle.testing import MockContext

    options = dict(getattr(request, "param", None) or {})
    mock = MockContext(**{"node_id": "node", **options})
    with current_ctx.push(mock):
        yield mock
