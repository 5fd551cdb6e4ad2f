"""Test helpers for plugin authors, and a pytest plugin (registered as ``pytest11``).

* :class:`EventRecorder` keeps every event a host publishes and waits for the ones a test
  expects.
* :func:`run_host` is an async context manager: a started host with the plugins you name.
* :class:`HostRunner` runs a host on a background thread so that plain (sync) tests can
  drive it; the ``plugyard_host`` fixture gives one, configured by
  ``@pytest.mark.plugyard(plugins=[...], config={...})``.

The SDK does not depend on the host: these helpers import ``plugyard.host`` when used.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import importlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar

from ._events import Event

__all__ = [
    "SERVICES",
    "EventRecorder",
    "HostRunner",
    "mock_ctx",
    "plugyard_host",
    "require_service",
    "run_host",
]

_T = TypeVar("_T")


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


def _host_module() -> Any:
    try:
        return importlib.import_module("plugyard.host")
    except ImportError as exc:  # pragma: no cover - the SDK installed without the host
        raise RuntimeError("plugyard.sdk.testing needs plugyard-host to run a host") from exc


@contextlib.asynccontextmanager
async def run_host(
    plugins: Any = (),
    config: Mapping[str, Any] | None = None,
    *,
    adapters: Any = (),
    autoload: bool = False,
) -> AsyncIterator[Any]:
    """A started host with ``plugins`` (objects, or a name-to-object mapping), stopped after.

    Entry points are not loaded unless ``autoload=True``, so tests see only what they name.
    """
    host = _host_module().Host(config, autoload=autoload, plugins=plugins, adapters=adapters)
    recorder = EventRecorder.attach(host)
    host.recorder = recorder
    async with host:
        yield host


class HostRunner:
    """A host running on its own thread and loop, driven from synchronous code."""

    def __init__(
        self,
        plugins: Any = (),
        config: Mapping[str, Any] | None = None,
        *,
        adapters: Any = (),
        autoload: bool = False,
    ) -> None:
        self._args = (plugins, config, adapters, autoload)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="plugyard-host", daemon=True
        )
        self.host: Any = None
        self.events = EventRecorder()

    def run(self, coro: Coroutine[Any, Any, _T] | Awaitable[_T], timeout: float = 30.0) -> _T:
        """Run a coroutine on the host's loop and return its result."""

        async def wrap() -> _T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def start(self) -> HostRunner:
        """Start the loop thread and the host."""
        plugins, config, adapters, autoload = self._args
        self._thread.start()
        self.host = _host_module().Host(
            config, autoload=autoload, plugins=plugins, adapters=adapters
        )
        self.host.subscribe("*", self.events, name="EventRecorder")
        self.run(self.host.start())
        return self

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        """Run a host command and return its reply."""
        result: dict[str, Any] = self.run(self.host.call(command, **props))
        return result

    def publish(self, topic: str, **data: Any) -> Event:
        """Publish an event on the host."""
        event: Event = self.host.publish(topic, **data)
        return event

    def stop(self) -> None:
        """Stop the host, then the loop thread."""
        if self.host is not None:
            self.run(self.host.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> HostRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _marker_kwargs(request: Any) -> dict[str, Any]:
    marker = request.node.get_closest_marker("plugyard")
    return dict(marker.kwargs) if marker is not None else {}


def pytest_configure(config: Any) -> None:
    """Register the ``plugyard`` marker."""
    config.addinivalue_line(
        "markers",
        "plugyard(plugins=[...], config={...}, adapters=[...]): configure the "
        "plugyard_host fixture",
    )


def _fixture(func: Callable[..., Any]) -> Any:
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is not installed
        return func
    return pytest.fixture(func)


@_fixture
def plugyard_host(request: Any) -> Iterator[HostRunner]:
    """A started host on a background thread, with the plugins the test's marker names."""
    options = _marker_kwargs(request)
    with HostRunner(
        options.get("plugins", ()),
        options.get("config"),
        adapters=options.get("adapters", ()),
        autoload=options.get("autoload", False),
    ) as runner:
        yield runner


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
