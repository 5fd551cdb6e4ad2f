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
    from plugyard.sdk.testing import run_host

    async with run_host(config=host_config(runtime_dir, **sections), adapters=[adapter]) as host:
        yield host


def pytest_configure(config: pytest.Config) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
