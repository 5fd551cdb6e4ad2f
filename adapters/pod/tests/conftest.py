"""Fixtures for the pod adapter's tests: a fresh SQLite pod, and a host with the adapter."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """A fresh store: a SQLite file, or a PostgreSQL schema of its own (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pod.db'}", None
        return
    from plugyard.sdk.testing import require_service

    require_service("postgresql")
    import sqlalchemy

    schema = f"podtest_{uuid.uuid4().hex[:12]}"
    yield POSTGRESQL, schema
    engine = sqlalchemy.create_engine(POSTGRESQL)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def pod(store_url: tuple[str, str | None]) -> Iterator[Any]:
    """A Pod on a fresh store (SQLite, then PostgreSQL: the same tests run on both), owner
    scope."""
    from plugyard.adapters.pod import Pod, Store

    url, schema = store_url
    store = Store(url, schema=schema)
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
