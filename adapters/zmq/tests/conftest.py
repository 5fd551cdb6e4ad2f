"""Fixtures for the zmq adapter's tests: a short private runtime folder, importable test
plugins (for the host and for its child processes), and a running host."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from plugyard.adapters.zmq import ZmqService

HELPERS = Path(__file__).parent / "helpers"


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A short folder (ipc:// paths must stay under 107 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="pyz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def test_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make tests/helpers importable here and in plugin processes."""
    monkeypatch.syspath_prepend(str(HELPERS))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(HELPERS) + (os.pathsep + path if path else ""))
    return HELPERS


def host_config(runtime_dir: Path, **sections: Any) -> dict[str, Any]:
    """A configuration with its own runtime folder and the given sections."""
    config: dict[str, Any] = {"host": {"name": "t", "runtime_dir": str(runtime_dir)}}
    for key, value in sections.items():
        config[key] = value
    return config


@contextlib.asynccontextmanager
async def zmq_host(runtime_dir: Path, **sections: Any) -> AsyncIterator[Any]:
    """A started host with the zmq adapter and ``sections`` of configuration."""
    from plugyard.adapters.zmq import adapter
    from plugyard.host.testing import run_host

    async with run_host(config=host_config(runtime_dir, **sections), adapters=[adapter]) as host:
        yield host


def pytest_configure(config: pytest.Config) -> None:
    sys.path.insert(0, str(Path(__file__).parent))


async def wait_until(predicate: Any, timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``predicate()`` until it returns something truthy; fail after ``timeout``."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a test plugin wrote so far (none if the file does not exist yet); a
    last line still being written (no newline yet) is left for the next read."""
    import json

    if not path.exists():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def event_topics(path: Path) -> list[str]:
    """The topics a Recorder plugin wrote."""
    return [line["topic"] for line in read_lines(path) if "topic" in line]


async def zcall(host: Any, command: str, /, **props: Any) -> dict[str, Any]:
    """Run a command over the host's ZMQ command socket (from a thread, not the host's loop)."""
    import asyncio

    from plugyard.adapters.zmq import HostClient

    def call() -> dict[str, Any]:
        with HostClient.from_facts(ZmqService.of(host).advertisement(), timeout=5) as client:
            return client.call(command, **props)

    return await asyncio.to_thread(call)
