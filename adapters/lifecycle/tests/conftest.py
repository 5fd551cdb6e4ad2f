"""Shared helpers for the lifecycle adapter's tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plugyard.sdk.lifecycle.testing import mock_ctx

__all__ = ["mock_ctx"]

HERE = Path(__file__).parent
BLUEPRINTS = HERE / "blueprints"
PLUGINS = BLUEPRINTS / "plugins"


@pytest.fixture
def calls() -> Iterator[list[tuple[str, str, float]]]:
    """What the test plugin's operations ran, in order (cleared for each test)."""
    import sys

    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))
    from lc_testplugin import ops

    ops.CALLS.clear()
    yield ops.CALLS
    ops.CALLS.clear()


@pytest.fixture
def write_blueprint(tmp_path: Path) -> Callable[[str], Path]:
    """Write a blueprint (dedented YAML) whose ``test`` plugin is the tests' plugin package."""

    def write(text: str, name: str = "blueprint.yaml") -> Path:
        header = f"plugins:\n  test:\n    package: lc_testplugin\n    source: {PLUGINS}\n"
        body = textwrap.dedent(text)
        if "plugins:" not in body:
            body = header + body
        path = tmp_path / name
        path.write_text(body)
        return path

    return write
