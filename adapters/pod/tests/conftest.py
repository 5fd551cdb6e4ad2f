"""Fixtures for the pod adapter's tests: a fresh SQLite pod, and a host with the adapter."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[Any]:
    """A Pod on a fresh SQLite file, owner scope."""
    from plugyard.adapters.pod import Pod, Store

    store = Store(f"sqlite:///{tmp_path / 'pod.db'}")
    store.create()
    yield Pod(store)
    store.close()


@pytest.fixture
async def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A started host with the pod adapter on a fresh SQLite file; subprocesses find fixtures."""
    from plugyard.adapters.pod import adapter
    from plugyard.host.testing import run_host

    monkeypatch.setenv("PYTHONPATH", str(HERE))
    config = {
        "host": {"runtime_dir": str(tmp_path / "run"), "name": "podtest"},
        "pod": {"database": f"sqlite:///{tmp_path / 'pod.db'}", "abort_grace": 2.0},
    }
    async with run_host(adapters={"pod": adapter}, config=config) as started:
        yield started
