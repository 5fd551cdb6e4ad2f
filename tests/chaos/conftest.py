"""The ``chaos`` fixture: a project for a real host, stopped and removed after the test."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _chaos import HELPERS, ChaosHost


@pytest.fixture
def chaos(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChaosHost]:
    """A chaos project in a short folder (ipc:// paths stay under 107 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="cz-"))
    monkeypatch.syspath_prepend(str(HELPERS))
    host = ChaosHost(folder)
    try:
        yield host
    finally:
        try:
            host.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
