"""Test helpers that run a host, and the pytest plugin with the ``plugyard_host`` fixture.

* :func:`run_host` is an async context manager: a started host with the plugins you name.
* :class:`HostRunner` runs a host on a background thread so that plain (sync) tests can
  drive it; the ``plugyard_host`` fixture gives one, configured by
  ``@pytest.mark.plugyard(plugins=[...], config={...})``.

:class:`~plugyard.sdk.testing.EventRecorder`, ``require_service`` and the ``mock_ctx`` fixture
need no host and stay in :mod:`plugyard.sdk.testing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import warnings
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator, Mapping
from typing import Any, TypeVar

import pytest

from plugyard.sdk import Event
from plugyard.sdk.testing import EventRecorder

from ._host import Host

__all__ = ["EventRecorder", "HostRunner", "plugyard_host", "run_host"]

_T = TypeVar("_T")


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
    host = Host(config, autoload=autoload, plugins=plugins, adapters=adapters)
    host.recorder = EventRecorder.attach(host)  # type: ignore[attr-defined]
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
        self.host = Host(config, autoload=autoload, plugins=plugins, adapters=adapters)
        self.host.subscribe("*", self.events, name="EventRecorder")
        self.run(self.host.start())
        return self

    def run_command(self, command: str, **props: Any) -> dict[str, Any]:
        """Run a host command and return its reply."""
        result: dict[str, Any] = self.run(self.host.run_command(command, **props))
        return result

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        """Deprecated name of :meth:`run_command`."""
        warnings.warn(
            "HostRunner.call() is now HostRunner.run_command()", DeprecationWarning, stacklevel=2
        )
        return self.run_command(command, **props)

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


def _marker_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("plugyard")
    return dict(marker.kwargs) if marker is not None else {}


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``plugyard`` marker."""
    config.addinivalue_line(
        "markers",
        "plugyard(plugins=[...], config={...}, adapters=[...]): configure the "
        "plugyard_host fixture",
    )


@pytest.fixture
def plugyard_host(request: pytest.FixtureRequest) -> Iterator[HostRunner]:
    """A started host on a background thread, with the plugins the test's marker names."""
    options = _marker_kwargs(request)
    with HostRunner(
        options.get("plugins", ()),
        options.get("config"),
        adapters=options.get("adapters", ()),
        autoload=options.get("autoload", False),
    ) as runner:
        yield runner
