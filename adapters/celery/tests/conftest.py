from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PLUGINS = Path(__file__).parent / "plugins"
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))


def host_config(state: Path, **celery: Any) -> dict[str, Any]:
    """A host configuration whose runtime folder (and so the embedded broker) is ``state``."""
    return {
        "host": {"runtime_dir": str(state), "shutdown_timeout": 5},
        "celery": {"cancel_timeout": 2.0, **celery},
        "plugins": {"sample": {"use": "celery_sample:SamplePlugin"}},
    }


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One host per module with the sample plugin and an embedded worker (2 threads)."""
    from plugyard.adapters.celery import adapter
    from plugyard.host.testing import HostRunner

    state = tmp_path_factory.mktemp("state")
    with HostRunner(config=host_config(state), adapters=[adapter]) as runner:
        yield runner
