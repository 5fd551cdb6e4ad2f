"""The ``mock_ctx`` fixture comes with the SDK's pytest plugin: no conftest import needed."""

from __future__ import annotations

from typing import Any

import pytest

from plugyard.sdk.lifecycle import ctx


@pytest.mark.parametrize("mock_ctx", [{"properties": {"port": 8000}}], indirect=True)
def test_mock_ctx_is_the_current_ctx(mock_ctx: Any) -> None:
    assert ctx.node.properties["port"] == 8000
    ctx.instance.runtime_properties["url"] = "http://localhost:8000"
    assert mock_ctx.instance.runtime_properties["url"] == "http://localhost:8000"
